// Runs //tools:send and //tools/bench:load as a user would, as child processes
// against the standalone fake: exit codes, framing, a stream that ends early.

#include <signal.h>

#include <fstream>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/testing/test_util.h"
#include "tools/tool_test.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::Runfile;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = kToolTimeout;

TEST_F(ToolTest, SendExitCodes) {
  std::string err;
  // Refused.
  ServerOptions o;
  o.port = 0;
  FakeTcpServer gone(o);
  ASSERT_TRUE(gone.Start().ok());
  const std::string closed_address = gone.address();
  gone.Stop();
  EXPECT_EQ(Run({send_binary_, "--address=" + closed_address, "--data=x"},
                nullptr, &err),
            3)
      << err;
  // Timed out: the server never answers.
  StartServer({"--no_reply"});
  EXPECT_EQ(Run({send_binary_, "--address=" + address_, "--data=x",
                 "--wait=bytes:1", "--timeout=200ms"},
                nullptr, &err),
            4)
      << err;
  // Invalid arguments.
  EXPECT_EQ(Run({send_binary_, "--wait=sometimes"}, nullptr, &err), 2);
  EXPECT_EQ(Run({send_binary_, "--nope"}, nullptr, &err), 2);
  EXPECT_THAT(err, HasSubstr("unknown flag --nope"));
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
}

TEST_F(ToolTest, SendReportsAStreamThatEndsEarly) {
  const std::string script = dir_ + "/close.textproto";
  std::ofstream(script)
      << "rules { when { any: true } fault { action: CLOSE_WITHOUT_REPLY } }";
  StartServer({"--script=" + script});
  std::string err;
  EXPECT_EQ(
      Run({send_binary_, "--address=" + address_, "--data=x", "--wait=bytes:8"},
          nullptr, &err),
      5)
      << err;
  EXPECT_THAT(err, HasSubstr("end of stream"));
  // Framing: the sender encodes a length header; the server decodes it.
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  StartServer({"--framing=length:2"});
  std::string out;
  EXPECT_EQ(Run({send_binary_, "--address=" + address_, "--data=hello",
                 "--framing=length:2", "--wait=bytes:8"},
                &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "Received");
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(server_->Stdout(), HasSubstr("received 5 bytes \"hello\""));
}

TEST_F(ToolTest, LoadToolRunsBothTargetsAndStops) {
  absl::StatusOr<std::string> load =
      Runfile("fake_tcp_server/tools/bench/load");
  ASSERT_TRUE(load.ok());
  std::string out, err;
  for (const char* mode : {"--mode=persistent", "--mode=oneshot"}) {
    EXPECT_EQ(Run({*load, mode, "--clients=2", "--duration=300ms"}, &out, &err),
              0)
        << err;
    EXPECT_THAT(out, HasSubstr("fake_tcp_server (logging everything)"));
    EXPECT_THAT(out, HasSubstr("bare epoll server (records nothing)"));
    EXPECT_THAT(out, HasSubstr("ratio fake / bare"));
    EXPECT_THAT(out, HasSubstr("latency p50"));
    EXPECT_THAT(out, Not(HasSubstr(" 0 messages/s")));
  }
  EXPECT_EQ(Run({*load, "--clients=1000"}, &out, &err), 2);
}

}  // namespace
}  // namespace fake_tcp
