// Faults and server commands over real sockets: what the client observes
// (bytes, EOF, reset, refused, a timing lower bound) and what the log records.

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"

namespace fake_tcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// A server on a free port with line framing, whose responder answers "<msg>\n"
// and applies `fault` to the message "fault".
class FaultsTest : public ::testing::Test {
 protected:
  void StartWith(Reply fault, ServerOptions options = ServerOptions()) {
    options.port = 0;
    options.framing = Framing::Delimiter("\n");
    options.responder =
        [fault](const ReceivedMessage& m) -> std::optional<Reply> {
      if (m.bytes == "fault") return fault;
      return Reply(absl::StrCat(m.bytes, "\n"));
    };
    server_ = std::make_unique<FakeTcpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
  }

  TcpClient Connect() {
    absl::StatusOr<TcpClient> c =
        TcpClient::Connect(server_->address(), kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  // The event types of connection `id`, in order.
  std::vector<EventType> TypesOf(uint64_t id) {
    std::vector<EventType> out;
    for (const Event& e : server_->log().Events()) {
      if (e.connection_id == id) out.push_back(e.type);
    }
    return out;
  }

  std::unique_ptr<FakeTcpServer> server_;
};

TEST_F(FaultsTest, DelayHoldsTheReplyWithoutBlockingOthers) {
  Reply slow("late\n");
  slow.delay = absl::Seconds(2);
  StartWith(slow);
  TcpClient a = Connect();
  TcpClient b = Connect();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  // b is answered while a's reply waits: a has nothing yet when b has its
  // answer.
  ASSERT_TRUE(b.SendAll("quick\n", kTimeout).ok());
  EXPECT_EQ(*b.ReceiveUntil("\n", kTimeout), "quick\n");
  EXPECT_EQ(a.ReceiveAvailable(absl::ZeroDuration()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "late\n");
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));
}

TEST_F(FaultsTest, RepliesOnOneConnectionKeepTheirOrder) {
  Reply slow("first\n");
  slow.delay = absl::Milliseconds(100);
  StartWith(slow);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\nsecond\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "first\n");
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "second\n");
}

TEST_F(FaultsTest, ReplyLatencyForEveryReply) {
  ServerOptions options;
  options.reply_latency = absl::Milliseconds(100);
  StartWith(Reply("x\n"), options);
  TcpClient a = Connect();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(a.SendAll("one\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "one\n");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
}

TEST_F(FaultsTest, SlicedReplyArrivesInPiecesLoggedOneByOne) {
  Reply sliced("abcdefghij");
  sliced.slice_bytes = 3;
  sliced.slice_pause = absl::Milliseconds(40);
  StartWith(sliced);
  TcpClient a = Connect();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveExactly(10, kTimeout), "abcdefghij");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(3 * 40));
  std::vector<std::string> sent;
  for (const Event& e : server_->log().EventsOfType(EventType::kSent)) {
    sent.push_back(e.bytes);
  }
  EXPECT_THAT(sent, ElementsAre("abc", "def", "ghi", "j"));
}

TEST_F(FaultsTest, BandwidthLimit) {
  Reply limited(std::string(2000, 'b'));
  limited.bytes_per_second =
      10000;  // 2000 bytes: at least 0.2s minus one piece
  StartWith(limited);
  TcpClient a = Connect();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_EQ(a.ReceiveExactly(2000, kTimeout)->size(), 2000u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
}

TEST_F(FaultsTest, CloseAfterReply) {
  Reply close("bye\n");
  close.then = Reply::Then::kClose;
  StartWith(close);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "bye\n");
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  EXPECT_THAT(TypesOf(1),
              ElementsAre(EventType::kAccepted, EventType::kReceived,
                          EventType::kSent, EventType::kServerClosed));
  EXPECT_EQ(server_->log().EventsOfType(EventType::kServerClosed)[0].detail,
            "reply fault: close");
}

TEST_F(FaultsTest, CloseWithoutReply) {
  Reply close;
  close.then = Reply::Then::kClose;
  StartWith(close);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  EXPECT_TRUE(server_->log().EventsOfType(EventType::kSent).empty());
}

