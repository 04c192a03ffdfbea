// FakeTcpServer: lifecycle, addresses, options, responders, stopping.

#include "server/fake_tcp_server.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::TypesOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

TEST(FakeTcpServerTest, OriginalScenarioOnPort9500) {
  FakeTcpServer server;
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.port(), 9500);
  EXPECT_EQ(server.address(), "127.0.0.1:9500");

  absl::StatusOr<TcpClient> client =
      TcpClient::Connect("127.0.0.1:9500", kTimeout);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendAll("Hello, world", kTimeout).ok());
  absl::StatusOr<std::string> reply = client->ReceiveExactly(8, kTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "Received");
  client->Close();

  ASSERT_TRUE(server.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("Hello, world"));
  EXPECT_THAT(TypesOf(server.log(), 1),
              ElementsAre(EventType::kAccepted, EventType::kReceived,
                          EventType::kSent, EventType::kPeerClosed));
  const std::vector<Event> received =
      server.log().EventsOfType(EventType::kReceived);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].peer, client->local());
  EXPECT_EQ(received[0].sequence, 2u);
  EXPECT_EQ(server.log().EventsOfType(EventType::kSent)[0].bytes, "Received");
}

TEST(FakeTcpServerTest, StartConnectStopThousandCyclesOnFixedPort) {
  for (int i = 0; i < 1000; ++i) {
    ServerOptions options;
    options.port = 9500;
    FakeTcpServer server(options);
    const absl::Status started = server.Start();
    ASSERT_TRUE(started.ok()) << "cycle " << i << ": " << started;
    // No wait of any kind: Start() returned, so the listener accepts.
    absl::StatusOr<TcpClient> client =
        TcpClient::Connect("127.0.0.1:9500", kTimeout);
    ASSERT_TRUE(client.ok()) << "cycle " << i << ": " << client.status();
    server.Stop();
  }
}

TEST(FakeTcpServerTest, PortInUseIsUnavailableNamingTheAddress) {
  FakeTcpServer first(AnyPort());
  ASSERT_TRUE(first.Start().ok());
  ServerOptions options;
  options.port = first.port();
  FakeTcpServer second(options);
  const absl::Status s = second.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), absl::StrCat("bind 127.0.0.1:", first.port(),
                                      ": Address already in use"));
  EXPECT_EQ(second.state(), ListenerState::kNotStarted);
  // The first is unaffected.
  TcpClient client = MustConnect(first);
  ASSERT_TRUE(client.SendAll("x", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(FakeTcpServerTest, PortZeroIsReported) {
  FakeTcpServer server(AnyPort());
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.address(), "");
  ASSERT_TRUE(server.Start().ok());
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.address(), absl::StrCat("127.0.0.1:", server.port()));
  EXPECT_EQ(server.state(), ListenerState::kAccepting);
  TcpClient client = MustConnect(server);
  EXPECT_EQ(client.peer(), server.address());
}

TEST(FakeTcpServerTest, StartTwiceIsFailedPrecondition) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
  server.Stop();
  EXPECT_EQ(server.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FakeTcpServerTest, BadOptionsAreInvalidArgumentNamingTheOption) {
  ServerOptions options = AnyPort();
  options.port = 70000;
  absl::Status s = FakeTcpServer(options).Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("port must be 0..65535, got 70000"));

  options = AnyPort();
  options.framing = Framing::LengthPrefix(3);
  s = FakeTcpServer(options).Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("header_bytes"));

  options = AnyPort();
  options.read_size = size_t{1} << 40;  // would be a 1 TiB buffer
  s = FakeTcpServer(options).Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("read_size must be 1..16777216"));

  options = AnyPort();
  options.framing = Framing::FixedSize(100);
  options.max_message_size = 10;  // every message would close its connection
  s = FakeTcpServer(options).Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("fixed-size framing of 100 bytes is larger than "
                        "max_message_size 10"));

  options = AnyPort();
  options.address = "no-such-host.invalid";
  s = FakeTcpServer(options).Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("resolve no-such-host.invalid:0"));

  options = AnyPort();
  options.address = "192.0.2.1";  // not an address of this machine
  s = FakeTcpServer(options).Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), StartsWith("bind 192.0.2.1:0: "));
}

