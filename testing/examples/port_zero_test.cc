// For places without a network namespace per test (no fake_tcp_server_test()
// macro, or --sandbox_default_allow_network=true): the fake picks a free port
// and the code under test is given address().

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/examples/kv_client.h"
#include "testing/fake_tcp_server.h"

namespace {

using ::fake_tcp::testing::ReceivedMessagesAre;
using ::testing::ElementsAre;

class PortZeroTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.server.port = 0;
    o.server.framing = fake_tcp::Framing::Delimiter("\n");
    o.server.reply = "OK\n";
    return o;
  }
};

TEST_F(PortZeroTest, ClientUsesTheChosenAddress) {
  kv::KvClientOptions options;
  options.address = address();  // "127.0.0.1:<free port>"
  kv::KvClient client(options);
  ASSERT_TRUE(client.Set("k", "v").ok());
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("SET k v")));
}

TEST_F(PortZeroTest, EachTestGetsItsOwnPort) {
  EXPECT_NE(port(), 0);
  EXPECT_NE(port(), 9500);
}

}  // namespace
