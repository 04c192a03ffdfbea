#ifndef TOOLS_BENCH_MEASURE_H_
#define TOOLS_BENCH_MEASURE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/subprocess.h"

namespace fake_tcp {

// The median, the 90th and the 99th percentile of a set of samples.
struct Spread {
  absl::Duration median;
  absl::Duration p90;
  absl::Duration p99;
};
Spread SpreadOf(std::vector<absl::Duration> samples);

// What /proc/PID/status says of a process's memory and threads.
struct ProcessStatus {
  // VmRSS, in KiB, and of it RssAnon: the process's private memory (heap,
  // stacks), not the executable's pages mapped from the page cache.
  int64_t rss_kb = 0;
  int64_t anon_kb = 0;
  // VmHWM: the peak of VmRSS so far.
  int64_t peak_kb = 0;
  int threads = 0;
};
absl::StatusOr<ProcessStatus> ReadProcessStatus(pid_t pid);

// What /proc/PID/smaps_rollup says, in KiB: resident, anonymous (heap,
// stacks) and private (Private_Clean + Private_Dirty: the pages no other
// process shares, what running one more fake costs).
struct MemoryRollup {
  int64_t rss_kb = 0;
  int64_t anon_kb = 0;
  int64_t private_kb = 0;
};
absl::StatusOr<MemoryRollup> ReadMemoryRollup(pid_t pid);

// The resident memory of each file a process maps (the executable, each
// shared library; by permissions: "libc.so.6 r-xp" is its code) and of its
// anonymous mappings ("[heap]", "[stack]",
// "anonymous": thread stacks and mmap'ed heap), from /proc/PID/smaps, in KiB,
// the largest first.
struct Mapping {
  std::string name;
  int64_t rss_kb = 0;
  int64_t private_kb = 0;
};
absl::StatusOr<std::vector<Mapping>> ReadMappings(pid_t pid);

// A server process launched for a measurement: learns its address from the
// file it writes (as the out-of-process fixture does) and connects once.
struct LaunchedServer {
  std::optional<testing::Subprocess> process;
  // When the spawn began.
  absl::Time launched;
  // Launch -> the first TCP connect accepted.
  absl::Duration connect;
  std::string address;
};

// Launches `argv` (which must include `--address_file=` + `address_file`),
// waits up to `timeout` for the address file, and connects to it. Errors name
// the program and what it wrote on stderr.
absl::StatusOr<LaunchedServer> LaunchAndConnect(
    const std::vector<std::string>& argv, const std::string& address_file,
    absl::Duration timeout);

// True if the ELF executable at `path` asks for no program interpreter (a
// fully static link); false for a dynamic one or what cannot be read.
bool IsStaticExecutable(const std::string& path);

// A new directory of its own under $TEST_TMPDIR (or $TMPDIR, or /tmp), named
// <prefix>.XXXXXX; UNAVAILABLE naming the pattern if it cannot be made.
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);

// "12.34 ms"; "1.25x" (a / b; "-" when b is zero); "16.7 MB".
std::string Ms(absl::Duration d);
std::string Ratio(double a, double b);
std::string Mb(int64_t kb);

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_MEASURE_H_
