#ifndef TOOLS_BENCH_SCALE_BENCH_H_
#define TOOLS_BENCH_SCALE_BENCH_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/bench/bench_common.h"

namespace fake_tcp {

// Prints the scale table: for each count of `connections`, the standalone
// fake and the bare server process (each launched for the row) held at that
// many persistent connections by the event-driven generator (EventLoad): the
// connect storm (every connection opened at once, each answered once), the
// private memory each idle connection adds, then persistent exchanges for
// `duration` per server: rate, errors, p50 and p99, with ratios fake / bare.
// `log_max_events` > 0 launches the fake with --log_max_events at that value
// (0: the fake's default cap).
absl::Status ScaleTable(const Programs& programs,
                        const std::vector<int>& connections,
                        absl::Duration duration, int64_t log_max_events);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_SCALE_BENCH_H_
