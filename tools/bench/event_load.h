#ifndef TOOLS_BENCH_EVENT_LOAD_H_
#define TOOLS_BENCH_EVENT_LOAD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/load.h"

namespace fake_tcp {

// The event-driven load generator: a few epoll threads hold many persistent
// connections (10,000 and more) where Load() runs a thread per client.
struct EventLoadOptions {
  // Connections held open at once (1..100000).
  int connections = 1000;
  // Epoll threads sharing them (1..16).
  int threads = 2;
  // The exchange phase stops after `duration`, or once `max_messages`
  // exchanges completed in all (0: no count); zero duration: no exchange
  // phase (a connect storm only).
  absl::Duration duration = absl::Seconds(2);
  uint64_t max_messages = 0;
  // A connect, or an answer, that takes longer is an error.
  absl::Duration timeout = absl::Seconds(10);
};

struct EventLoadResult {
  // The connect storm: every connection opened at once, each sending one
  // message; the time from the first connect until every connection had its
  // answer (or failed), and how many failed.
  absl::Duration storm;
  int answered = 0;
  uint64_t storm_errors = 0;
  // The exchange phase on the connections the storm left (each with one
  // message outstanding at a time): kLoadMessage, answered by kLoadReplySize
  // bytes; rate, errors (a connection closed, reset, or silent past the
  // timeout), latency of each exchange.
  LoadResult exchange;
};

// Runs the connect storm against `address` (loopback host:port), then
// `idle()` if given (the connections open and quiet, e.g. to measure the
// server's memory), then the exchange phase; closes every connection.
// Raises RLIMIT_NOFILE within the hard limit; FAILED_PRECONDITION saying how
// many descriptors it needs when the hard limit is lower, INVALID_ARGUMENT for
// options out of range or an address that is not an IP and port.
absl::StatusOr<EventLoadResult> EventLoad(
    const std::string& address, const EventLoadOptions& options,
    const std::function<void()>& idle = nullptr);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_EVENT_LOAD_H_
