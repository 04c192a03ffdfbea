// A test binary that fails on purpose: transcript_on_failure_test runs it and
// checks that the failed test left its transcript. Not a test itself.

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_tcp_server.h"

namespace {

class FailingTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.server.port = 0;
    return o;
  }
};

TEST_F(FailingTest, WaitsForAMessageThatNeverComes) {
  EXPECT_TRUE(WaitForMessage("never sent", absl::Milliseconds(50)));
}

TEST_F(FailingTest, Passes) { EXPECT_TRUE(WaitForConnections(0)); }

}  // namespace
