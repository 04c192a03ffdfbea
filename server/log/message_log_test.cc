#include "server/log/message_log.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::kSanitized;
using ::fake_tcp::testing::ResidentBytes;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Event Make(EventType type, uint64_t connection, std::string bytes = "") {
  Event e;
  e.type = type;
  e.connection_id = connection;
  e.peer = "127.0.0.1:1234";
  e.time = absl::Now();
  e.bytes = std::move(bytes);
  return e;
}

TEST(MessageLogTest, KeepsOrderAndNumbersEvents) {
  MessageLog log;
  log.Append(Make(EventType::kAccepted, 1));
  log.Append(Make(EventType::kReceived, 1, "a"));
  std::vector<Event> batch = {Make(EventType::kSent, 1, "Received"),
                              Make(EventType::kReceived, 1, "b")};
  log.Append(&batch);
  EXPECT_TRUE(batch.empty());
  const std::vector<Event> events = log.Events();
  ASSERT_EQ(events.size(), 4u);
  for (size_t i = 0; i < events.size(); ++i)
    EXPECT_EQ(events[i].sequence, i + 1);
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre("a", "b"));
  EXPECT_EQ(log.counts().received, 2u);
  EXPECT_EQ(log.counts().sent, 1u);
  EXPECT_EQ(log.counts().open, 1u);
}

TEST(MessageLogTest, DropsOldestPastMaxEventsAndCountsThem) {
  MessageLog log(LogLimits{3, 1 << 20});
  for (int i = 0; i < 5; ++i) {
    log.Append(Make(EventType::kReceived, 1, std::to_string(i)));
  }
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre("2", "3", "4"));
  EXPECT_EQ(log.counts().dropped, 2u);
  EXPECT_EQ(log.counts().received, 5u);
  EXPECT_EQ(log.Events().front().sequence, 3u);
}

TEST(MessageLogTest, DropsOldestPastMaxBytesButKeepsTheNewest) {
  MessageLog log(LogLimits{1000, 10});
  log.Append(Make(EventType::kReceived, 1, "12345"));
  log.Append(Make(EventType::kReceived, 1, "67890"));
  EXPECT_EQ(log.counts().dropped, 0u);
  log.Append(Make(EventType::kReceived, 1, "x"));
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre("67890", "x"));
  log.Append(Make(EventType::kReceived, 1, std::string(50, 'y')));
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre(std::string(50, 'y')));
  EXPECT_EQ(log.counts().dropped, 3u);
}

TEST(MessageLogTest, AHugeEntryIsCutAndEvictsNotEverythingBeforeIt) {
  MessageLog log(LogLimits{1000, 8192});  // an entry keeps at most 2048 bytes
  log.Append(Make(EventType::kReceived, 1, "GET big"));
  log.Append(Make(EventType::kSent, 1, std::string(10000, 'v')));
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre("GET big"));
  const std::vector<Event> sent = log.EventsOfType(EventType::kSent);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].bytes, std::string(2048, 'v'));
  EXPECT_THAT(sent[0].detail,
              HasSubstr("10000 bytes, the first 2048 kept in the log"));
  EXPECT_EQ(log.counts().dropped, 0u);
  EXPECT_EQ(log.counts().sent, 1u);
}

// The server hands a closing connection's input buffer to its close event: a
// few bytes in a buffer that grew to hold a 1 MB message. The log keeps what
// it counts, not the buffer (200 of them used to stay resident: 200 MB).
TEST(MessageLogTest, KeepsNoSpareCapacityOfWhatItIsGiven) {
  if (kSanitized) {
    GTEST_SKIP() << "a sanitizer's allocator keeps freed memory resident";
  }
  MessageLog log(LogLimits{100000, size_t{8} << 20});
  const size_t before = ResidentBytes();
  for (int i = 0; i < 200; ++i) {
    std::string leftover(size_t{1} << 20, 'x');  // grown, and touched
    leftover.resize(4);
    log.Append(Make(EventType::kPeerClosed, i + 1, std::move(leftover)));
  }
  EXPECT_EQ(log.counts().dropped, 0u);
  const size_t grown = ResidentBytes() - std::min(before, ResidentBytes());
  EXPECT_LT(grown, size_t{50} << 20) << grown;
}

// A log filled to its bound by another thread (as the I/O thread fills it,
// dropping the oldest as it goes) and then cleared gives its memory back: a
// shared server's memory goes back to idle between tests.
TEST(MessageLogTest, ClearGivesTheEntriesMemoryBack) {
  if (kSanitized) {
    GTEST_SKIP() << "a sanitizer's allocator keeps freed memory resident";
  }
  MessageLog log(LogLimits{100000, size_t{64} << 20});
  const size_t before = ResidentBytes();
  std::thread io([&log] {
    for (int i = 0; i < 300000; ++i) {
      log.Append(Make(EventType::kReceived, 1, std::string(100, 'm')));
    }
  });
  io.join();
  const size_t full = ResidentBytes();
  ASSERT_GT(full, before + (size_t{10} << 20)) << "the log did not grow";
  log.Clear();
  const size_t after = ResidentBytes();
  EXPECT_LT(after, before + (size_t{2} << 20))
      << "before " << before << ", full " << full << ", after " << after;
}

