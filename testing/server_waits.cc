#include "testing/server_waits.h"

#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fake_tcp::testing {

absl::Duration ServerWaits::Or(Timeout timeout) const {
  return timeout.value_or(harness_->options().wait_timeout);
}

::testing::AssertionResult ServerWaits::Result(const absl::Status& status,
                                               const std::string& what) const {
  if (status.ok()) return ::testing::AssertionSuccess();
  harness_->RecordFailedWait(
      FailedWait{absl::Now(), what, std::string(status.message())});
  return ::testing::AssertionFailure()
         << "fake server: wait for " << what << " failed: " << status.message();
}

::testing::AssertionResult ServerWaits::WaitForMessages(uint64_t count,
                                                        Timeout timeout) const {
  return Result(harness_->log().WaitForMessages(count, Or(timeout)),
                absl::StrCat(count, count == 1 ? " message" : " messages"));
}

::testing::AssertionResult ServerWaits::WaitForMessage(
    const ::testing::Matcher<const std::string&>& matcher,
    Timeout timeout) const {
  std::stringstream description;
  matcher.DescribeTo(&description);
  return Result(
      harness_->log()
          .WaitForMessage(
              [&matcher](const Event& e) { return matcher.Matches(e.bytes); },
              Or(timeout))
          .status(),
      absl::StrCat("a message that ", description.str()));
}

::testing::AssertionResult ServerWaits::WaitForConnections(
    uint64_t count, Timeout timeout) const {
  return Result(
      harness_->log().WaitForConnections(count, Or(timeout)),
      absl::StrCat(count, count == 1 ? " connection" : " connections"));
}

::testing::AssertionResult ServerWaits::WaitForNextConnection(uint64_t* id,
                                                              Timeout timeout) {
  const uint64_t after = last_connection_;
  absl::StatusOr<Event> accepted = harness_->log().WaitForEvent(
      [after](const Event& e) {
        return e.type == EventType::kAccepted && e.connection_id > after;
      },
      Or(timeout));
  if (!accepted.ok()) {
    return Result(accepted.status(),
                  after == 0 ? std::string("a connection")
                             : absl::StrCat("a connection after ", after));
  }
  last_connection_ = accepted->connection_id;
  *id = accepted->connection_id;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ServerWaits::WaitForEventOn(uint64_t connection_id,
                                                       EventType type,
                                                       const std::string& what,
                                                       Timeout timeout) const {
  absl::StatusOr<Event> closed = harness_->log().WaitForEvent(
      [connection_id](const Event& e) {
        return e.connection_id == connection_id && IsCloseEvent(e.type);
      },
      Or(timeout));
  if (!closed.ok()) return Result(closed.status(), what);
  if (closed->type != type) {
    return Result(absl::FailedPreconditionError(absl::StrCat(
                      "connection ", connection_id, " ended otherwise: ",
                      closed->ToString(harness_->log().origin()))),
                  what);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ServerWaits::WaitForClientClose(
    uint64_t connection_id, Timeout timeout) const {
  return WaitForEventOn(
      connection_id, EventType::kPeerClosed,
      absl::StrCat("the client to close connection ", connection_id), timeout);
}

::testing::AssertionResult ServerWaits::WaitForClientReset(
    uint64_t connection_id, Timeout timeout) const {
  return WaitForEventOn(
      connection_id, EventType::kReset,
      absl::StrCat("the client to reset connection ", connection_id), timeout);
}

::testing::AssertionResult ServerWaits::WaitForConnectionClosed(
    uint64_t connection_id, Timeout timeout) const {
  return Result(
      harness_->log().WaitForConnectionClosed(connection_id, Or(timeout)),
      absl::StrCat("connection ", connection_id, " to close"));
}

}  // namespace fake_tcp::testing
