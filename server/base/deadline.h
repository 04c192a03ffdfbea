#ifndef SERVER_BASE_DEADLINE_H_
#define SERVER_BASE_DEADLINE_H_

#include "absl/time/time.h"

namespace fake_tcp {

// Returns the timeout for poll(), epoll_wait() and the like that ends at
// `deadline`: milliseconds from now rounded up (a wait never ends before its
// deadline), 0 when it has passed, -1 (forever) for absl::InfiniteFuture(), and
// at most 2^30 otherwise.
int PollTimeoutMs(absl::Time deadline);

}  // namespace fake_tcp

#endif  // SERVER_BASE_DEADLINE_H_
