// The event-driven load generator on small numbers against a real fake: its
// counts agree with the server's log, failures are errors, latency includes
// the server's delay, and a descriptor limit too low is said clearly.

#include "tools/bench/event_load.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

ServerOptions Options() {
  ServerOptions options;
  options.port = 0;
  return options;
}

TEST(EventLoadTest, CountsAgreeWithTheServersLog) {
  FakeTcpServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  EventLoadOptions load;
  load.connections = 50;
  load.threads = 3;
  load.duration = kTimeout;
  load.max_messages = 1000;
  absl::StatusOr<EventLoadResult> r = EventLoad(server.address(), load);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->answered, 50);
  EXPECT_EQ(r->storm_errors, 0u);
  EXPECT_EQ(r->exchange.messages, 1000u);
  EXPECT_EQ(r->exchange.errors, 0u);
  EXPECT_EQ(r->exchange.samples.size(), 1000u);
  EXPECT_GT(r->exchange.per_second, 0);
  EXPECT_LE(r->exchange.p50, r->exchange.p99);
  // One message per connection in the storm, then the exchanges; all closed.
  ASSERT_TRUE(server.log().WaitForMessages(1050, kTimeout).ok());
  EXPECT_EQ(server.log().counts().received, 1050u);
  EXPECT_EQ(server.log().counts().accepted, 50u);
  server.Stop();
}

TEST(EventLoadTest, IdleRunsWithEveryConnectionOpen) {
  FakeTcpServer server(Options());
  ASSERT_TRUE(server.Start().ok());
  EventLoadOptions load;
  load.connections = 20;
  load.duration = absl::ZeroDuration();  // the storm only
  uint64_t open_when_idle = 0;
  absl::StatusOr<EventLoadResult> r = EventLoad(server.address(), load, [&] {
    open_when_idle = server.log().counts().open;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(open_when_idle, 20u);
  EXPECT_EQ(r->exchange.messages, 0u);
}

TEST(EventLoadTest, SilenceAndRefusalAreErrors) {
  ServerOptions silent = Options();
  silent.reply = std::nullopt;
  FakeTcpServer server(silent);
  ASSERT_TRUE(server.Start().ok());
  EventLoadOptions load;
  load.connections = 5;
  load.duration = absl::ZeroDuration();
  load.timeout = absl::Milliseconds(300);
  absl::StatusOr<EventLoadResult> r = EventLoad(server.address(), load);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->answered, 0);
  EXPECT_EQ(r->storm_errors, 5u);

  const testing::RefusingPort refusing;
  r = EventLoad(refusing.address(), load);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->answered, 0);
  EXPECT_EQ(r->storm_errors, 5u);
}

TEST(EventLoadTest, LatencyIncludesTheServersDelay) {
  ServerOptions slow = Options();
  slow.reply_latency = absl::Milliseconds(50);
  FakeTcpServer server(slow);
  ASSERT_TRUE(server.Start().ok());
  EventLoadOptions load;
  load.connections = 4;
  load.duration = kTimeout;
  load.max_messages = 20;
  absl::StatusOr<EventLoadResult> r = EventLoad(server.address(), load);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exchange.messages, 20u);
  EXPECT_GE(r->exchange.p50, absl::Milliseconds(50));
  EXPECT_GE(r->storm, absl::Milliseconds(50));
}

// Lowers this process's descriptor limits to 100 for good, asks for 200
// connections and exits 0 if that was refused as it should be.
void LoadUnderALowLimit() {
  const rlimit low{100, 100};
  setrlimit(RLIMIT_NOFILE, &low);
  EventLoadOptions many;
  many.connections = 200;
  absl::Status s = EventLoad("127.0.0.1:1", many).status();
  fprintf(stderr, "%s\n", std::string(s.message()).c_str());
  _exit(absl::IsFailedPrecondition(s) ? 0 : 1);
}

TEST(EventLoadTest, BadOptionsAndALowDescriptorLimitAreClearErrors) {
  EventLoadOptions load;
  load.connections = 0;
  EXPECT_EQ(EventLoad("127.0.0.1:1", load).status().code(),
            absl::StatusCode::kInvalidArgument);
  load.connections = 10;
  EXPECT_FALSE(EventLoad("no port", load).ok());
  // In a child, whose hard limit can be lowered for good.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(LoadUnderALowLimit(), ::testing::ExitedWithCode(0),
              "200 connections need 264 descriptors; the hard limit is 100");
}

}  // namespace
}  // namespace fake_tcp
