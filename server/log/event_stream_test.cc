#include "server/log/event_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"

namespace fake_tcp {
namespace {

Event Make(uint64_t seq, EventType type, std::string bytes) {
  Event e;
  e.sequence = seq;
  e.type = type;
  e.connection_id = 3;
  e.peer = "[::1]:4000";
  e.time = absl::FromUnixNanos(1700000000123456789);
  e.bytes = std::move(bytes);
  e.detail = type == EventType::kServerReset ? "reply fault: reset" : "";
  return e;
}

TEST(EventStreamTest, EveryTypeRoundTripsThroughAFileFedByteByByte) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/events");
  std::vector<Event> events;
  const EventType types[] = {EventType::kAccepted,
                             EventType::kReceived,
                             EventType::kSent,
                             EventType::kPeerClosed,
                             EventType::kReset,
                             EventType::kServerClosed,
                             EventType::kOversize,
                             EventType::kFramingError,
                             EventType::kConnectionLimit,
                             EventType::kServerReset,
                             EventType::kServerHalfClosed,
                             EventType::kStalled};
  uint64_t seq = 1;
  for (EventType t : types)
    events.push_back(Make(seq++, t, std::string("\0\xff x", 4)));
  events.push_back(Make(seq++, EventType::kReceived, std::string(300000, 'b')));
  {
    EventStreamWriter writer;
    ASSERT_TRUE(writer.Open(path).ok());
    ASSERT_TRUE(writer.Write({events.begin(), events.begin() + 5}).ok());
    ASSERT_TRUE(writer.Write({events.begin() + 5, events.end()}).ok());
  }
  const std::string stream = ReadFile(path).value_or("");
  EventStreamDecoder decoder;
  std::vector<Event> decoded;
  for (char c : stream) {
    absl::StatusOr<std::vector<Event>> more = decoder.Feed(std::string(1, c));
    ASSERT_TRUE(more.ok()) << more.status();
    decoded.insert(decoded.end(), more->begin(), more->end());
  }
  EXPECT_EQ(decoder.pending(), 0u);
  ASSERT_EQ(decoded.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(decoded[i].ToString(), events[i].ToString());
    EXPECT_EQ(decoded[i].bytes, events[i].bytes);
    EXPECT_EQ(decoded[i].time, events[i].time);
  }
}

TEST(EventStreamTest, GarbageIsDataLossNamingTheOffset) {
  EventStreamDecoder decoder;
  absl::StatusOr<std::vector<Event>> r = decoder.Feed(std::string(10, '\xff'));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("offset 0"));
}

TEST(EventStreamTest, OpenNamesThePath) {
  EventStreamWriter writer;
  const absl::Status s = writer.Open("/nonexistent-dir/events");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("/nonexistent-dir/events"));
}

}  // namespace
}  // namespace fake_tcp
