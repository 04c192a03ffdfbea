#include "greeter/greeter.h"

#include "testing/fake_tcp_server.h"

namespace {

using ::fake_tcp::testing::ReceivedMessagesAre;
using ::testing::ElementsAre;

// The fake speaks the greeter's line protocol from a script.
class GreeterTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;  // 127.0.0.1:9500
    o.server.framing = fake_tcp::Framing::Delimiter("\n");
    fake_tcp::Script script;
    *script.add_rules() =
        fake_tcp::script::When(fake_tcp::script::Regex("HELLO (\\w+)"),
                               fake_tcp::script::Rewrite("HI \\1\n"), "hello");
    o.script = script;
    return o;
  }
};

TEST_F(GreeterTest, GreetsAndTheFakeSawTheRequest) {
  EXPECT_EQ(greeter::Greet("world"), "HI world");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("HELLO world")));
}

// The same fake as a child process: the standalone server from
// @fake_tcp_server's runfiles.
class GreeterOutOfProcessTest : public GreeterTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o = GreeterTest::Options();
    o.out_of_process = true;
    return o;
  }
};

TEST_F(GreeterOutOfProcessTest, GreetsThroughTheStandaloneServer) {
  EXPECT_EQ(greeter::Greet("child"), "HI child");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("HELLO child")));
}

}  // namespace
