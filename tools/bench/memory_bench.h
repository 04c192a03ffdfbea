#ifndef TOOLS_BENCH_MEMORY_BENCH_H_
#define TOOLS_BENCH_MEMORY_BENCH_H_

#include <cstdint>

#include "absl/status/status.h"
#include "tools/bench/bench_common.h"

namespace fake_tcp {

// Prints the memory table: resident and private memory of the fake (the
// library and its health sidecar in a process of their own,
// //tools/bench:memory_subject) idle, after `messages` logged messages and
// after a clear, against the bare server idle and after the same load; then,
// unless `large_reply_mib` is 0, the standalone fake's peak memory while one
// reply of that many MiB goes to several clients at once.
absl::Status Memory(const Programs& programs, uint64_t messages,
                    int large_reply_mib);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_MEMORY_BENCH_H_
