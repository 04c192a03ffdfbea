#ifndef TOOLS_BENCH_MEMORY_BENCH_H_
#define TOOLS_BENCH_MEMORY_BENCH_H_

#include <cstdint>

#include "absl/status/status.h"
#include "tools/bench/bench_common.h"

namespace fake_tcp {

// Prints the memory table: resident and private memory of the fake (the
// library and its health sidecar in a process of their own,
// //tools/bench:memory_subject) idle, after `messages` logged messages and
// after a clear, against the bare server idle and after the same load.
absl::Status Memory(const Programs& programs, uint64_t messages);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_MEMORY_BENCH_H_