TEST(FakeTcpServerTest, Ipv6Loopback) {
  ServerOptions options = AnyPort();
  options.address = "::1";
  FakeTcpServer server(options);
  const absl::Status started = server.Start();
  if (absl::IsAlreadyExists(started) || absl::IsUnimplemented(started)) {
    GTEST_SKIP() << "no IPv6 loopback here: " << started;
  }
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(server.address(), absl::StrCat("[::1]:", server.port()));
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("over six", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  EXPECT_THAT(server.log().EventsOfType(EventType::kReceived)[0].peer,
              StartsWith("[::1]:"));
}

TEST(FakeTcpServerTest, HostNameIsResolvedOnce) {
  ServerOptions options = AnyPort();
  options.address = "localhost";
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_TRUE(server.address() == absl::StrCat("127.0.0.1:", server.port()) ||
              server.address() == absl::StrCat("[::1]:", server.port()))
      << server.address();
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("hi", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(FakeTcpServerTest, ResponderDecidesTheReply) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.responder =
      [](const ReceivedMessage& m) -> std::optional<std::string> {
    if (m.bytes == "quiet") return std::nullopt;
    return absl::StrCat("#", m.index, " ", m.bytes, "\n");
  };
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("a\nquiet\nb\n", kTimeout).ok());
  EXPECT_EQ(*client.ReceiveUntil("\n", kTimeout), "#0 a\n");
  EXPECT_EQ(*client.ReceiveUntil("\n", kTimeout), "#2 b\n");
  ASSERT_TRUE(server.log().WaitForMessages(3, kTimeout).ok());
  std::vector<std::string> sent;
  for (const Event& e : server.log().EventsOfType(EventType::kSent)) {
    sent.push_back(e.bytes);
  }
  EXPECT_THAT(sent, ElementsAre("#0 a\n", "#2 b\n"));
}

TEST(FakeTcpServerTest, NoReplyWhenReplyIsEmpty) {
  ServerOptions options = AnyPort();
  options.reply = std::nullopt;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("anyone?", kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  EXPECT_EQ(client.ReceiveAvailable(absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(FakeTcpServerTest, StopWithConnectionsOpenClosesThemAndKeepsTheLog) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  std::vector<TcpClient> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(MustConnect(server));
    ASSERT_TRUE(clients.back().SendAll("m", kTimeout).ok());
  }
  ASSERT_TRUE(server.log().WaitForMessages(5, kTimeout).ok());
  server.Stop();
  EXPECT_EQ(server.state(), ListenerState::kStopped);
  for (TcpClient& c : clients) {
    ASSERT_TRUE(c.ReceiveExactly(8, kTimeout).ok());
    EXPECT_TRUE(c.ReceiveEof(kTimeout).ok());
  }
  EXPECT_EQ(server.log().EventsOfType(EventType::kServerClosed).size(), 5u);
  EXPECT_EQ(server.log().counts().open, 0u);
  EXPECT_EQ(server.log().ReceivedMessages().size(), 5u);
  // The log is final: a wait for more returns at once instead of waiting an
  // hour.
  EXPECT_EQ(server.log().WaitForMessages(6, absl::Hours(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  server.Stop();  // idempotent
  // Connects are refused now.
  EXPECT_EQ(TcpClient::Connect(server.address(), kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(FakeTcpServerTest, StopFromTheResponderDoesNotDeadlock) {
  ServerOptions options = AnyPort();
  FakeTcpServer* self = nullptr;
  options.responder =
      [&self](const ReceivedMessage&) -> std::optional<std::string> {
    self->Stop();
    return std::string("bye");
  };
  FakeTcpServer server(options);
  self = &server;
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("stop please", kTimeout).ok());
  EXPECT_TRUE(client.ReceiveEof(kTimeout).ok());
  EXPECT_EQ(server.state(), ListenerState::kStopped);
  ASSERT_TRUE(server.log().WaitForConnectionClosed(1, kTimeout).ok());
  server.Stop();  // joins the thread
}

TEST(FakeTcpServerTest, TimedOutWaitReportsWhatWasSeen) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("only one", kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  const absl::Status s =
      server.log().WaitForMessages(2, absl::Milliseconds(20));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("received 8 bytes \"only one\""));
}

TEST(FakeTcpServerTest, SetResponderTakesEffectForTheNextMessage) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("a\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
  ASSERT_TRUE(
      server
          .SetResponder([](const ReceivedMessage& m) -> std::optional<Reply> {
            return Reply(absl::StrCat("echo ", m.bytes));
          })
          .ok());
  ASSERT_TRUE(client.SendAll("b\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 6), "echo b");
  ASSERT_TRUE(server.SetResponder(nullptr).ok());  // back to "Received"
  ASSERT_TRUE(client.SendAll("c\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(FakeTcpServerTest, ConnectionsListsCountersFromAnyThreadAResponderToo) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer* server_ptr = nullptr;
  absl::Mutex mu;
  std::vector<absl::StatusOr<std::vector<ConnectionInfo>>> seen;
  options.responder = [&](const ReceivedMessage& m) -> std::optional<Reply> {
    absl::StatusOr<std::vector<ConnectionInfo>> now = server_ptr->Connections();
    absl::MutexLock lock(&mu);
    seen.push_back(std::move(now));
    return Reply(absl::StrCat("ok ", m.index, "\n"));
  };
  FakeTcpServer server(options);
  server_ptr = &server;
  ASSERT_TRUE(server.Start().ok());
  TcpClient a = MustConnect(server);
  TcpClient b = MustConnect(server);
  ASSERT_TRUE(server.log().WaitForConnections(2, kTimeout).ok());

  ASSERT_TRUE(a.SendAll("one\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "ok 0\n");
  ASSERT_TRUE(a.SendAll("two\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "ok 1\n");
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(seen.size(), 2u);
    // On the I/O thread, at the second message: its bytes are read, the first
    // reply is written, the message itself is not yet counted.
    ASSERT_TRUE(seen[1].ok()) << seen[1].status();
    const std::vector<ConnectionInfo>& at_two = *seen[1];
    ASSERT_EQ(at_two.size(), 2u);
    EXPECT_EQ(at_two[0].id, 1u);
    EXPECT_EQ(at_two[0].peer, a.local());
    EXPECT_EQ(at_two[0].bytes_received, 8u);
    EXPECT_EQ(at_two[0].messages_received, 1u);
    EXPECT_EQ(at_two[0].bytes_sent, 5u);
    EXPECT_FALSE(at_two[0].peer_closed);
    EXPECT_EQ(at_two[1].id, 2u);
    EXPECT_EQ(at_two[1].peer, b.local());
    EXPECT_EQ(at_two[1].bytes_received, 0u);
  }

  // From the test's thread: a closed connection is gone once its close is
  // logged.
  b.Close();
  ASSERT_TRUE(server.log().WaitForConnectionClosed(2, kTimeout).ok());
  absl::StatusOr<std::vector<ConnectionInfo>> after = server.Connections();
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, 1u);
  EXPECT_EQ((*after)[0].messages_received, 2u);

  server.Stop();
  EXPECT_EQ(server.Connections().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fake_tcp
