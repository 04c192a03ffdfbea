#include "server/reply/reply_plan.h"

#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

ReplyStep Write(size_t begin, size_t size) {
  ReplyStep s;
  s.kind = ReplyStep::Kind::kWrite;
  s.begin = begin;
  s.size = size;
  return s;
}

ReplyStep Wait(absl::Duration wait) {
  ReplyStep s;
  s.kind = ReplyStep::Kind::kWait;
  s.wait = wait;
  return s;
}

ReplyStep Then(Reply::Then then) {
  ReplyStep s;
  s.kind = ReplyStep::Kind::kThen;
  s.then = then;
  return s;
}

TEST(ReplyPlanTest, APlainReplyIsOneWrite) {
  EXPECT_THAT(PlanReply(Reply("Received"), 8, {}), ElementsAre(Write(0, 8)));
}

TEST(ReplyPlanTest, AnEmptyReplyWithNoFaultsHasNoSteps) {
  EXPECT_THAT(PlanReply(Reply(""), 0, {}), IsEmpty());
}

TEST(ReplyPlanTest, DelayAndServerLatencyAddUpBeforeTheBytes) {
  Reply r("abc");
  r.delay = absl::Milliseconds(30);
  ReplyShaping shaping;
  shaping.reply_latency = absl::Milliseconds(20);
  EXPECT_THAT(PlanReply(r, 3, shaping),
              ElementsAre(Wait(absl::Milliseconds(50)), Write(0, 3)));
}

TEST(ReplyPlanTest, SlicesArePausedApartAndTheLastIsShort) {
  Reply r("abcdef");
  r.slice_bytes = 4;
  r.slice_pause = absl::Milliseconds(10);
  EXPECT_THAT(
      PlanReply(r, 6, {}),
      ElementsAre(Write(0, 4), Wait(absl::Milliseconds(10)), Write(4, 2)));
}

TEST(ReplyPlanTest, RateLimitSendsTwentyPiecesASecond) {
  Reply r(std::string(100, 'x'));
  r.bytes_per_second = 40;  // 2 bytes every 50 ms
  std::vector<ReplyStep> steps = PlanReply(r, 100, {});
  ASSERT_EQ(steps.size(), 99u);  // 50 writes, 49 waits between them
  EXPECT_EQ(steps[0], Write(0, 2));
  EXPECT_EQ(steps[1], Wait(absl::Milliseconds(50)));
  EXPECT_EQ(steps[98], Write(98, 2));
}

TEST(ReplyPlanTest, TheReplysOwnRateWinsOverTheServers) {
  Reply r("abcd");
  r.bytes_per_second = 1000;  // 50-byte pieces: one write
  ReplyShaping shaping;
  shaping.bytes_per_second = 20;  // would be 1-byte pieces
  EXPECT_THAT(PlanReply(r, 4, shaping), ElementsAre(Write(0, 4)));
  EXPECT_EQ(PlanReply(Reply("abcd"), 4, shaping).size(), 7u);
}

TEST(ReplyPlanTest, SendOnlyCutsTheBytesThenTheFaultFollowsItsDelay) {
  Reply r("abcdef");
  r.send_only = 2;
  r.then = Reply::Then::kReset;
  r.then_delay = absl::Seconds(1);
  EXPECT_THAT(PlanReply(r, 6, {}),
              ElementsAre(Write(0, 2), Wait(absl::Seconds(1)),
                          Then(Reply::Then::kReset)));
}

TEST(ReplyPlanTest, SendOnlyZeroIsJustTheFault) {
  Reply r("abc");
  r.send_only = 0;
  r.then = Reply::Then::kClose;
  EXPECT_THAT(PlanReply(r, 3, {}), ElementsAre(Then(Reply::Then::kClose)));
}

}  // namespace
}  // namespace fake_tcp
