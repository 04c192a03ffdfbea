#include "server/fake_tcp_server.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::kSanitized;
using ::fake_tcp::testing::ResidentBytes;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Generous: these bound a hang, they do not measure speed.
constexpr absl::Duration kTimeout = absl::Seconds(30);

ServerOptions AnyPort() {
  ServerOptions options;
  options.port = 0;
  return options;
}

TcpClient MustConnect(const FakeTcpServer& server) {
  absl::StatusOr<TcpClient> client =
      TcpClient::Connect(server.address(), kTimeout);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

// Returns `n` bytes from `client`, or the error as text (so a failure reads
// well).
std::string ReadN(TcpClient& client, size_t n) {
  absl::StatusOr<std::string> bytes = client.ReceiveExactly(n, kTimeout);
  return bytes.ok() ? *bytes : bytes.status().ToString();
}

// Returns the types of the logged events of connection `id`, in order.
std::vector<EventType> TypesOf(const MessageLog& log, uint64_t id) {
  std::vector<EventType> out;
  for (const Event& e : log.Events()) {
    if (e.connection_id == id) out.push_back(e.type);
  }
  return out;
}

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

TEST(FakeTcpServerTest, PersistentConnectionThousandMessages) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(client.SendAll(absl::StrCat("m", i, "\n"), kTimeout).ok());
    absl::StatusOr<std::string> reply = client.ReceiveExactly(8, kTimeout);
    ASSERT_TRUE(reply.ok()) << "message " << i << ": " << reply.status();
    ASSERT_EQ(*reply, "Received");
  }
  ASSERT_TRUE(server.log().WaitForMessages(1000, kTimeout).ok());
  const std::vector<std::string> messages = server.log().ReceivedMessages();
  ASSERT_EQ(messages.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(messages[i], absl::StrCat("m", i));
  EXPECT_EQ(server.log().counts().accepted, 1u);
}

TEST(FakeTcpServerTest, TwoHundredConcurrentClients) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  constexpr int kThreads = 20;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<TcpClient> clients;
      for (int c = 0; c < kPerThread; ++c) {
        absl::StatusOr<TcpClient> client =
            TcpClient::Connect(server.address(), kTimeout);
        if (!client.ok()) {
          errors[t] = client.status().ToString();
          return;
        }
        clients.push_back(*std::move(client));
      }
      // All ten are open at once; each sends, then each reads.
      for (int c = 0; c < kPerThread; ++c) {
        absl::Status s =
            clients[c].SendAll(absl::StrCat("t", t, "c", c, "\n"), kTimeout);
        if (!s.ok()) errors[t] = s.ToString();
      }
      for (int c = 0; c < kPerThread; ++c) {
        absl::StatusOr<std::string> r = clients[c].ReceiveExactly(8, kTimeout);
        if (!r.ok() || *r != "Received") {
          errors[t] = r.ok() ? *r : r.status().ToString();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  ASSERT_TRUE(
      server.log().WaitForMessages(kThreads * kPerThread, kTimeout).ok());
  EXPECT_EQ(server.log().counts().accepted, uint64_t{kThreads * kPerThread});
  std::vector<std::string> messages = server.log().ReceivedMessages();
  std::sort(messages.begin(), messages.end());
  EXPECT_EQ(std::unique(messages.begin(), messages.end()), messages.end());
}

TEST(FakeTcpServerTest, OneByteAtATimeWithDelimiterFraming) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\r\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  for (char c : std::string("SET key value\r\n")) {
    ASSERT_TRUE(client.SendAll(std::string(1, c), kTimeout).ok());
  }
  EXPECT_EQ(ReadN(client, 8), "Received");
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("SET key value"));
}

TEST(FakeTcpServerTest, RawFramingLogsEachReadChunk) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  // Lock-step so each send is a read of its own.
  for (const char* m : {"a", "b", "c"}) {
    ASSERT_TRUE(client.SendAll(m, kTimeout).ok());
    ASSERT_EQ(ReadN(client, 8), "Received");
  }
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("a", "b", "c"));
}

