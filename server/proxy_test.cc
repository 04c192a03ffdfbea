// FakeTcpServer in proxy mode (ServerOptions::proxy), over real sockets: the
// upstream is another FakeTcpServer.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/net.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::RefusingPort;
using ::fake_tcp::testing::TypesOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

// A line-framed upstream that answers "ECHO <message>\n".
ServerOptions EchoUpstream() {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.responder = [](const ReceivedMessage& m) -> std::optional<Reply> {
    return Reply(absl::StrCat("ECHO ", m.bytes, "\n"));
  };
  return options;
}

ServerOptions ProxyTo(const std::string& upstream) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.proxy = ProxyOptions{};
  options.proxy->upstream = upstream;
  return options;
}

// The detail of the first kUpstream event of connection `id`, waiting for it.
std::string UpstreamDetail(const MessageLog& log, uint64_t id,
                           absl::string_view containing) {
  absl::StatusOr<Event> e = log.WaitForEvent(
      [&](const Event& e) {
        return e.type == EventType::kUpstream && e.connection_id == id &&
               absl::StrContains(e.detail, containing);
      },
      kTimeout);
  return e.ok() ? e->detail : std::string(e.status().message());
}

TEST(ProxyTest, PassesBytesBothWaysAndLogsBothSides) {
  FakeTcpServer upstream(EchoUpstream());
  ASSERT_TRUE(upstream.Start().ok());
  FakeTcpServer proxy(ProxyTo(upstream.address()));
  ASSERT_TRUE(proxy.Start().ok());

  TcpClient client = MustConnect(proxy);
  // Two messages in one write, then a third: framing cuts them for the log,
  // the bytes go on as they came.
  ASSERT_TRUE(client.SendAll("one\ntwo\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 18), "ECHO one\nECHO two\n");
  ASSERT_TRUE(client.SendAll("three\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 11), "ECHO three\n");

  EXPECT_EQ(UpstreamDetail(proxy.log(), 1, "connected"),
            absl::StrCat("connected to ", upstream.address()));
  EXPECT_THAT(proxy.log().ReceivedMessages(),
              ElementsAre("one", "two", "three"));
  EXPECT_THAT(upstream.log().ReceivedMessages(),
              ElementsAre("one", "two", "three"));
  std::string sent;
  for (const Event& e : proxy.log().EventsOfType(EventType::kSent)) {
    sent += e.bytes;
  }
  EXPECT_EQ(sent, "ECHO one\nECHO two\nECHO three\n");
}

TEST(ProxyTest, UpstreamThatSpeaksFirstIsHeard) {
  ServerOptions upstream_options = EchoUpstream();
  upstream_options.greeting = Reply("220 upstream ready\r\n");
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  FakeTcpServer proxy(ProxyTo(upstream.address()));
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  EXPECT_EQ(ReadN(client, 20), "220 upstream ready\r\n");
}

TEST(ProxyTest, ClientHalfCloseIsPassedOnAndTheAnswerStillArrives) {
  FakeTcpServer upstream(EchoUpstream());
  ASSERT_TRUE(upstream.Start().ok());
  FakeTcpServer proxy(ProxyTo(upstream.address()));
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  ASSERT_TRUE(client.SendAll("last\n", kTimeout).ok());
  ASSERT_TRUE(client.ShutdownWrite().ok());
  // The upstream sees the end of stream, answers, then closes; so does the
  // proxy.
  EXPECT_EQ(ReadN(client, 10), "ECHO last\n");
  EXPECT_TRUE(client.ReceiveEof(kTimeout).ok());
  ASSERT_TRUE(proxy.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_EQ(TypesOf(proxy.log(), 1).back(), EventType::kPeerClosed);
  ASSERT_TRUE(upstream.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_EQ(TypesOf(upstream.log(), 1).back(), EventType::kPeerClosed);
}

TEST(ProxyTest, RefusedUpstreamClosesTheClientAndSaysWhy) {
  const RefusingPort refusing;
  const std::string nowhere = refusing.address();
  FakeTcpServer proxy(ProxyTo(nowhere));
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  EXPECT_TRUE(client.ReceiveEof(kTimeout).ok());
  EXPECT_THAT(UpstreamDetail(proxy.log(), 1, "refused"),
              HasSubstr(absl::StrCat("connect ", nowhere,
                                     ": Connection refused; upstream_gone: "
                                     "close")));
  ASSERT_TRUE(proxy.log().WaitForConnectionClosed(1, kTimeout).ok());
  const std::vector<Event> closes =
      proxy.log().EventsOfType(EventType::kServerClosed);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_THAT(closes[0].detail, HasSubstr("upstream gone: connect"));
}

TEST(ProxyTest, UpstreamGoneReplyAnswersLocallyFromThenOn) {
  const RefusingPort refusing;
  ServerOptions options = ProxyTo(refusing.address());
  options.proxy->upstream_gone = ProxyOptions::UpstreamGone::kReply;
  options.reply = "LOCAL\n";
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  // Sent at once, while the connect may still be under way: the client is
  // read only once the upstream answered or failed, so nothing is lost.
  ASSERT_TRUE(client.SendAll("anyone?\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 6), "LOCAL\n");
  EXPECT_THAT(UpstreamDetail(proxy.log(), 1, "refused"),
              HasSubstr("upstream_gone: reply"));
  EXPECT_THAT(proxy.log().ReceivedMessages(), ElementsAre("anyone?"));
}

TEST(ProxyTest, UpstreamClosingMidSessionResetsTheClientWhenAsked) {
  FakeTcpServer upstream(EchoUpstream());
  ASSERT_TRUE(upstream.Start().ok());
  ServerOptions options = ProxyTo(upstream.address());
  options.proxy->upstream_gone = ProxyOptions::UpstreamGone::kReset;
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  ASSERT_TRUE(client.SendAll("hi\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "ECHO hi\n");
  ASSERT_EQ(upstream.DropConnections().value_or(0), 1);
  EXPECT_EQ(client.ReceiveEof(kTimeout).code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(UpstreamDetail(proxy.log(), 1, "closed"),
              HasSubstr(absl::StrCat(upstream.address(),
                                     " closed; upstream_gone: reset")));
  ASSERT_TRUE(proxy.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_EQ(TypesOf(proxy.log(), 1).back(), EventType::kServerReset);
}

TEST(ProxyTest, ServerFaultsShapeWhatTheUpstreamSends) {
  FakeTcpServer upstream(EchoUpstream());
  ASSERT_TRUE(upstream.Start().ok());
  ServerOptions options = ProxyTo(upstream.address());
  options.close_after_bytes = 6;
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  ASSERT_TRUE(client.SendAll("abc\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 6), "ECHO a");
  EXPECT_TRUE(client.ReceiveEof(kTimeout).ok());
}

TEST(ProxyTest, ConnectionsAreIndependent) {
  FakeTcpServer upstream(EchoUpstream());
  ASSERT_TRUE(upstream.Start().ok());
  FakeTcpServer proxy(ProxyTo(upstream.address()));
  ASSERT_TRUE(proxy.Start().ok());
  std::vector<TcpClient> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(MustConnect(proxy));
  for (int i = 7; i >= 0; --i) {
    ASSERT_TRUE(clients[i].SendAll(absl::StrCat("c", i, "\n"), kTimeout).ok());
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(ReadN(clients[i], 8), absl::StrCat("ECHO c", i, "\n"));
  }
  EXPECT_EQ(upstream.log().counts().accepted, 8u);
}

// The client -> upstream direction is bounded: an upstream that never reads
// stops the proxy reading from the client once max_pending_output bytes (and
// the sockets' buffers) wait.
TEST(ProxyTest, UpstreamThatNeverReadsHoldsBackTheClient) {
  ServerOptions upstream_options = AnyPort();
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  ASSERT_TRUE(upstream.PauseAccepting().ok());  // connects wait in the backlog
  ServerOptions options = ProxyTo(upstream.address());
  options.framing = Framing::Raw();
  options.max_pending_output = size_t{1} << 20;
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  const std::string chunk(64 << 10, 'x');
  constexpr size_t kCap = size_t{256} << 20;
  size_t sent = 0;
  while (sent < kCap && client.SendAll(chunk, absl::Seconds(2)).ok()) {
    sent += chunk.size();
  }
  // Socket buffers on loopback hold a few MiB each way; without the bound the
  // proxy would take all 256 MiB.
  EXPECT_LT(sent, size_t{64} << 20);
  size_t taken = 0;
  for (const Event& e : proxy.log().EventsOfType(EventType::kReceived)) {
    taken += e.bytes.size();
  }
  EXPECT_LT(taken, size_t{64} << 20);
}

// A client that resets while its upstream connect is still under way (the
// upstream's accept queue is full: its SYN goes unanswered) is closed at once,
// not after the connect timeout (nor with the loop spinning on the reset).
TEST(ProxyTest, ClientResetWhileTheUpstreamConnectsEndsAtOnce) {
  ServerOptions upstream_options = AnyPort();
  upstream_options.backlog = 1;
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  ASSERT_TRUE(upstream.PauseAccepting().ok());
  absl::StatusOr<std::vector<SocketAddress>> to =
      Resolve("127.0.0.1", upstream.port());
  ASSERT_TRUE(to.ok()) << to.status();
  std::vector<UniqueFd> queued;  // fill the accept queue
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<UniqueFd> fd = StartConnect(to->front());
    ASSERT_TRUE(fd.ok()) << fd.status();
    queued.push_back(*std::move(fd));
  }
  ServerOptions options = ProxyTo(upstream.address());
  options.proxy->connect_timeout = absl::Minutes(5);
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  TcpClient client = MustConnect(proxy);
  ASSERT_TRUE(proxy.log().WaitForConnections(1, kTimeout).ok());
  client.Close(/*reset=*/true);
  ASSERT_TRUE(proxy.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_EQ(TypesOf(proxy.log(), 1).back(), EventType::kReset);
  EXPECT_TRUE(proxy.log().EventsOfType(EventType::kUpstream).empty());
}

TEST(ProxyTest, AProxyOfItsOwnAddressIsRejectedAtStart) {
  // A port free now (this test has a network namespace of its own: nothing
  // else takes it before the server below does).
  int port = 0;
  {
    absl::StatusOr<BoundListener> l = Listen("127.0.0.1", 0, 1);
    ASSERT_TRUE(l.ok()) << l.status();
    port = l->port;
  }
  ServerOptions options = ProxyTo(absl::StrCat("127.0.0.1:", port));
  options.port = port;
  FakeTcpServer loop(options);
  const absl::Status s = loop.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      s.message(),
      HasSubstr(absl::StrCat("is this server's own address 127.0.0.1:", port)));
}

TEST(ProxyTest, BadUpstreamIsRejectedAtStart) {
  FakeTcpServer no_port(ProxyTo("127.0.0.1"));
  EXPECT_THAT(no_port.Start().message(),
              HasSubstr("proxy.upstream: 127.0.0.1: expected host:port"));
  FakeTcpServer port_zero(ProxyTo("127.0.0.1:0"));
  EXPECT_THAT(port_zero.Start().message(), HasSubstr("port 0"));
  FakeTcpServer no_host(ProxyTo("no.such.host.invalid:80"));
  const absl::Status s = no_host.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("proxy.upstream: resolve no.such.host.invalid:80"));
}

}  // namespace
}  // namespace fake_tcp