TEST_F(FaultsTest, ResetIsSeenAsConnectionReset) {
  Reply reset;
  reset.then = Reply::Then::kReset;
  StartWith(reset);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  const absl::StatusOr<std::string> r = a.ReceiveExactly(1, kTimeout);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Connection reset"));
  EXPECT_EQ(TypesOf(1).back(), EventType::kServerReset);
}

TEST_F(FaultsTest, HalfCloseEndsTheStreamButKeepsReading) {
  Reply half("last\n");
  half.then = Reply::Then::kHalfClose;
  StartWith(half);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "last\n");
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  // The server still reads (and logs) what the client sends.
  ASSERT_TRUE(a.SendAll("after\n", kTimeout).ok());
  absl::StatusOr<Event> after = server_->log().WaitForMessage(
      [](const Event& e) { return e.bytes == "after"; }, kTimeout);
  EXPECT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(server_->log().EventsOfType(EventType::kServerHalfClosed).size(),
            1u);
}

TEST_F(FaultsTest, StallReadsButNeverAnswers) {
  Reply stall;
  stall.then = Reply::Then::kStall;
  StartWith(stall);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\nhello\n", kTimeout).ok());
  ASSERT_TRUE(server_->log().WaitForMessages(2, kTimeout).ok());
  EXPECT_EQ(a.ReceiveAvailable(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server_->log().EventsOfType(EventType::kStalled).size(), 1u);
}

TEST_F(FaultsTest, PartialReplyThenClose) {
  Reply partial("0123456789");
  partial.send_only = 4;
  partial.then = Reply::Then::kClose;
  StartWith(partial);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  const absl::StatusOr<std::string> r = a.ReceiveExactly(10, kTimeout);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("after 4 of 10 bytes"));
  EXPECT_EQ(server_->log().EventsOfType(EventType::kSent)[0].bytes, "0123");
}