TEST(FakeTcpServerTest, MessageSplitAcrossWritesAndTwoInOneWrite) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("first ha", kTimeout).ok());
  // Nothing is framed until the delimiter arrives.
  EXPECT_EQ(server.log().WaitForMessages(1, absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(client.SendAll("lf\nsecond\nthird\n", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 24), "ReceivedReceivedReceived");
  EXPECT_THAT(server.log().ReceivedMessages(),
              ElementsAre("first half", "second", "third"));
}

TEST(FakeTcpServerTest, EveryFramingModeOverRealSockets) {
  struct Case {
    Framing framing;
    std::string stream;
    std::vector<std::string> messages;
  };
  const std::vector<Case> cases = {
      {Framing::Delimiter("\r\n"), "a\r\nbc\r\n", {"a", "bc"}},
      {Framing::LengthPrefix(1), std::string("\x02hi\x00", 4), {"hi", ""}},
      {Framing::LengthPrefix(2, Framing::Endian::kLittle),
       std::string("\x03\x00"
                   "abc",
                   5),
       {"abc"}},
      {Framing::LengthPrefix(4, Framing::Endian::kBig, true),
       std::string("\x00\x00\x00\x06"
                   "xy",
                   6),
       {"xy"}},
      {Framing::LengthPrefix(8), std::string(7, '\0') + "\x01" + "z", {"z"}},
      {Framing::FixedSize(4), "abcdefgh", {"abcd", "efgh"}},
      {Framing::Custom(
           [](absl::string_view b) -> absl::StatusOr<std::optional<Frame>> {
             const size_t end = b.find('.');
             if (end == absl::string_view::npos) return std::nullopt;
             return Frame{end + 1, 0, end};
           }),
       "one.two.",
       {"one", "two"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.framing.ToString());
    ServerOptions options = AnyPort();
    options.framing = c.framing;
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok());
    TcpClient client = MustConnect(server);
    ASSERT_TRUE(client.SendAll(c.stream, kTimeout).ok());
    ASSERT_TRUE(server.log().WaitForMessages(c.messages.size(), kTimeout).ok());
    EXPECT_EQ(server.log().ReceivedMessages(), c.messages);
    EXPECT_EQ(ReadN(client, 8 * c.messages.size()), [&] {
      std::string all;
      for (size_t i = 0; i < c.messages.size(); ++i) all += "Received";
      return all;
    }());
  }
}

TEST(FakeTcpServerTest, MalformedLengthPrefixClosesThatConnectionOnly) {
  ServerOptions options = AnyPort();
  options.framing = Framing::LengthPrefix(2, Framing::Endian::kBig, true);
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient good = MustConnect(server);
  TcpClient bad = MustConnect(server);
  ASSERT_TRUE(server.log().WaitForConnections(2, kTimeout).ok());
  // Says one byte, but the two-byte header counts itself.
  ASSERT_TRUE(bad.SendAll(std::string("\x00\x01", 2), kTimeout).ok());
  EXPECT_TRUE(bad.ReceiveEof(kTimeout).ok());
  absl::StatusOr<Event> error = server.log().WaitForEvent(
      [](const Event& e) { return e.type == EventType::kFramingError; },
      kTimeout);
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_THAT(error->detail, HasSubstr("less than the header"));

  ASSERT_TRUE(good.SendAll(std::string("\x00\x04ok", 4), kTimeout).ok());
  EXPECT_EQ(ReadN(good, 8), "Received");
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("ok"));
}

