// The whole performance table in one command, for the fake and a bare epoll
// server measured in the same run, with their ratios:
//
//   tools/bazel run //tools/bench               # the build a test suite gets
//   tools/bazel run -c opt //tools/bench
//   tools/bazel run --config=static //tools/bench
//
// Readiness (launch -> first TCP connect, launch -> health SERVING, in-process
// Start() -> SERVING; idle resident memory and threads), the fixture's overhead
// in and out of process, load (one-shot and persistent connections at each
// --clients count: rate, errors, p50/p99/p99.9 latency), scale (the connect
// storm, private memory per idle connection and persistent load at each
// --scale_connections count, from the event-driven generator), bulk
// (--bulk_mib through one connection each way), memory (idle, after
// --memory_messages logged messages, after the log is cleared), the control
// API and the Python plugin. Prints
// Markdown, the tables of tools/bench/README.md. Absolute numbers
// vary between machines; only the ratios carry over. Loopback only, bounded
// in clients and time; it stops by itself.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "server/base/errno_status.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/base/unique_fd.h"
#include "server/fake_tcp_server.h"
#include "server/health/health_sidecar.h"
#include "testing/harness.h"
#include "testing/subprocess.h"
#include "tools/bench/bare_server.h"
#include "tools/bench/bench_common.h"
#include "tools/bench/bulk_bench.h"
#include "tools/bench/control_bench.h"
#include "tools/bench/load.h"
#include "tools/bench/measure.h"
#include "tools/bench/memory_bench.h"
#include "tools/bench/scale_bench.h"
#include "tools/flags.h"

ABSL_FLAG(int, launches, 20,
          "Launches, in-process starts and fixture set-ups to time, each "
          "(1..200).");
ABSL_FLAG(std::vector<std::string>, clients,
          std::vector<std::string>({"1", "16", "64", "256"}),
          "Client counts to load with, each 1..256.");
ABSL_FLAG(std::vector<std::string>, modes,
          std::vector<std::string>({"oneshot", "persistent"}),
          "Load modes: oneshot (a connection per message), persistent.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(2),
          "How long each load measurement runs, per server (0, 60s].");
ABSL_FLAG(int, large_reply_mib, 100,
          "memory section: the size of the one reply sent to 4 clients at once "
          "(MiB, 0..1024; 0: not measured).");
ABSL_FLAG(int64_t, memory_messages, 1000000,
          "Messages to log before the \"after\" memory figures "
          "(0..10000000; 0 leaves the memory table out).");
ABSL_FLAG(int, bulk_mib, 1024,
          "bulk section: MiB through one connection each way (1..1024; "
          "--reply_file holds at most 1 GiB).");
ABSL_FLAG(std::vector<std::string>, scale_connections,
          std::vector<std::string>({"1000", "10000"}),
          "scale section: persistent connections held at once, each "
          "1..100000 (the descriptor hard limit must allow them).");
ABSL_FLAG(int64_t, scale_log_max_events, 0,
          "scale section: launch the fake with --log_max_events at this "
          "value (0..10000000; 0: the fake's default cap).");
ABSL_FLAG(std::vector<std::string>, sections,
          std::vector<std::string>({"readiness", "fixture", "load", "scale",
                                    "bulk", "memory", "control", "python"}),
          "Which tables to print.");

// The compilation mode and the link, from BUILD.
#define FAKE_TCP_BENCH_STR2(x) #x
#define FAKE_TCP_BENCH_STR(x) FAKE_TCP_BENCH_STR2(x)
#ifdef FAKE_TCP_BENCH_STATIC
#define FAKE_TCP_BENCH_LINK "static"
#else
#define FAKE_TCP_BENCH_LINK "dynamic (in-process rows)"
#endif

