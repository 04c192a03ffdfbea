#ifndef TESTING_SERVER_WAITS_H_
#define TESTING_SERVER_WAITS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control.pb.h"
#include "server/log/message_log.h"
#include "testing/harness.h"

namespace fake_tcp::testing {

// Waits on a harness's log, as assertion results. Each counts what arrived
// before it was called, and on failure says what was actually received (text,
// or hex for binary bytes) and marks the transcript. Every wait takes an
// optional timeout; without one it waits the fixture's
// FixtureOptions::wait_timeout.
//
// Out of process, the waits that the control API can express (messages,
// connections, a connection's close) block on the child itself (POST /v1/wait),
// then until the test's mirror of the log holds everything the child had
// logged by then, so log() agrees with what the wait saw. The waits that take
// C++ (a gMock matcher, the next connection after an id) block on the mirror,
// which the child's event stream feeds as events happen. None polls. (After
// the child stopped, and for waits longer than the API's 10 minutes, every wait
// is the mirror's.)
//
//   uint64_t id;
//   ASSERT_TRUE(WaitForNextConnection(&id));
//   ASSERT_TRUE(WaitForMessage("PING"));
//   EXPECT_TRUE(WaitForClientClose(id, absl::Seconds(1)));
class ServerWaits {
 public:
  // std::nullopt: the fixture's wait_timeout.
  using Timeout = std::optional<absl::Duration>;

  explicit ServerWaits(Harness* harness = nullptr) : harness_(harness) {}

  // At least `count` messages received.
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForMessages(
      uint64_t count, Timeout timeout = std::nullopt) const;
  // A received message whose bytes match `matcher` (e.g. "GET k",
  // HasSubstr("k")).
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForMessage(
      const ::testing::Matcher<const std::string&>& matcher,
      Timeout timeout = std::nullopt) const;
  // At least `count` connections accepted.
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForConnections(
      uint64_t count, Timeout timeout = std::nullopt) const;
  // The next connection accepted: the first after the one this wait last
  // handed back (the test's first connection, the first time). Sets `*id` to
  // its id, for Send() and the waits below, so tests need not guess ids.
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForNextConnection(
      uint64_t* id, Timeout timeout = std::nullopt);
  // The client closed connection `connection_id` with a FIN: close() or
  // shutdown(SHUT_WR). At the FIN, TCP cannot tell a close from a half-close
  // (the server then finishes its replies and closes), so this is also the
  // wait for a client's half-close.
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForClientClose(
      uint64_t connection_id, Timeout timeout = std::nullopt) const;
  // The client reset connection `connection_id` (RST).
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForClientReset(
      uint64_t connection_id, Timeout timeout = std::nullopt) const;
  // Connection `connection_id` ended, by either side, for any reason.
  ABSL_MUST_USE_RESULT ::testing::AssertionResult WaitForConnectionClosed(
      uint64_t connection_id, Timeout timeout = std::nullopt) const;
  // log() holds everything the server has logged so far: at once in process;
  // out of process, once the mirror has caught up with the child. For reading
  // log() after something the test did not wait for (a reply it received).
  ABSL_MUST_USE_RESULT ::testing::AssertionResult SyncLog(
      Timeout timeout = std::nullopt) const;

 protected:
  void set_waits_harness(Harness* harness) { harness_ = harness; }

 private:
  absl::Duration Or(Timeout timeout) const;
  ::testing::AssertionResult Result(const absl::Status& status,
                                    const std::string& what) const;
  ::testing::AssertionResult WaitForEventOn(uint64_t connection_id,
                                            EventType type,
                                            const std::string& what,
                                            Timeout timeout) const;
  // Out of process: blocks on the child until `request` holds or `timeout`
  // passes, then until the mirror holds what the child had logged. Returns OK,
  // or the failure to report, worded as the log's own waits word it
  // ("waited 1s for <log_what>; <summary>"). In process: OK at once.
  absl::Status OnServer(control::WaitRequest request, absl::Duration timeout,
                        absl::string_view log_what) const;
  // OnServer, then (if it held) `on_mirror`: the result for the wait `what`.
  ::testing::AssertionResult OnServerThenMirror(
      const control::WaitRequest& request, absl::Duration timeout,
      absl::string_view log_what, const std::string& what,
      const std::function<absl::Status()>& on_mirror) const;

  // Not owned.
  Harness* harness_;
  // The id WaitForNextConnection last handed back; 0 before.
  uint64_t last_connection_ = 0;
};

}  // namespace fake_tcp::testing

#endif  // TESTING_SERVER_WAITS_H_
