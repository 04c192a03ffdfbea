// A test binary that fails on purpose: transcript_on_failure_test runs it and
// checks that the failed test left its transcript. Not a test itself.

#include <optional>
#include <string>

#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_tcp_server.h"

namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

class FailingTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.server.port = 0;
    o.server.framing = fake_tcp::Framing::Delimiter("\n");
    o.server.responder = [](const fake_tcp::ReceivedMessage& m)
        -> std::optional<fake_tcp::Reply> {
      fake_tcp::Reply reply(m.bytes == "GET k" ? "VALUE v\n" : "OK\n");
      if (m.bytes == "GET <crash>") reply.then = fake_tcp::Reply::Then::kReset;
      return reply;
    };
    return o;
  }
};

// Two clients talk to the fake; one request gets a reset; the test then waits
// for a message that never comes, and fails.
TEST_F(FailingTest, WaitsForAMessageThatNeverComes) {
  absl::StatusOr<fake_tcp::TcpClient> a =
      fake_tcp::TcpClient::Connect(address(), kTimeout);
  absl::StatusOr<fake_tcp::TcpClient> b =
      fake_tcp::TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(a->SendAll("SET k v\nGET k\n", kTimeout).ok());
  ASSERT_TRUE(a->ReceiveUntil("VALUE v\n", kTimeout).ok());
  ASSERT_TRUE(b->SendAll(std::string("\x01\x02 binary\n", 10), kTimeout).ok());
  ASSERT_TRUE(b->ReceiveUntil("\n", kTimeout).ok());
  ASSERT_TRUE(b->SendAll("GET <crash>\n", kTimeout).ok());
  (void)b->ReceiveEof(kTimeout);
  EXPECT_TRUE(WaitForMessage("never sent", absl::Milliseconds(50)));
}

TEST_F(FailingTest, Passes) { EXPECT_TRUE(WaitForConnections(0)); }

// SetUp fails (a C++ responder cannot reach a child process): the test fails
// cleanly, with a transcript, and the binary does not crash.
class FailingSetUpTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.server.port = 0;
    o.out_of_process = true;
    o.server.responder =
        [](const fake_tcp::ReceivedMessage&) -> std::optional<fake_tcp::Reply> {
      return std::nullopt;
    };
    return o;
  }
};

TEST_F(FailingSetUpTest, NeverRuns) { ADD_FAILURE() << "the body ran"; }

}  // namespace
