#ifndef SERVER_REPLY_REPLY_PLAN_H_
#define SERVER_REPLY_REPLY_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "server/reply/reply.h"

namespace fake_tcp {

// One step of carrying out a Reply on a connection, done in order.
struct ReplyStep {
  enum class Kind {
    // Write bytes [begin, begin + size) of the reply's bytes.
    kWrite,
    // Wait `wait` (a timer; other connections are served meanwhile).
    kWait,
    // Do `then` to the connection.
    kThen,
  };
  Kind kind = Kind::kWrite;
  size_t begin = 0;
  size_t size = 0;
  absl::Duration wait = absl::ZeroDuration();
  Reply::Then then = Reply::Then::kNothing;

  friend bool operator==(const ReplyStep& a, const ReplyStep& b) {
    return a.kind == b.kind && a.begin == b.begin && a.size == b.size &&
           a.wait == b.wait && a.then == b.then;
  }
};

// The server-wide faults added to every reply (ServerOptions' fields of the
// same names).
struct ReplyShaping {
  // Waited before every reply, after the reply's own delay.
  absl::Duration reply_latency = absl::ZeroDuration();
  // The rate limit of a reply that has none of its own (0: none).
  int64_t bytes_per_second = 0;
};

// Rate-limited replies go out in this many pieces a second.
inline constexpr int64_t kRatePiecesPerSecond = 20;

// Returns the steps that send `reply` (whose bytes are `size` long; the
// planner does not look at them): a wait for delay + latency; the bytes cut at
// send_only, in slices `slice_pause` apart or in rate-limited pieces (each
// 1/kRatePiecesPerSecond of a second's worth, paused to keep the rate); then
// then_delay and `then`. A pure function: no clock, no socket.
//
//   Reply r("abcdef");
//   r.slice_bytes = 4;
//   r.slice_pause = absl::Milliseconds(10);
//   PlanReply(r, 6, {});  // write [0,4), wait 10ms, write [4,6)
std::vector<ReplyStep> PlanReply(const Reply& reply, size_t size,
                                 const ReplyShaping& shaping);

// The same, into `*steps` (cleared first), so a caller that plans every reply
// (the I/O loop) reuses one buffer instead of allocating per reply.
void PlanReply(const Reply& reply, size_t size, const ReplyShaping& shaping,
               std::vector<ReplyStep>* steps);

}  // namespace fake_tcp

#endif  // SERVER_REPLY_REPLY_PLAN_H_
