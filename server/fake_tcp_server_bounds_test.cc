// FakeTcpServer under load: many messages and clients, slow readers, bounded
// memory.

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"
#include "server/testing/test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::kSanitized;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::ResidentBytes;
using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

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

}  // namespace
}  // namespace fake_tcp