TEST_F(FaultsTest, SlowCloseWaitsBeforeClosing) {
  Reply slow_close("bye\n");
  slow_close.then = Reply::Then::kClose;
  slow_close.then_delay = absl::Milliseconds(200);
  StartWith(slow_close);
  TcpClient a = Connect();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(a.SendAll("fault\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "bye\n");
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
}

TEST_F(FaultsTest, CloseAfterBytesSentInAll) {
  ServerOptions options;
  options.close_after_bytes = 6;
  StartWith(Reply("unused\n"), options);
  TcpClient a = Connect();
  ASSERT_TRUE(a.SendAll("abc\nlonger\n", kTimeout).ok());
  EXPECT_EQ(*a.ReceiveExactly(6, kTimeout), "abc\nlo");
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  const std::vector<Event> closed =
      server_->log().EventsOfType(EventType::kServerClosed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_THAT(closed[0].detail, HasSubstr("close_after_bytes 6 reached"));
}

TEST_F(FaultsTest, GreetingOnConnect) {
  ServerOptions options;
  options.greeting = Reply("220 fake ready\r\n");
  StartWith(Reply(), options);
  TcpClient a = Connect();
  EXPECT_EQ(*a.ReceiveUntil("\r\n", kTimeout), "220 fake ready\r\n");
}

TEST_F(FaultsTest, HundredConnectionsWithTimersKeepServingOthers) {
  Reply slow("slow\n");
  slow.delay = absl::Seconds(3);
  StartWith(slow);
  std::vector<TcpClient> waiting;
  for (int i = 0; i < 100; ++i) {
    waiting.push_back(Connect());
    ASSERT_TRUE(waiting.back().SendAll("fault\n", kTimeout).ok());
  }
  TcpClient quick = Connect();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(quick.SendAll("ping\n", kTimeout).ok());
    ASSERT_EQ(*quick.ReceiveUntil("\n", kTimeout), "ping\n");
  }
  // Ten round trips done while every other connection still waits for its
  // reply.
  size_t answered = 0;
  for (TcpClient& c : waiting) {
    if (c.ReceiveAvailable(absl::ZeroDuration()).ok()) ++answered;
  }
  EXPECT_EQ(answered, 0u);
  for (TcpClient& c : waiting)
    EXPECT_EQ(*c.ReceiveUntil("\n", kTimeout), "slow\n");
}

TEST_F(FaultsTest, SendAndBroadcastPushBytesNobodyAskedFor) {
  StartWith(Reply());
  TcpClient a = Connect();
  TcpClient b = Connect();
  ASSERT_TRUE(server_->log().WaitForConnections(2, kTimeout).ok());
  ASSERT_TRUE(server_->Send(1, Reply("to a\n")).ok());
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "to a\n");
  absl::StatusOr<int> n = server_->Broadcast(Reply("all\n"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(*a.ReceiveUntil("\n", kTimeout), "all\n");
  EXPECT_EQ(*b.ReceiveUntil("\n", kTimeout), "all\n");
  EXPECT_EQ(server_->Send(99, Reply("x")).code(), absl::StatusCode::kNotFound);
}

TEST_F(FaultsTest, DropConnectionsWithFinOrReset) {
  StartWith(Reply());
  TcpClient a = Connect();
  ASSERT_TRUE(server_->log().WaitForConnections(1, kTimeout).ok());
  absl::StatusOr<int> dropped = server_->DropConnections();
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1);
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());

  TcpClient b = Connect();
  ASSERT_TRUE(server_->log().WaitForConnections(2, kTimeout).ok());
  ASSERT_TRUE(server_->DropConnections(/*reset=*/true).ok());
  EXPECT_EQ(b.ReceiveExactly(1, kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(TypesOf(2).back(), EventType::kServerReset);
  // The server still accepts.
  TcpClient c = Connect();
  ASSERT_TRUE(c.SendAll("hi\n", kTimeout).ok());
  EXPECT_EQ(*c.ReceiveUntil("\n", kTimeout), "hi\n");
}

TEST_F(FaultsTest, StopAcceptingRefusesThenResumeOnTheSamePort) {
  StartWith(Reply());
  TcpClient open = Connect();
  const std::string address = server_->address();
  ASSERT_TRUE(server_->StopAccepting().ok());
  EXPECT_EQ(server_->state(), ListenerState::kRefusing);
  EXPECT_EQ(TcpClient::Connect(address, kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
  // Open connections carry on.
  ASSERT_TRUE(open.SendAll("still\n", kTimeout).ok());
  EXPECT_EQ(*open.ReceiveUntil("\n", kTimeout), "still\n");
  ASSERT_TRUE(server_->ResumeAccepting().ok());
  EXPECT_EQ(server_->state(), ListenerState::kAccepting);
  EXPECT_EQ(server_->address(), address);
  TcpClient again = Connect();  // no wait: resumed means listening
  ASSERT_TRUE(again.SendAll("back\n", kTimeout).ok());
  EXPECT_EQ(*again.ReceiveUntil("\n", kTimeout), "back\n");
}

TEST_F(FaultsTest, PauseAcceptingLeavesConnectsInTheBacklog) {
  StartWith(Reply());
  ASSERT_TRUE(server_->PauseAccepting().ok());
  EXPECT_EQ(server_->state(), ListenerState::kPaused);
  // The kernel completes the handshake; the server does not serve it.
  TcpClient queued = Connect();
  ASSERT_TRUE(queued.SendAll("waiting\n", kTimeout).ok());
  EXPECT_EQ(queued.ReceiveAvailable(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server_->log().counts().accepted, 0u);
  ASSERT_TRUE(server_->ResumeAccepting().ok());
  EXPECT_EQ(*queued.ReceiveUntil("\n", kTimeout), "waiting\n");
}

TEST_F(FaultsTest, CommandsOnAStoppedServerFail) {
  StartWith(Reply());
  server_->Stop();
  EXPECT_EQ(server_->Broadcast(Reply("x")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_->DropConnections().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_->PauseAccepting().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_->ResumeAccepting().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fake_tcp