TEST(FakeTcpServerTest, OversizeMessageClosesThatConnectionOnly) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.max_message_size = 16;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient big = MustConnect(server);
  TcpClient small = MustConnect(server);
  ASSERT_TRUE(big.SendAll("ok\n" + std::string(100, 'x'), kTimeout).ok());
  EXPECT_EQ(ReadN(big, 8), "Received");
  EXPECT_TRUE(big.ReceiveEof(kTimeout).ok());
  absl::StatusOr<Event> oversize = server.log().WaitForEvent(
      [](const Event& e) { return e.type == EventType::kOversize; }, kTimeout);
  ASSERT_TRUE(oversize.ok()) << oversize.status();
  EXPECT_THAT(oversize->detail, HasSubstr("max_message_size 16"));

  ASSERT_TRUE(small.SendAll("fine\n", kTimeout).ok());
  EXPECT_EQ(ReadN(small, 8), "Received");
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("ok", "fine"));
}

TEST(FakeTcpServerTest, ConnectionLimitClosesTheExtraConnection) {
  ServerOptions options = AnyPort();
  options.max_connections = 2;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient a = MustConnect(server);
  TcpClient b = MustConnect(server);
  ASSERT_TRUE(server.log().WaitForConnections(2, kTimeout).ok());
  TcpClient c = MustConnect(server);
  absl::Status eof = c.ReceiveEof(kTimeout);
  EXPECT_TRUE(eof.ok() || absl::IsUnavailable(eof)) << eof;
  absl::StatusOr<Event> limit = server.log().WaitForEvent(
      [](const Event& e) { return e.type == EventType::kConnectionLimit; },
      kTimeout);
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->connection_id, 3u);
  ASSERT_TRUE(a.SendAll("still served", kTimeout).ok());
  EXPECT_EQ(ReadN(a, 8), "Received");
}

TEST(FakeTcpServerTest, PeerResetIsLogged) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("bye", kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  ASSERT_TRUE(client.ReceiveExactly(8, kTimeout).ok());
  client.Close(/*reset=*/true);
  ASSERT_TRUE(server.log().WaitForConnectionClosed(1, kTimeout).ok());
  EXPECT_EQ(TypesOf(server.log(), 1).back(), EventType::kReset);
}

TEST(FakeTcpServerTest, HalfCloseStillGetsTheReply) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("last\nunfinished", kTimeout).ok());
  ASSERT_TRUE(client.ShutdownWrite().ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
  EXPECT_TRUE(client.ReceiveEof(kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForConnectionClosed(1, kTimeout).ok());
  const std::vector<Event> closes =
      server.log().EventsOfType(EventType::kPeerClosed);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].bytes, "unfinished");  // nothing is lost silently
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

TEST(FakeTcpServerTest, SlowReaderDoesNotBlockOthersAndBoundsMemory) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.max_pending_output = 64 << 10;
  constexpr size_t kBig = size_t{32}
                          << 20;  // far more than socket buffers hold
  options.responder =
      [](const ReceivedMessage& m) -> std::optional<std::string> {
    if (m.bytes == "big") return std::string(kBig, 'B');
    return std::string("small");
  };
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient slow = MustConnect(server);
  ASSERT_TRUE(slow.SendAll("big\n", kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  // The reply is stuck in the server: it stops reading this connection.
  ASSERT_TRUE(slow.SendAll("more\nmore\nmore\n", kTimeout).ok());

  TcpClient fast = MustConnect(server);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(fast.SendAll("hi\n", kTimeout).ok());
    ASSERT_EQ(ReadN(fast, 5), "small");
  }
  size_t from_slow = 0;
  for (const Event& e : server.log().EventsOfType(EventType::kReceived)) {
    if (e.connection_id == 1) ++from_slow;
  }
  EXPECT_EQ(from_slow, 1u) << "read on while " << kBig << " reply bytes waited";

  // The slow reader drains everything; the server resumes and answers the rest.
  absl::StatusOr<std::string> all =
      slow.ReceiveExactly(kBig + 15, absl::Seconds(60));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->substr(kBig), "smallsmallsmall");
  EXPECT_TRUE(server.log().WaitForMessages(1 + 3 + 20, kTimeout).ok());
}

