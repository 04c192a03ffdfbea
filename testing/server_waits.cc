#include "testing/server_waits.h"

#include <algorithm>
#include <functional>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fake_tcp::testing {
namespace {
// The control API's longest wait (ControlServiceOptions::max_wait).
constexpr absl::Duration kLongestServerWait = absl::Minutes(10);
}  // namespace

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

absl::Status ServerWaits::OnServer(control::WaitRequest request,
                                   absl::Duration timeout,
                                   absl::string_view log_what) const {
  // In process, or once the child stopped (the mirror then says what it saw),
  // or past the longest wait the API holds: the mirror's own wait answers.
  if (!harness_->options().out_of_process || harness_->log().finished() ||
      timeout > kLongestServerWait) {
    return absl::OkStatus();
  }
  timeout = std::max(timeout, absl::ZeroDuration());
  const int64_t nanos = absl::ToInt64Nanoseconds(timeout);
  request.mutable_timeout()->set_seconds(nanos / 1000000000);
  request.mutable_timeout()->set_nanos(
      static_cast<int32_t>(nanos % 1000000000));
  absl::StatusOr<control::WaitResult> result =
      harness_->control().Wait(request);
  if (!result.ok()) return result.status();
  const MessageLog& mirror = harness_->log();
  if (absl::Status s = AwaitMirror(
          mirror, result->seen().last_sequence(),
          harness_->options().wait_timeout,
          absl::StrCat("the child's wait for ", log_what, " ended (",
                       result->satisfied() ? "satisfied" : "not satisfied",
                       ")"));
      !s.ok()) {
    return s;
  }
  if (result->satisfied()) return absl::OkStatus();
  if (!result->ended().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the server stopped before ", log_what, "; ", mirror.Summary()));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("waited ", absl::FormatDuration(timeout), " for ", log_what,
                   "; ", mirror.Summary()));
}

::testing::AssertionResult ServerWaits::OnServerThenMirror(
    const control::WaitRequest& request, absl::Duration timeout,
    absl::string_view log_what, const std::string& what,
    const std::function<absl::Status()>& on_mirror) const {
  if (absl::Status s = OnServer(request, timeout, log_what); !s.ok()) {
    return Result(s, what);
  }
  return Result(on_mirror(), what);
}

::testing::AssertionResult ServerWaits::WaitForMessages(uint64_t count,
                                                        Timeout timeout) const {
  control::WaitRequest request;
  request.set_messages(count);
  return OnServerThenMirror(
      request, Or(timeout), absl::StrCat(count, " messages"),
      absl::StrCat(count, count == 1 ? " message" : " messages"),
      [&] { return harness_->log().WaitForMessages(count, Or(timeout)); });
}

::testing::AssertionResult ServerWaits::SyncLog(Timeout timeout) const {
  if (!harness_->options().out_of_process) return ::testing::AssertionSuccess();
  absl::StatusOr<control::Status> status = harness_->control().Status();
  if (!status.ok()) return Result(status.status(), "the log to catch up");
  return Result(AwaitMirror(harness_->log(), status->log().last_sequence(),
                            Or(timeout), "sync the log"),
                "the log to catch up");
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
  control::WaitRequest request;
  request.set_connections(count);
  return OnServerThenMirror(
      request, Or(timeout), absl::StrCat(count, " connections"),
      absl::StrCat(count, count == 1 ? " connection" : " connections"),
      [&] { return harness_->log().WaitForConnections(count, Or(timeout)); });
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
  control::WaitRequest request;
  request.set_closed(true);
  request.set_connection(connection_id);
  if (absl::Status s = OnServer(request, Or(timeout), "a matching event");
      !s.ok()) {
    return Result(s, what);
  }
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
  const std::string what =
      absl::StrCat("connection ", connection_id, " to close");
  control::WaitRequest request;
  request.set_closed(true);
  request.set_connection(connection_id);
  return OnServerThenMirror(request, Or(timeout), what, what, [&] {
    return harness_->log().WaitForConnectionClosed(connection_id, Or(timeout));
  });
}

}  // namespace fake_tcp::testing
