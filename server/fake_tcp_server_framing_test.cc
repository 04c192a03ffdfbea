// FakeTcpServer over real sockets: framing, bad input, connection ends.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::TypesOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

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

}  // namespace
}  // namespace fake_tcp