namespace fake_tcp {
namespace {

constexpr int kUsage = 2;
constexpr absl::Duration kTimeout = kBenchTimeout;

std::string Cell(const Spread& s) {
  return absl::StrCat(Ms(s.median), " (p90 ", Ms(s.p90), ")");
}
double MsOf(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Times `launches` runs of `once`, which returns one sample or an error.
absl::StatusOr<Spread> Time(
    int launches, const std::function<absl::StatusOr<absl::Duration>()>& once) {
  std::vector<absl::Duration> samples;
  for (int i = 0; i < launches; ++i) {
    BENCH_ASSIGN_OR_RETURN(const absl::Duration sample, once());
    samples.push_back(sample);
  }
  return SpreadOf(std::move(samples));
}

// The standalone fake launched as the out-of-process fixture launches it.
std::vector<std::string> FakeArgs(const Programs& p, const std::string& dir) {
  return {p.fake, "--port=0", "--quiet", "--address_file=" + dir + "/addr",
          "--health_address_file=" + dir + "/health"};
}

absl::Status Readiness(const Programs& programs, int launches) {
  std::vector<absl::Duration> fake_connect, fake_serving, bare_connect;
  ProcessStatus fake_status, bare_status;
  // One server at a time: each is measured alone, then killed and reaped. The
  // bare server's launches come first, from a process that has not used gRPC
  // yet (nothing else of ours running); the fake's come after.
  for (int i = 0; i < launches; ++i) {
    BENCH_ASSIGN_OR_RETURN(LaunchedServer bare, LaunchBare(programs));
    bare_connect.push_back(bare.connect);
    BENCH_ASSIGN_OR_RETURN(bare_status, ReadProcessStatus(bare.process->pid()));
  }
  for (int i = 0; i < launches; ++i) {
    BENCH_ASSIGN_OR_RETURN(const std::string dir, MakeTempDir("bench_launch"));
    BENCH_ASSIGN_OR_RETURN(
        LaunchedServer fake,
        LaunchAndConnect(FakeArgs(programs, dir), dir + "/addr", kTimeout));
    BENCH_ASSIGN_OR_RETURN(
        const std::string health,
        WaitForAddressFile(dir + "/health", kTimeout, fake.process->pidfd()));
    BENCH_RETURN_IF_ERROR(WaitUntilServing(health, kService, kTimeout));
    fake_serving.push_back(absl::Now() - fake.launched);
    fake_connect.push_back(fake.connect);
    BENCH_ASSIGN_OR_RETURN(fake_status, ReadProcessStatus(fake.process->pid()));
  }
  BENCH_ASSIGN_OR_RETURN(const Spread in_process,
                         Time(launches, []() -> absl::StatusOr<absl::Duration> {
                           const absl::Time start = absl::Now();
                           ServerOptions options;
                           options.port = 0;
                           FakeTcpServer server(options);
                           HealthSidecar health(&server);
                           BENCH_RETURN_IF_ERROR(server.Start());
                           BENCH_RETURN_IF_ERROR(health.Start());
                           BENCH_RETURN_IF_ERROR(WaitUntilServing(
                               health.address(), kService, kTimeout));
                           return absl::Now() - start;
                         }));
  const Spread fc = SpreadOf(fake_connect), bc = SpreadOf(bare_connect);
  const Spread fs = SpreadOf(fake_serving);
  printf("## Readiness (%d launches each)\n\n", launches);
  printf("| figure | fake_tcp_server | bare server | fake / bare |\n");
  printf("|---|---|---|---|\n");
  printf("| launch -> first TCP connect | %s | %s | %s |\n", Cell(fc).c_str(),
         Cell(bc).c_str(), Ratio(MsOf(fc.median), MsOf(bc.median)).c_str());
  printf(
      "| launch -> health SERVING | %s | no health endpoint: vs its first "
      "connect | %s |\n",
      Cell(fs).c_str(), Ratio(MsOf(fs.median), MsOf(bc.median)).c_str());
  printf("| in process: Start() -> health SERVING | %s | - | - |\n",
         Cell(in_process).c_str());
  printf(
      "| idle RSS once ready (private; threads) | %s (%s; %d) | %s (%s; %d) "
      "| %s |\n\n",
      Mb(fake_status.rss_kb).c_str(), Mb(fake_status.anon_kb).c_str(),
      fake_status.threads, Mb(bare_status.rss_kb).c_str(),
      Mb(bare_status.anon_kb).c_str(), bare_status.threads,
      Ratio(static_cast<double>(fake_status.rss_kb),
            static_cast<double>(bare_status.rss_kb))
          .c_str());
  return absl::OkStatus();
}

absl::Status Fixture(const Programs& programs, int launches) {
  auto harness = [](bool out_of_process) {
    return [out_of_process]() -> absl::StatusOr<absl::Duration> {
      testing::FixtureOptions options;
      options.server.port = 0;
      options.out_of_process = out_of_process;
      const absl::Time start = absl::Now();
      testing::Harness h(options);
      BENCH_RETURN_IF_ERROR(h.Start());
      h.Stop();
      return absl::Now() - start;
    };
  };
  BENCH_ASSIGN_OR_RETURN(const Spread in_process,
                         Time(launches, harness(false)));
  BENCH_ASSIGN_OR_RETURN(const Spread out_of_process,
                         Time(launches, harness(true)));
  // What any in-process server costs at least: listen, serve, stop.
  BENCH_ASSIGN_OR_RETURN(
      const Spread bare_in_process,
      Time(launches, []() -> absl::StatusOr<absl::Duration> {
        const absl::Time start = absl::Now();
        BENCH_ASSIGN_OR_RETURN(BoundListener listener,
                               Listen("127.0.0.1", 0, SOMAXCONN));
        { BareServer bare(listener.fd.release(), listener.address); }
        return absl::Now() - start;
      }));
  // And out of process: launch, learn the address, connect, stop.
  BENCH_ASSIGN_OR_RETURN(
      const Spread bare_out,
      Time(launches, [&programs]() -> absl::StatusOr<absl::Duration> {
        BENCH_ASSIGN_OR_RETURN(LaunchedServer bare, LaunchBare(programs));
        bare.process->Signal(SIGTERM);
        BENCH_RETURN_IF_ERROR(bare.process->Wait(kTimeout).status());
        return absl::Now() - bare.launched;
      }));
  printf("## Fixture overhead: SetUp + TearDown (%d each)\n\n", launches);
  printf("| fixture | fake_tcp_server | bare server | fake / bare |\n");
  printf("|---|---|---|---|\n");
  printf("| in process | %s | %s | %s |\n", Cell(in_process).c_str(),
         Cell(bare_in_process).c_str(),
         Ratio(MsOf(in_process.median), MsOf(bare_in_process.median)).c_str());
  printf("| out of process | %s | %s | %s |\n\n", Cell(out_of_process).c_str(),
         Cell(bare_out).c_str(),
         Ratio(MsOf(out_of_process.median), MsOf(bare_out.median)).c_str());
  return absl::OkStatus();
}

std::string Latencies(const LoadResult& r) {
  return absl::StrFormat(
      "%.1f / %.1f / %.1f µs", absl::ToDoubleMicroseconds(r.p50),
      absl::ToDoubleMicroseconds(r.p99), absl::ToDoubleMicroseconds(r.p999));
}

absl::Status LoadTable(const std::vector<std::string>& modes,
                       const std::vector<int>& clients,
                       absl::Duration duration) {
  printf("## Load (%s per server and row; latency of one exchange)\n\n",
         absl::FormatDuration(duration).c_str());
  printf(
      "| mode | clients | fake msg/s | errors | fake p50 / p99 / p99.9 | "
      "bare msg/s | errors | bare p50 / p99 / p99.9 | rate fake / bare | "
      "p50 fake / bare |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|\n");
  fflush(stdout);
  for (const std::string& mode : modes) {
    for (int n : clients) {
      LoadOptions load;
      load.persistent = mode == "persistent";
      load.clients = n;
      // Both servers up for the whole row, measured in the order fake, bare,
      // bare, fake (half the time each): what drifts during a row (the
      // machine's other work, the scheduler's view of the clients) weighs on
      // both alike.
      ServerOptions options;
      options.port = 0;
      FakeTcpServer fake_server(options);
      BENCH_RETURN_IF_ERROR(fake_server.Start());
      BENCH_ASSIGN_OR_RETURN(BoundListener listener,
                             Listen("127.0.0.1", 0, SOMAXCONN));
      BareServer bare_server(listener.fd.release(), listener.address);
      load.duration = duration / 2;
      const LoadResult fake1 = Load(fake_server.address(), load);
      const LoadResult bare1 = Load(bare_server.address(), load);
      const LoadResult bare2 = Load(bare_server.address(), load);
      const LoadResult fake2 = Load(fake_server.address(), load);
      const LoadResult fake = Combine(fake1, fake2);
      const LoadResult bare = Combine(bare1, bare2);
      printf("| %s | %d | %.0f | %llu | %s | %.0f | %llu | %s | %s | %s |\n",
             mode.c_str(), n, fake.per_second,
             static_cast<unsigned long long>(fake.errors),
             Latencies(fake).c_str(), bare.per_second,
             static_cast<unsigned long long>(bare.errors),
             Latencies(bare).c_str(),
             Ratio(fake.per_second, bare.per_second).c_str(),
             Ratio(absl::ToDoubleMicroseconds(fake.p50),
                   absl::ToDoubleMicroseconds(bare.p50))
                 .c_str());
      fflush(stdout);
    }
  }
  printf("\n");
  return absl::OkStatus();
}

// Reads one line the memory subject wrote on `fd`, waiting up to `timeout`.
absl::Status Run(const std::vector<std::string>& sections,
                 const std::vector<int>& clients, const std::vector<int>& scale,
                 const std::vector<std::string>& modes, int launches,
                 absl::Duration duration, uint64_t messages);

int Main(int argc, char** argv) {
  ParseFlagsOrExit(argc, argv, kUsage);
  const int launches = absl::GetFlag(FLAGS_launches);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int64_t messages = absl::GetFlag(FLAGS_memory_messages);
  std::vector<std::string> problems;
  if (launches < 1 || launches > 200) {
    problems.push_back(absl::StrCat("--launches=", launches, ": 1..200"));
  }
  if (duration <= absl::ZeroDuration() || duration > absl::Seconds(60)) {
    problems.push_back(absl::StrCat(
        "--duration=", absl::FormatDuration(duration), ": (0, 60s]"));
  }
  if (messages < 0 || messages > 10000000) {
    problems.push_back(
        absl::StrCat("--memory_messages=", messages, ": 0..10000000"));
  }
  if (const int mib = absl::GetFlag(FLAGS_large_reply_mib);
      mib < 0 || mib > 1024) {
    problems.push_back(absl::StrCat("--large_reply_mib=", mib, ": 0..1024"));
  }
  std::vector<int> clients;
  for (const std::string& c : absl::GetFlag(FLAGS_clients)) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n < 1 || n > 256) {
      problems.push_back(absl::StrCat("--clients: \"", c, "\": 1..256"));
    }
    clients.push_back(n);
  }
  if (const int bulk = absl::GetFlag(FLAGS_bulk_mib); bulk < 1 || bulk > 1024) {
    problems.push_back(absl::StrCat("--bulk_mib=", bulk, ": 1..1024"));
  }
  if (const int64_t cap = absl::GetFlag(FLAGS_scale_log_max_events);
      cap < 0 || cap > 10000000) {
    problems.push_back(
        absl::StrCat("--scale_log_max_events=", cap, ": 0..10000000"));
  }
  std::vector<int> scale;
  for (const std::string& c : absl::GetFlag(FLAGS_scale_connections)) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n < 1 || n > 100000) {
      problems.push_back(
          absl::StrCat("--scale_connections: \"", c, "\": 1..100000"));
    }
    scale.push_back(n);
  }
  const std::vector<std::string> modes = absl::GetFlag(FLAGS_modes);
  for (const std::string& m : modes) {
    if (m != "oneshot" && m != "persistent") {
      problems.push_back(
          absl::StrCat("--modes: \"", m, "\": oneshot or persistent"));
    }
  }
  const std::vector<std::string> sections = absl::GetFlag(FLAGS_sections);
  for (const std::string& s : sections) {
    if (s != "readiness" && s != "fixture" && s != "load" && s != "scale" &&
        s != "bulk" && s != "memory" && s != "control" && s != "python") {
      problems.push_back(absl::StrCat("--sections: \"", s,
                                      "\": readiness, fixture, load, scale, "
                                      "bulk, memory, control or python"));
    }
  }
  if (!problems.empty()) {
    fprintf(stderr, "bench: %s\n", absl::StrJoin(problems, "; ").c_str());
    return kUsage;
  }
  const absl::Status status = Run(sections, clients, scale, modes, launches,
                                  duration, static_cast<uint64_t>(messages));
  if (!status.ok()) {
    fprintf(stderr, "bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

// The Python section: client/python/bench/python_bench.py with Debian's
// python3, the package from the runfiles and this run's fake; its table goes to
// stdout.
absl::Status PythonTable(const Programs& programs, int launches) {
  BENCH_ASSIGN_OR_RETURN(
      const std::string script,
      testing::Runfile("fake_tcp_server/client/python/bench/python_bench.py"));
  BENCH_ASSIGN_OR_RETURN(
      const std::string package,
      testing::Runfile(
          "fake_tcp_server/client/python/fake_tcp_server/__init__.py"));
  const std::string root =
      std::filesystem::path(package).parent_path().parent_path().string();
  testing::Subprocess::Options options;
  options.env = {"PYTHONPATH=" + root, "FAKE_TCP_SERVER_BIN=" + programs.fake};
  options.stdout_fd = STDOUT_FILENO;
  fflush(stdout);
  BENCH_ASSIGN_OR_RETURN(
      testing::Subprocess bench,
      testing::Subprocess::Start(
          {"/usr/bin/python3", script, absl::StrCat("--launches=", launches)},
          options));
  BENCH_ASSIGN_OR_RETURN(const int code, bench.Wait(absl::Minutes(10)));
  if (code != 0) {
    return absl::InternalError(absl::StrCat("python section: ", script,
                                            " exited with ", code, ": ",
                                            bench.Stderr()));
  }
  return absl::OkStatus();
}

// The bench once the flags are checked.
absl::Status Run(const std::vector<std::string>& sections,
                 const std::vector<int>& clients, const std::vector<int>& scale,
                 const std::vector<std::string>& modes, int launches,
                 absl::Duration duration, uint64_t messages) {
  // Every file a run writes goes to a directory of its own, removed at the end.
  BENCH_ASSIGN_OR_RETURN(const std::string tmp, MakeTempDir("bench"));
  setenv("TEST_TMPDIR", tmp.c_str(), 1);
  absl::Cleanup remove = [&tmp] {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
  };
  Programs programs;
  BENCH_ASSIGN_OR_RETURN(
      programs.fake, testing::Runfile("fake_tcp_server/tools/fake_tcp_server"));
  BENCH_ASSIGN_OR_RETURN(
      programs.bare,
      testing::Runfile("fake_tcp_server/tools/bench/bare_server"));
  BENCH_ASSIGN_OR_RETURN(
      programs.memory_subject,
      testing::Runfile("fake_tcp_server/tools/bench/memory_subject"));

  printf(
      "# fake_tcp_server bench: -c %s; the bench %s, the standalone server %s; "
      "%ld cores, loopback\n\n",
      FAKE_TCP_BENCH_STR(FAKE_TCP_BENCH_MODE), FAKE_TCP_BENCH_LINK,
      IsStaticExecutable(programs.fake) ? "static" : "dynamic",
      sysconf(_SC_NPROCESSORS_ONLN));
  printf(
      "Absolute numbers vary between machines; only the ratios to the bare "
      "server (one epoll thread, no log, no health endpoint, only the C and "
      "C++ runtimes loaded), measured in the same run, carry over. Clients "
      "and servers share the machine's cores.\n\n");
  fflush(stdout);
  auto wanted = [&sections](const char* name) {
    return std::find(sections.begin(), sections.end(), name) != sections.end();
  };
  if (wanted("readiness")) BENCH_RETURN_IF_ERROR(Readiness(programs, launches));
  if (wanted("fixture")) BENCH_RETURN_IF_ERROR(Fixture(programs, launches));
  if (wanted("load"))
    BENCH_RETURN_IF_ERROR(LoadTable(modes, clients, duration));
  if (wanted("scale")) {
    BENCH_RETURN_IF_ERROR(ScaleTable(
        programs, scale, duration, absl::GetFlag(FLAGS_scale_log_max_events)));
  }
  if (wanted("bulk")) {
    BENCH_RETURN_IF_ERROR(BulkTable(programs, absl::GetFlag(FLAGS_bulk_mib)));
  }
  if (wanted("memory") && messages > 0) {
    BENCH_RETURN_IF_ERROR(
        Memory(programs, messages, absl::GetFlag(FLAGS_large_reply_mib)));
  }
  if (wanted("control")) {
    BENCH_RETURN_IF_ERROR(ControlTable(launches * 20));
    BENCH_RETURN_IF_ERROR(ControlPollingTable(duration));
  }
  if (wanted("python")) BENCH_RETURN_IF_ERROR(PythonTable(programs, launches));
  return absl::OkStatus();
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
