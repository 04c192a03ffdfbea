#include "server/base/deadline.h"

#include <algorithm>
#include <cstdint>

#include "absl/time/clock.h"

namespace fake_tcp {

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(left + absl::Microseconds(999)), 1 << 30));
}

}  // namespace fake_tcp
