#ifndef TOOLS_BENCH_BENCH_COMMON_H_
#define TOOLS_BENCH_BENCH_COMMON_H_

// What the bench's sections share: the programs they launch, the bare server
// launched and connected to, and the macros that end a section on an error.

#include <signal.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/measure.h"

namespace fake_tcp {

inline constexpr absl::Duration kBenchTimeout = absl::Seconds(30);
// The health service the fakes it launches serve.
inline constexpr char kService[] = "fake_tcp_server";

struct Programs {
  std::string fake;            // //tools:fake_tcp_server
  std::string bare;            // //tools/bench:bare_server
  std::string memory_subject;  // //tools/bench:memory_subject
};

// Errors end the section that met them with their status (so every child
// process it started is killed and reaped on the way out), then the run.
#define BENCH_CONCAT2(a, b) a##b
#define BENCH_CONCAT(a, b) BENCH_CONCAT2(a, b)
#define BENCH_ASSIGN_OR_RETURN(lhs, expr)                 \
  auto BENCH_CONCAT(bench_value_, __LINE__) = (expr);     \
  if (!BENCH_CONCAT(bench_value_, __LINE__).ok()) {       \
    return BENCH_CONCAT(bench_value_, __LINE__).status(); \
  }                                                       \
  lhs = *std::move(BENCH_CONCAT(bench_value_, __LINE__))
#define BENCH_RETURN_IF_ERROR(expr)                             \
  if (absl::Status bench_status = (expr); !bench_status.ok()) { \
    return bench_status;                                        \
  }

// The bare server launched, its address learnt from its file, connected to.
inline absl::StatusOr<LaunchedServer> LaunchBare(const Programs& programs) {
  absl::StatusOr<std::string> dir = MakeTempDir("bench_bare");
  if (!dir.ok()) return dir.status();
  return LaunchAndConnect({programs.bare, "--address_file=" + *dir + "/bare"},
                          *dir + "/bare", kBenchTimeout);
}

// Stops a launched server with SIGTERM and reaps it.
inline absl::Status StopLaunched(LaunchedServer& server) {
  server.process->Signal(SIGTERM);
  return server.process->Wait(kBenchTimeout).status();
}

}  // namespace fake_tcp

#endif  // TOOLS_BENCH_BENCH_COMMON_H_
