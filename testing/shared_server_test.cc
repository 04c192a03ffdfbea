// The shared server: one fake for the whole binary, reset before each test.
// Built twice: in process, and (shared_server_out_of_process_test, with
// FAKE_TCP_SHARED_OUT_OF_PROCESS=1) with the fake as a child process; the same
// tests pass in both.

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control.pb.h"
#include "testing/fake_tcp_server.h"

namespace fake_tcp::testing {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(30);

#ifndef FAKE_TCP_SHARED_OUT_OF_PROCESS
#define FAKE_TCP_SHARED_OUT_OF_PROCESS 0
#endif

#if FAKE_TCP_SHARED_OUT_OF_PROCESS
// Options that ask for a child from the start, so the options below (as
// testing/README.md shows them) stay as they are.
struct FixtureOptions : ::fake_tcp::testing::FixtureOptions {
  FixtureOptions() { out_of_process = true; }
};
#endif

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
TEST_F(SharedTest, A_ChangesTheReplyAndPausesAccepting) {
  EXPECT_EQ(SharedFakeTcpServer::Get(), kShared);
  // In process there is a C++ server; out of process there is a child.
  EXPECT_EQ(server() == nullptr, FAKE_TCP_SHARED_OUT_OF_PROCESS == 1);
  ASSERT_TRUE(control().SetReply("changed\n").ok());
  EXPECT_EQ(Ask("x\n"), "changed\n");
  ASSERT_TRUE(WaitForMessages(1));
  ASSERT_TRUE(control().PauseAccepting().ok());
}

TEST_F(SharedTest, B_StartsWithACleanLogAndTheDefaultReply) {
  EXPECT_TRUE(log().Events().empty());
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->listener(), "accepting");
  EXPECT_EQ(status->log().received(), 0u);
  EXPECT_EQ(Ask("y\n"), "OK\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log().ReceivedMessages(), ElementsAre("y"));
}

TEST_F(SharedTest, C_AgainCleanAfterAConnectionLeftOpen) {
  EXPECT_EQ(log().counts().received, 0u);
  // Left open on purpose: the next reset closes it.
  static absl::StatusOr<TcpClient>* const left_open =
      new absl::StatusOr<TcpClient>(TcpClient::Connect(address(), kTimeout));
  ASSERT_TRUE(left_open->ok());
  EXPECT_EQ(Ask("z\n"), "OK\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log().ReceivedMessages(), ElementsAre("z"));
}

TEST_F(SharedTest, D_StartsWithNoConnectionOpen) {
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->connections_size(), 0);
  EXPECT_THAT(log().Events(), ::testing::IsEmpty());
}

TEST_F(SharedTest, E_HasTheSameAccessorsAsTheEnvironment) {
  EXPECT_GT(port(), 0);
  EXPECT_EQ(port(), kShared->port());
  EXPECT_EQ(address(), kShared->address());
  EXPECT_EQ(address(), absl::StrCat("127.0.0.1:", port()));
  EXPECT_FALSE(health_address().empty());
  EXPECT_EQ(health_address(), kShared->health_address());
  EXPECT_NE(health_address(), address());
  EXPECT_EQ(tls_ca_file(), "");  // no TLS in these options
  EXPECT_EQ(tls_ca_file(), kShared->tls_ca_file());
}

}  // namespace
}  // namespace fake_tcp::testing
