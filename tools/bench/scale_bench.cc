#include "tools/bench/scale_bench.h"

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench/event_load.h"
#include "tools/bench/measure.h"

namespace fake_tcp {
namespace {

constexpr int kThreads = 2;

struct Measured {
  EventLoadResult load;
  // Private memory (KiB) of the server before the storm and with every
  // connection open and idle.
  MemoryRollup before;
  MemoryRollup idle;
};

absl::StatusOr<Measured> Measure(LaunchedServer& server, int connections,
                                 absl::Duration duration) {
  Measured m;
  BENCH_ASSIGN_OR_RETURN(m.before, ReadMemoryRollup(server.process->pid()));
  EventLoadOptions options;
  options.connections = connections;
  options.threads = kThreads;
  options.duration = duration;
  absl::Status idle_status;
  absl::StatusOr<EventLoadResult> load =
      EventLoad(server.address, options, [&] {
        absl::StatusOr<MemoryRollup> idle =
            ReadMemoryRollup(server.process->pid());
        if (idle.ok()) {
          m.idle = *idle;
        } else {
          idle_status = idle.status();
        }
      });
  if (!load.ok()) return load.status();
  BENCH_RETURN_IF_ERROR(idle_status);
  m.load = *std::move(load);
  return m;
}

// Bytes of private memory per connection the idle figure adds.
std::string PerConnection(const Measured& m, int connections) {
  const double bytes =
      static_cast<double>(m.idle.private_kb - m.before.private_kb) * 1024.0 /
      connections;
  return absl::StrFormat("%.0f B", bytes);
}

std::string Us(absl::Duration d) {
  return absl::StrFormat("%.0f", absl::ToDoubleMicroseconds(d));
}

}  // namespace

absl::Status ScaleTable(const Programs& programs,
                        const std::vector<int>& connections,
                        absl::Duration duration, int64_t log_max_events) {
  // The servers launched below inherit the limit: as many descriptors as the
  // hard limit allows.
  if (rlimit nofile; getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
                     nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &nofile);
  }
  // The fake's one extra flag, if any, named as given in the table's title.
  const std::string cap_flag =
      log_max_events > 0 ? absl::StrCat("--log_max_events=", log_max_events)
                         : "";
  printf(
      "## Scale: many persistent connections (%d epoll client threads; %s of "
      "exchanges per server and row; the fake's log at %s)\n\n",
      kThreads, absl::FormatDuration(duration).c_str(),
      cap_flag.empty() ? "its default caps" : cap_flag.c_str());
  printf(
      "| connections | storm fake / bare | private per idle connection fake "
      "/ bare | fake msg/s | errors | fake p50 / p99 µs | bare msg/s | errors "
      "| bare p50 / p99 µs | rate fake / bare | p99 fake / bare |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);
  for (int n : connections) {
    BENCH_ASSIGN_OR_RETURN(const std::string dir, MakeTempDir("bench_scale"));
    std::vector<std::string> argv = {programs.fake, "--port=0", "--quiet",
                                     absl::StrCat("--max_connections=", n + 16),
                                     "--address_file=" + dir + "/addr"};
    if (!cap_flag.empty()) argv.push_back(cap_flag);
    BENCH_ASSIGN_OR_RETURN(
        LaunchedServer fake,
        LaunchAndConnect(argv, dir + "/addr", kBenchTimeout));
    BENCH_ASSIGN_OR_RETURN(LaunchedServer bare, LaunchBare(programs));
    BENCH_ASSIGN_OR_RETURN(const Measured f, Measure(fake, n, duration));
    BENCH_ASSIGN_OR_RETURN(const Measured b, Measure(bare, n, duration));
    BENCH_RETURN_IF_ERROR(StopLaunched(fake));
    BENCH_RETURN_IF_ERROR(StopLaunched(bare));
    const LoadResult& fx = f.load.exchange;
    const LoadResult& bx = b.load.exchange;
    printf(
        "| %d | %s / %s (%llu, %llu errors) | %s / %s | %.0f | %llu | %s / %s "
        "| %.0f | %llu | %s / %s | %s | %s |\n",
        n, Ms(f.load.storm).c_str(), Ms(b.load.storm).c_str(),
        static_cast<unsigned long long>(f.load.storm_errors),
        static_cast<unsigned long long>(b.load.storm_errors),
        PerConnection(f, n).c_str(), PerConnection(b, n).c_str(), fx.per_second,
        static_cast<unsigned long long>(fx.errors), Us(fx.p50).c_str(),
        Us(fx.p99).c_str(), bx.per_second,
        static_cast<unsigned long long>(bx.errors), Us(bx.p50).c_str(),
        Us(bx.p99).c_str(), Ratio(fx.per_second, bx.per_second).c_str(),
        Ratio(absl::ToDoubleMicroseconds(fx.p99),
              absl::ToDoubleMicroseconds(bx.p99))
            .c_str());
    fflush(stdout);
  }
  printf("\n");
  return absl::OkStatus();
}

}  // namespace fake_tcp
