#include "server/base/deadline.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

TEST(DeadlineTest, PassedIsZeroAndForeverIsMinusOne) {
  EXPECT_EQ(PollTimeoutMs(absl::Now() - absl::Seconds(1)), 0);
  EXPECT_EQ(PollTimeoutMs(absl::InfinitePast()), 0);
  EXPECT_EQ(PollTimeoutMs(absl::InfiniteFuture()), -1);
}

TEST(DeadlineTest, RoundsUpSoAWaitNeverEndsEarly) {
  // 0.5 ms ahead is 1 ms, not 0 (which would spin).
  const int ms = PollTimeoutMs(absl::Now() + absl::Microseconds(500));
  EXPECT_GE(ms, 0);
  EXPECT_LE(ms, 1);
  EXPECT_GE(PollTimeoutMs(absl::Now() + absl::Hours(1)), 3599000);
}

TEST(DeadlineTest, FarFutureIsBounded) {
  EXPECT_EQ(PollTimeoutMs(absl::Now() + absl::Hours(24 * 365)), 1 << 30);
}

}  // namespace
}  // namespace fake_tcp
