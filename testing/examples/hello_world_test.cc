// The original scenario: the code under test connects to 127.0.0.1:9500, sends
// "Hello, world" and expects "Received". The fake replaces the hand-written
// one.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_tcp_server.h"

namespace {

using ::fake_tcp::testing::ReceivedMessagesAre;
using ::testing::ElementsAre;

// The code under test, as such code is often written: plain sockets, a fixed
// port.
std::string SendHelloWorld() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(9500);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  const std::string hello = "Hello, world";
  send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
  char reply[64];
  const ssize_t n = recv(fd, reply, sizeof(reply), 0);
  close(fd);
  return n > 0 ? std::string(reply, n) : "no reply";
}

class HelloWorldTest : public fake_tcp::testing::FakeTcpServerTest {};

TEST_F(HelloWorldTest, SendsHelloWorldAndGetsReceived) {
  EXPECT_EQ(SendHelloWorld(), "Received");  // the code under test, to :9500
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("Hello, world")));
}

// The same test with the fake in another process.
class HelloWorldOutOfProcessTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.out_of_process = true;
    return o;
  }
};

TEST_F(HelloWorldOutOfProcessTest, SendsHelloWorldAndGetsReceived) {
  EXPECT_EQ(SendHelloWorld(), "Received");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("Hello, world")));
}

}  // namespace