TEST(MessageLogTest, WaitForMessagesCountsWhatArrivedBeforeTheCall) {
  MessageLog log;
  log.Append(Make(EventType::kReceived, 1, "early"));
  EXPECT_TRUE(log.WaitForMessages(1, absl::ZeroDuration()).ok());
}

TEST(MessageLogTest, WaitForMessagesWakesWhenAnotherThreadAppends) {
  MessageLog log;
  absl::Notification waiting;
  std::thread writer([&] {
    waiting.WaitForNotification();
    for (int i = 0; i < 3; ++i) log.Append(Make(EventType::kReceived, 1, "m"));
  });
  waiting.Notify();
  EXPECT_TRUE(log.WaitForMessages(3, absl::Seconds(30)).ok());
  writer.join();
}

TEST(MessageLogTest, TimedOutWaitSaysWhatWasSeen) {
  MessageLog log;
  log.Append(Make(EventType::kAccepted, 7));
  log.Append(Make(EventType::kReceived, 7, "Hello, world"));
  const absl::Status s = log.WaitForMessages(2, absl::Milliseconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("for 2 messages"));
  EXPECT_THAT(s.message(), HasSubstr("1 messages received"));
  EXPECT_THAT(s.message(), HasSubstr("conn 7 127.0.0.1:1234 received 12 bytes "
                                     "\"Hello, world\""));
  // A negative timeout is zero.
  EXPECT_EQ(log.WaitForMessages(2, absl::Seconds(-1)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(MessageLogTest, WaitForMessageFindsEarlierAndLaterMatches) {
  MessageLog log;
  log.Append(Make(EventType::kReceived, 1, "a"));
  log.Append(Make(EventType::kSent, 1, "target"));  // not a received message
  absl::StatusOr<Event> found = log.WaitForMessage(
      [](const Event& e) { return e.bytes == "a"; }, absl::ZeroDuration());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->sequence, 1u);
  EXPECT_EQ(
      log.WaitForMessage([](const Event& e) { return e.bytes == "target"; },
                         absl::Milliseconds(5))
          .status()
          .code(),
      absl::StatusCode::kDeadlineExceeded);

  std::thread writer([&] {
    log.Append(Make(EventType::kReceived, 2, "x"));
    log.Append(Make(EventType::kReceived, 2, "target"));
  });
  found = log.WaitForMessage([](const Event& e) { return e.bytes == "target"; },
                             absl::Seconds(30));
  writer.join();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->connection_id, 2u);
  EXPECT_EQ(found->sequence, 4u);
}

TEST(MessageLogTest, WaitForConnectionsAndClose) {
  MessageLog log;
  log.Append(Make(EventType::kAccepted, 1));
  log.Append(Make(EventType::kAccepted, 2));
  EXPECT_TRUE(log.WaitForConnections(2, absl::ZeroDuration()).ok());
  EXPECT_EQ(log.WaitForConnections(3, absl::Milliseconds(5)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(log.WaitForConnectionClosed(1, absl::Milliseconds(5)).code(),
            absl::StatusCode::kDeadlineExceeded);
  // Not yet accepted: not closed either.
  EXPECT_EQ(log.WaitForConnectionClosed(9, absl::Milliseconds(5)).code(),
            absl::StatusCode::kDeadlineExceeded);
  std::thread closer([&] { log.Append(Make(EventType::kPeerClosed, 1)); });
  EXPECT_TRUE(log.WaitForConnectionClosed(1, absl::Seconds(30)).ok());
  closer.join();
  EXPECT_EQ(log.counts().open, 1u);
  EXPECT_EQ(log.counts().closed, 1u);
}

TEST(MessageLogTest, ClearStartsAfreshButKeepsOpenConnections) {
  MessageLog log;
  log.Append(Make(EventType::kAccepted, 1));
  log.Append(Make(EventType::kReceived, 1, "old"));
  log.Clear();
  EXPECT_TRUE(log.Events().empty());
  EXPECT_EQ(log.counts().received, 0u);
  EXPECT_EQ(log.counts().open, 1u);
  log.Append(Make(EventType::kReceived, 1, "new"));
  EXPECT_THAT(log.ReceivedMessages(), ElementsAre("new"));
  EXPECT_EQ(log.Events().front().sequence, 3u);
  log.Append(Make(EventType::kServerClosed, 1));
  EXPECT_TRUE(log.WaitForConnectionClosed(1, absl::ZeroDuration()).ok());
}

TEST(MessageLogTest, FormatBytesShowsTextQuotedAndBinaryAsHex) {
  EXPECT_EQ(FormatBytes("GET k\r\n"), "\"GET k\\r\\n\"");
  EXPECT_EQ(FormatBytes(std::string("\x00\x01\xff", 3)), "hex: 00 01 ff");
  EXPECT_EQ(FormatBytes("abcdef", 3), "\"abc\" ... (6 bytes)");
}

TEST(MessageLogTest, FinishedLogEndsWaitsAtOnce) {
  MessageLog log;
  log.Append(Make(EventType::kReceived, 1, "only"));
  std::thread finisher([&] { log.Finish(); });
  // Would wait an hour; the finished log answers as soon as Finish() runs.
  const absl::Status s = log.WaitForMessages(2, absl::Hours(1));
  finisher.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("the server stopped before 2 messages"));
  EXPECT_TRUE(log.WaitForMessages(1, absl::Hours(1)).ok());
  EXPECT_EQ(log.WaitForConnections(1, absl::Hours(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(log.finished());
}

TEST(MessageLogTest, WaitForEventsAfterFollowsTheLog) {
  MessageLog log;
  log.Append(Make(EventType::kAccepted, 1));
  absl::StatusOr<std::vector<Event>> first =
      log.WaitForEventsAfter(0, absl::ZeroDuration());
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(log.WaitForEventsAfter(1, absl::Milliseconds(5)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  std::thread writer([&] {
    log.Append(Make(EventType::kReceived, 1, "a"));
    log.Append(Make(EventType::kReceived, 1, "b"));
  });
  std::vector<std::string> seen;
  uint64_t last = 1;
  while (seen.size() < 2) {
    absl::StatusOr<std::vector<Event>> more =
        log.WaitForEventsAfter(last, absl::Seconds(30));
    ASSERT_TRUE(more.ok()) << more.status();
    for (const Event& e : *more) {
      seen.push_back(e.bytes);
      last = e.sequence;
    }
  }
  writer.join();
  EXPECT_THAT(seen, ElementsAre("a", "b"));
  log.Finish();
  EXPECT_EQ(log.WaitForEventsAfter(last, absl::Hours(1)).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(MessageLogTest, MirroredSequencesWithGapsAreFoundAndFollowed) {
  MessageLog log;
  for (uint64_t seq : {3, 4, 9, 10, 42}) {
    Event e = Make(EventType::kReceived, 1, std::to_string(seq));
    e.sequence = seq;
    log.AppendMirrored(std::move(e));
  }
  absl::StatusOr<Event> found = log.WaitForMessage(
      [](const Event& e) { return e.bytes == "10"; }, absl::ZeroDuration());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->sequence, 10u);
  absl::StatusOr<std::vector<Event>> after =
      log.WaitForEventsAfter(4, absl::ZeroDuration());
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 3u);
  EXPECT_EQ((*after)[0].sequence, 9u);
  // Appending continues after the highest sequence seen.
  log.Append(Make(EventType::kSent, 1, "x"));
  EXPECT_EQ(log.Events().back().sequence, 43u);
}

TEST(MessageLogTest, WaitForEventsAfterReturnsAtMostMaxEvents) {
  MessageLog log;
  for (int i = 0; i < 10; ++i) log.Append(Make(EventType::kReceived, 1, "m"));
  absl::StatusOr<std::vector<Event>> some =
      log.WaitForEventsAfter(0, absl::ZeroDuration(), 4);
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 4u);
  EXPECT_EQ(some->front().sequence, 1u);
  some =
      log.WaitForEventsAfter(some->back().sequence, absl::ZeroDuration(), 100);
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 6u);
}

TEST(MessageLogTest, ListenersHearEveryChangeUntilRemoved) {
  MessageLog log;
  int calls = 0;
  uint64_t last_seen = 0;
  const int id = log.AddListener([&] {
    ++calls;
    last_seen = log.last_sequence();  // called outside the log's lock
  });
  log.Append(Make(EventType::kAccepted, 1));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last_seen, 1u);
  std::vector<Event> batch = {Make(EventType::kReceived, 1, "a"),
                              Make(EventType::kSent, 1, "b")};
  log.Append(&batch);  // one call per batch
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(last_seen, 3u);
  log.Clear();
  log.WakeWaiters();
  log.Finish();
  EXPECT_EQ(calls, 5);
  log.RemoveListener(id);
  log.Append(Make(EventType::kReceived, 1, "c"));
  EXPECT_EQ(calls, 5);
}

}  // namespace
}  // namespace fake_tcp
