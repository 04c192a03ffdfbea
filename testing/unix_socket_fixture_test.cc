// The fixture on a Unix-domain socket, in process and out of process: the same
// test body, the client's pid and uid in the log, health SERVING.

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/server_test_util.h"
#include "server/testing/test_util.h"
#include "testing/fake_tcp_server.h"

namespace fake_tcp::testing {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::string SocketFor(bool out_of_process) {
  return ShortSocketPath(out_of_process ? "child.sock" : "in_process.sock");
}

class UnixSocketFixtureTest : public FakeTcpServerTest,
                              public ::testing::WithParamInterface<bool> {
 protected:
  FixtureOptions Options() const override {
    FixtureOptions o;
    o.out_of_process = GetParam();
    o.server.unix_socket = SocketFor(GetParam());
    o.server.framing = Framing::Delimiter("\n");
    o.server.reply = "+OK\r\n";
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, UnixSocketFixtureTest, ::testing::Bool(),
                         ModeName);

TEST_P(UnixSocketFixtureTest, ServesOnTheSocketAndLogsWhoConnected) {
  EXPECT_EQ(address(), "unix:" + SocketFor(GetParam()));
  EXPECT_EQ(port(), 0);
  absl::StatusOr<HealthStatus> health =
      CheckHealth(health_address(), "fake_tcp_server", kTimeout);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);

  absl::StatusOr<TcpClient> client = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendAll("PING\n", kTimeout).ok());
  absl::StatusOr<std::string> reply = client->ReceiveExactly(5, kTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "+OK\r\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("PING")));
  ASSERT_TRUE(SyncLog());
  const std::vector<Event> accepted = log().EventsOfType(EventType::kAccepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].peer,
            absl::StrCat("unix pid=", getpid(), " uid=", getuid()));
}

}  // namespace
}  // namespace fake_tcp::testing
