// The shared server: one fake for the whole binary, reset before each test.

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_tcp_server.h"

namespace fake_tcp::testing {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(30);

FixtureOptions SharedOptions() {
  FixtureOptions o;
  o.server.port = 0;
  o.server.framing = Framing::Delimiter("\n");
  o.server.reply = "OK\n";
  return o;
}

SharedFakeTcpServer* const kShared =
    RegisterSharedFakeTcpServer(SharedOptions());

class SharedTest : public SharedFakeTcpServerTest {
 protected:
  std::string Ask(const std::string& line) {
    absl::StatusOr<TcpClient> c = TcpClient::Connect(address(), kTimeout);
    if (!c.ok()) return c.status().ToString();
    if (absl::Status s = c->SendAll(line, kTimeout); !s.ok())
      return s.ToString();
    absl::StatusOr<std::string> r = c->ReceiveUntil("\n", kTimeout);
    return r.ok() ? *r : r.status().ToString();
  }
};

// These tests change the server; each must still start from a clean one.
TEST_F(SharedTest, A_ChangesTheResponderAndPausesAccepting) {
  EXPECT_EQ(SharedFakeTcpServer::Get(), kShared);
  ASSERT_TRUE(
      server()
          ->SetResponder([](const ReceivedMessage&) -> std::optional<Reply> {
            return Reply("changed\n");
          })
          .ok());
  EXPECT_EQ(Ask("x\n"), "changed\n");
  ASSERT_TRUE(WaitForMessages(1));
  ASSERT_TRUE(server()->PauseAccepting().ok());
}

TEST_F(SharedTest, B_StartsWithACleanLogAndTheDefaultReply) {
  EXPECT_TRUE(log().Events().empty());
  EXPECT_EQ(server()->state(), ListenerState::kAccepting);
  EXPECT_EQ(Ask("y\n"), "OK\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log().ReceivedMessages(), ElementsAre("y"));
}

TEST_F(SharedTest, C_AgainClean) {
  EXPECT_EQ(log().counts().received, 0u);
  EXPECT_EQ(Ask("z\n"), "OK\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log().ReceivedMessages(), ElementsAre("z"));
}

}  // namespace
}  // namespace fake_tcp::testing
