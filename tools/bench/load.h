#ifndef TOOLS_BENCH_LOAD_H_
#define TOOLS_BENCH_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace fake_tcp {

// What each client sends, and the size of the reply it reads ("Received").
inline constexpr char kLoadMessage[] = "Hello, world";
inline constexpr size_t kLoadReplySize = 8;

struct LoadOptions {
  // persistent: many exchanges per connection; oneshot: connect, send, read
  // the reply, close, for each exchange.
  bool persistent = true;
  int clients = 16;
  // Stops after `duration`, or once `max_messages` exchanges completed in all
  // (0: no count), whichever comes first.
  absl::Duration duration = absl::Seconds(2);
  uint64_t max_messages = 0;
};

struct LoadResult {
  uint64_t messages = 0;
  uint64_t errors = 0;
  absl::Duration elapsed;
  double per_second = 0;
  // Of one exchange (send, then the whole reply; oneshot: the connect too,
  // persistent: not the connection's connect),
  // over the timed exchanges (at most 1 Mi of them), and those, sorted.
  absl::Duration p50, p99, p999;
  std::vector<absl::Duration> samples;
};

// Two runs against one server as one: counts and time added, percentiles over
// both runs' samples.
LoadResult Combine(const LoadResult& a, const LoadResult& b);

// Runs `options.clients` threads against `address` (loopback) until the
// duration or the count is reached, and returns the rate, the errors (a
// connect, send or read that failed or took over 10 s) and the latencies.
LoadResult Load(const std::string& address, const LoadOptions& options);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_LOAD_H_
