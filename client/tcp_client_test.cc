#include "client/tcp_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);
constexpr absl::Duration kShort = absl::Milliseconds(200);

// A fake that reads everything and never answers.
std::unique_ptr<FakeTcpServer> SilentServer() {
  ServerOptions options;
  options.port = 0;
  options.reply = std::nullopt;
  auto server = std::make_unique<FakeTcpServer>(options);
  EXPECT_TRUE(server->Start().ok());
  return server;
}

// A listening socket whose backlog is full, so further connects are never
// answered.
class NeverAccepts {
 public:
  NeverAccepts() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    address_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  }
  ~NeverAccepts() { close(fd_); }
  const std::string& address() const { return address_; }

 private:
  int fd_ = -1;
  std::string address_;
};

TEST(TcpClientTest, ConnectToAPortThatNeverAcceptsHitsTheDeadline) {
  NeverAccepts listener;
  std::vector<TcpClient> queued;  // fill the accept queue
  absl::Status last;
  for (int i = 0; i < 8 && last.ok(); ++i) {
    absl::StatusOr<TcpClient> c =
        TcpClient::Connect(listener.address(), kShort);
    if (c.ok()) {
      queued.push_back(*std::move(c));
    } else {
      last = c.status();
    }
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kDeadlineExceeded) << last;
  EXPECT_THAT(std::string(last.message()), HasSubstr(listener.address()));
}

TEST(TcpClientTest, RefusedIsUnavailableNamingThePeer) {
  auto server = SilentServer();
  const std::string address = server->address();
  server->Stop();
  absl::StatusOr<TcpClient> c = TcpClient::Connect(address, kTimeout);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(
      std::string(c.status().message()),
      HasSubstr(absl::StrCat("connect ", address, ": Connection refused")));
}

TEST(TcpClientTest, BadAddressesAreInvalidArgument) {
  EXPECT_EQ(TcpClient::Connect("no-port", kShort).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TcpClient::Connect("127.0.0.1:99999", kShort).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      TcpClient::Connect("no-such-host.invalid:1", kShort).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(TcpClientTest, EveryReceiveHitsItsDeadlineOnASilentPeer) {
  auto server = SilentServer();
  absl::StatusOr<TcpClient> c = TcpClient::Connect(server->address(), kTimeout);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("hello?", kTimeout).ok());
  const absl::Time start = absl::Now();
  EXPECT_EQ(c->ReceiveExactly(1, kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, kShort);
  EXPECT_EQ(c->ReceiveUntil("\n", kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(c->ReceiveAvailable(kShort).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(c->ReceiveEof(kShort).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TcpClientTest, SendAllHitsItsDeadlineWhenThePeerStopsReading) {
  ServerOptions options;
  options.port = 0;
  options.framing = Framing::Delimiter("\n");
  options.max_pending_output = 1;
  // The first message asks for a reply the client never reads, so the server
  // stops reading, and the client's sends back up.
  options.responder = [](const ReceivedMessage&) -> std::optional<std::string> {
    return std::string(size_t{64} << 20, 'r');
  };
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<TcpClient> c = TcpClient::Connect(server.address(), kTimeout);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->SendAll("go\n", kTimeout).ok());
  const absl::Status s = c->SendAll(std::string(size_t{64} << 20, 'x'), kShort);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("bytes sent"));
}

TEST(TcpClientTest, ReceiveVariantsAndEndOfStream) {
  ServerOptions options;
  options.port = 0;
  options.reply = "line one\nline two\nrest";
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<TcpClient> c = TcpClient::Connect(server.address(), kTimeout);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->SendAll("x", kTimeout).ok());
  EXPECT_EQ(*c->ReceiveUntil("\n", kTimeout), "line one\n");
  EXPECT_EQ(*c->ReceiveExactly(5, kTimeout), "line ");
  EXPECT_EQ(*c->ReceiveUntil("\n", kTimeout), "two\n");
  EXPECT_EQ(*c->ReceiveExactly(4, kTimeout), "rest");
  ASSERT_TRUE(c->ShutdownWrite().ok());
  // The server closes after our FIN; more bytes are not coming.
  const absl::StatusOr<std::string> more = c->ReceiveExactly(1, kTimeout);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(more.status().message()), HasSubstr("end of stream"));
}

TEST(TcpClientTest, UseAfterCloseIsFailedPrecondition) {
  auto server = SilentServer();
  absl::StatusOr<TcpClient> c = TcpClient::Connect(server->address(), kTimeout);
  ASSERT_TRUE(c.ok());
  c->Close();
  EXPECT_FALSE(c->connected());
  EXPECT_EQ(c->SendAll("x", kShort).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->ShutdownWrite().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fake_tcp