// Many messages in one read, each with a big reply, from a client that does
// not read: the replies are queued only up to the bound, the rest of the
// messages wait unanswered (they used to be answered all at once: 65,536
// newlines against a 64 KiB reply ran out of memory).
TEST(FakeTcpServerTest, OneReadOfManyMessagesQueuesRepliesOnlyUpToTheBound) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.max_pending_output = 1 << 20;
  constexpr size_t kReply = 256 << 10;
  constexpr size_t kMessages = 1024;  // 256 MiB of replies
  options.reply = std::string(kReply, 'R');
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient flood = MustConnect(server);
  ASSERT_TRUE(flood.SendAll(std::string(kMessages, '\n'), kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  // A round trip on another connection: the I/O thread is done with the
  // flood's read.
  TcpClient other = MustConnect(server);
  ASSERT_TRUE(other.SendAll("\n", kTimeout).ok());
  ASSERT_TRUE(other.ReceiveExactly(kReply, kTimeout).ok());
  size_t answered = 0;
  for (const Event& e : server.log().EventsOfType(EventType::kReceived)) {
    if (e.connection_id == 1) ++answered;
  }
  // The bound (1 MiB) plus what the sockets took: far from all 1,024.
  EXPECT_LT(answered, kMessages / 4);

  // As the client reads, the held messages are answered, every one of them.
  size_t read = 0;
  while (read < kMessages * kReply) {
    absl::StatusOr<std::string> chunk = flood.ReceiveExactly(
        std::min<size_t>(kReply, kMessages * kReply - read), absl::Seconds(60));
    ASSERT_TRUE(chunk.ok()) << chunk.status() << " after " << read;
    read += chunk->size();
  }
  EXPECT_TRUE(server.log().WaitForMessages(kMessages + 1, kTimeout).ok());
}

// The bound counts queued steps too, not only bytes: a reply cut into 1-byte
// slices an hour apart is 100 KB but 200,000 steps; the next message waits.
TEST(FakeTcpServerTest, QueuedStepsAreBoundedAsWellAsBytes) {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.responder = [](const ReceivedMessage&) -> std::optional<Reply> {
    Reply reply(std::string(100000, 's'));
    reply.slice_bytes = 1;
    reply.slice_pause = absl::Hours(1);
    return reply;
  };
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("first\nsecond\n", kTimeout).ok());
  ASSERT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
  // The first slice arrives; the I/O thread is done with both messages' read.
  ASSERT_EQ(ReadN(client, 1), "s");
  TcpClient other = MustConnect(server);
  ASSERT_TRUE(other.SendAll("x\n", kTimeout).ok());
  ASSERT_EQ(ReadN(other, 1), "s");
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("first", "x"));
}

// An 8 MiB greeting to 40 connections that never read is held once, not 40
// times (it used to be copied per connection: ~450 MiB).
TEST(FakeTcpServerTest, AGreetingIsHeldOnceForEveryConnection) {
  if (kSanitized) {
    GTEST_SKIP() << "a sanitizer's allocator keeps freed memory resident";
  }
  ServerOptions options = AnyPort();
  constexpr size_t kGreeting = size_t{8} << 20;
  options.greeting = Reply(std::string(kGreeting, 'g'));
  options.log_limits.max_bytes = size_t{8} << 20;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  const size_t before = ResidentBytes();
  std::vector<TcpClient> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(MustConnect(server));
  ASSERT_TRUE(server.log().WaitForConnections(40, kTimeout).ok());
  // Each connection has started on its copy: the first bytes arrive.
  for (TcpClient& c : clients) ASSERT_EQ(ReadN(c, 1), "g");
  const size_t grown = ResidentBytes() - std::min(before, ResidentBytes());
  // One 8 MiB copy plus the bounded log; 40 copies would be 320 MiB.
  EXPECT_LT(grown, size_t{120} << 20) << grown;
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

}  // namespace
}  // namespace fake_tcp
