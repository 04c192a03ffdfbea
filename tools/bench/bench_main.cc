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
// --clients count: rate, errors, p50/p99/p99.9 latency) and memory (idle,
// after --memory_messages logged messages, after the log is cleared). Prints
// Markdown, the tables of tools/README.md's "Performance". Absolute numbers
// vary between machines; only the ratios carry over. Loopback only, bounded
// in clients and time; it stops by itself.

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

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "server/fake_tcp_server.h"
#include "server/health_sidecar.h"
#include "testing/harness.h"
#include "testing/subprocess.h"
#include "tools/base/file.h"
#include "tools/base/net.h"
#include "tools/bench/bare_server.h"
#include "tools/bench/load.h"
#include "tools/bench/measure.h"
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
ABSL_FLAG(int64_t, memory_messages, 1000000,
          "Messages to log before the \"after\" memory figures "
          "(0..10000000; 0 leaves the memory table out).");
ABSL_FLAG(std::vector<std::string>, sections,
          std::vector<std::string>({"readiness", "fixture", "load", "memory"}),
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
constexpr absl::Duration kTimeout = absl::Seconds(30);
constexpr char kService[] = "fake_tcp_server";

struct Programs {
  std::string fake;            // //tools:fake_tcp_server
  std::string bare;            // //tools/bench:bare_server
  std::string memory_subject;  // //tools/bench:memory_subject
};

// Stops the run with `status` (the bench's only error path).
[[noreturn]] void Die(const absl::Status& status) {
  fprintf(stderr, "bench: %s\n", status.ToString().c_str());
  exit(1);
}
template <typename T>
T OrDie(absl::StatusOr<T> value) {
  if (!value.ok()) Die(value.status());
  return *std::move(value);
}

std::string Cell(const Spread& s) {
  return absl::StrCat(Ms(s.median), " (p90 ", Ms(s.p90), ")");
}
double MsOf(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// Times `launches` runs of `once`, which returns one sample.
Spread Time(int launches, const std::function<absl::Duration()>& once) {
  std::vector<absl::Duration> samples;
  for (int i = 0; i < launches; ++i) samples.push_back(once());
  return SpreadOf(std::move(samples));
}

// The standalone fake launched as the out-of-process fixture launches it.
std::vector<std::string> FakeArgs(const Programs& p, const std::string& dir) {
  return {p.fake, "--port=0", "--quiet", "--address_file=" + dir + "/addr",
          "--health_address_file=" + dir + "/health"};
}

void Readiness(const Programs& programs, int launches) {
  std::vector<absl::Duration> fake_connect, fake_serving, bare_connect;
  ProcessStatus fake_status, bare_status;
  // One server at a time: each is measured alone, then killed and reaped. The
  // bare server's launches come first, from a process that has not used gRPC
  // yet (nothing else of ours running); the fake's come after.
  for (int i = 0; i < launches; ++i) {
    const std::string dir = OrDie(MakeTempDir("bench_launch"));
    LaunchedServer bare = OrDie(
        LaunchAndConnect({programs.bare, "--address_file=" + dir + "/bare"},
                         dir + "/bare", kTimeout));
    bare_connect.push_back(bare.connect);
    bare_status = OrDie(ReadProcessStatus(bare.process->pid()));
  }
  for (int i = 0; i < launches; ++i) {
    const std::string dir = OrDie(MakeTempDir("bench_launch"));
    LaunchedServer fake = OrDie(
        LaunchAndConnect(FakeArgs(programs, dir), dir + "/addr", kTimeout));
    const std::string health =
        OrDie(WaitForAddressFile(dir + "/health", kTimeout));
    if (absl::Status s = WaitUntilServing(health, kService, kTimeout);
        !s.ok()) {
      Die(s);
    }
    fake_serving.push_back(absl::Now() - fake.launched);
    fake_connect.push_back(fake.connect);
    fake_status = OrDie(ReadProcessStatus(fake.process->pid()));
  }
  const Spread in_process = Time(launches, [] {
    const absl::Time start = absl::Now();
    ServerOptions options;
    options.port = 0;
    FakeTcpServer server(options);
    HealthSidecar health(&server);
    for (const absl::Status& s : {server.Start(), health.Start()}) {
      if (!s.ok()) Die(s);
    }
    if (absl::Status s = WaitUntilServing(health.address(), kService, kTimeout);
        !s.ok()) {
      Die(s);
    }
    return absl::Now() - start;
  });
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
}

void Fixture(const Programs& programs, int launches) {
  auto harness = [](bool out_of_process) {
    return [out_of_process] {
      testing::FixtureOptions options;
      options.server.port = 0;
      options.out_of_process = out_of_process;
      const absl::Time start = absl::Now();
      testing::Harness h(options);
      if (absl::Status s = h.Start(); !s.ok()) Die(s);
      h.Stop();
      return absl::Now() - start;
    };
  };
  const Spread in_process = Time(launches, harness(false));
  const Spread out_of_process = Time(launches, harness(true));
  // What any in-process server costs at least: listen, serve, stop.
  const Spread bare_in_process = Time(launches, [] {
    const absl::Time start = absl::Now();
    BoundListener listener = OrDie(Listen("127.0.0.1", 0, SOMAXCONN));
    { BareServer bare(listener.fd.release(), listener.address); }
    return absl::Now() - start;
  });
  // And out of process: launch, learn the address, connect, stop.
  const Spread bare_out = Time(launches, [&programs] {
    const std::string dir = OrDie(MakeTempDir("bench_fixture"));
    LaunchedServer bare = OrDie(
        LaunchAndConnect({programs.bare, "--address_file=" + dir + "/bare"},
                         dir + "/bare", kTimeout));
    bare.process->Signal(SIGTERM);
    if (absl::StatusOr<int> code = bare.process->Wait(kTimeout); !code.ok()) {
      Die(code.status());
    }
    return absl::Now() - bare.launched;
  });
  printf("## Fixture overhead: SetUp + TearDown (%d each)\n\n", launches);
  printf("| fixture | fake_tcp_server | bare server | fake / bare |\n");
  printf("|---|---|---|---|\n");
  printf("| in process | %s | %s | %s |\n", Cell(in_process).c_str(),
         Cell(bare_in_process).c_str(),
         Ratio(MsOf(in_process.median), MsOf(bare_in_process.median)).c_str());
  printf("| out of process | %s | %s | %s |\n\n", Cell(out_of_process).c_str(),
         Cell(bare_out).c_str(),
         Ratio(MsOf(out_of_process.median), MsOf(bare_out.median)).c_str());
}

std::string Latencies(const LoadResult& r) {
  return absl::StrFormat(
      "%.1f / %.1f / %.1f µs", absl::ToDoubleMicroseconds(r.p50),
      absl::ToDoubleMicroseconds(r.p99), absl::ToDoubleMicroseconds(r.p999));
}

void LoadTable(const std::vector<std::string>& modes,
               const std::vector<int>& clients, absl::Duration duration) {
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
      if (absl::Status s = fake_server.Start(); !s.ok()) Die(s);
      BoundListener listener = OrDie(Listen("127.0.0.1", 0, SOMAXCONN));
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
}

// Reads one line the memory subject wrote on `fd`, waiting up to `timeout`.
absl::StatusOr<std::string> ReadLine(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  char c = 0;
  while (true) {
    pollfd p = {fd, POLLIN, 0};
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("memory_subject said nothing within ",
                       absl::FormatDuration(timeout), " (so far: ", line, ")"));
    }
    if (read(fd, &c, 1) != 1) {
      return absl::UnavailableError("memory_subject closed its stdout");
    }
    if (c == '\n') return line;
    line.push_back(c);
  }
}

void Memory(const Programs& programs, uint64_t messages) {
  LoadOptions load;
  load.persistent = true;
  load.clients = 16;
  load.duration = absl::Minutes(5);
  load.max_messages = messages;

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) Die(absl::InternalError("pipe2"));
  testing::Subprocess::Options options;
  options.stdout_fd = pipe_fds[1];
  testing::Subprocess subject =
      OrDie(testing::Subprocess::Start({programs.memory_subject}, options));
  close(pipe_fds[1]);
  const std::vector<std::string> addresses =
      absl::StrSplit(OrDie(ReadLine(pipe_fds[0], kTimeout)), ' ');
  if (addresses.size() != 2) {
    Die(absl::DataLossError("memory_subject: no \"address health\" line"));
  }
  if (absl::Status s = WaitUntilServing(addresses[1], kService, kTimeout);
      !s.ok()) {
    Die(s);
  }
  const ProcessStatus fake_idle = OrDie(ReadProcessStatus(subject.pid()));
  const LoadResult fake_load = Load(addresses[0], load);
  const ProcessStatus fake_after = OrDie(ReadProcessStatus(subject.pid()));
  subject.Signal(SIGUSR1);
  const std::string cleared = OrDie(ReadLine(pipe_fds[0], kTimeout));
  const ProcessStatus fake_cleared = OrDie(ReadProcessStatus(subject.pid()));
  close(pipe_fds[0]);

  const std::string dir = OrDie(MakeTempDir("bench_memory"));
  LaunchedServer bare =
      OrDie(LaunchAndConnect({programs.bare, "--address_file=" + dir + "/bare"},
                             dir + "/bare", kTimeout));
  const ProcessStatus bare_idle = OrDie(ReadProcessStatus(bare.process->pid()));
  const LoadResult bare_load = Load(bare.address, load);
  const ProcessStatus bare_after =
      OrDie(ReadProcessStatus(bare.process->pid()));

  // "cleared <received> <dropped>"
  const std::vector<std::string> counts = absl::StrSplit(cleared, ' ');
  printf(
      "## Memory: resident (RSS; private: RssAnon), the fake library and its "
      "health sidecar in a process of their own (%d threads)\n\n",
      fake_idle.threads);
  printf("| figure | fake_tcp_server | bare server | fake / bare |\n");
  printf("|---|---|---|---|\n");
  auto mb = [](const ProcessStatus& p) {
    return absl::StrCat(Mb(p.rss_kb), " (private ", Mb(p.anon_kb), ")");
  };
  auto row = [&mb](const std::string& what, const ProcessStatus& fake,
                   const std::string& bare, double bare_kb) {
    printf("| %s | %s | %s | %s |\n", what.c_str(), mb(fake).c_str(),
           bare.c_str(),
           Ratio(static_cast<double>(fake.rss_kb), bare_kb).c_str());
  };
  row("idle, SERVING", fake_idle, mb(bare_idle),
      static_cast<double>(bare_idle.rss_kb));
  row(absl::StrFormat("after %d messages (fake: %d, bare: %d; %d errors)",
                      messages, fake_load.messages, bare_load.messages,
                      fake_load.errors + bare_load.errors),
      fake_after, mb(bare_after), static_cast<double>(bare_after.rss_kb));
  row("after the log is cleared (MessageLog::Clear())", fake_cleared, "-", 0);
  printf(
      "\nThe log kept its newest entries within its limits (LogLimits: 100,000 "
      "entries, 64 MiB) and dropped the rest: %s messages received, %s "
      "entries dropped (a message, a reply, a connection event: an entry "
      "each). After the clear: %+.1f MB over idle.\n\n",
      counts.size() == 3 ? counts[1].c_str() : "?",
      counts.size() == 3 ? counts[2].c_str() : "?",
      static_cast<double>(fake_cleared.rss_kb - fake_idle.rss_kb) / 1024);
}

int Main(int argc, char** argv) {
  ParseFlagsOrExit(argc, argv, kUsage);
  const int launches = absl::GetFlag(FLAGS_launches);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int64_t messages = absl::GetFlag(FLAGS_memory_messages);
  std::vector<int> clients;
  bool ok = launches >= 1 && launches <= 200 &&
            duration > absl::ZeroDuration() && duration <= absl::Seconds(60) &&
            messages >= 0 && messages <= 10000000;
  for (const std::string& c : absl::GetFlag(FLAGS_clients)) {
    int n = 0;
    ok = ok && absl::SimpleAtoi(c, &n) && n >= 1 && n <= 256;
    clients.push_back(n);
  }
  const std::vector<std::string> modes = absl::GetFlag(FLAGS_modes);
  for (const std::string& m : modes) {
    ok = ok && (m == "oneshot" || m == "persistent");
  }
  const std::vector<std::string> sections = absl::GetFlag(FLAGS_sections);
  for (const std::string& s : sections) {
    ok = ok &&
         (s == "readiness" || s == "fixture" || s == "load" || s == "memory");
  }
  if (!ok) {
    fprintf(stderr,
            "bench: --launches must be 1..200, --duration (0, 60s], "
            "--memory_messages 0..10000000, --clients each 1..256, --modes "
            "oneshot or persistent, --sections readiness, fixture, load or "
            "memory\n");
    return kUsage;
  }
  // Every file a run writes goes to a directory of its own, removed at exit
  // (an error's exit too).
  static const std::string* const tmp =
      new std::string(OrDie(MakeTempDir("bench")));
  setenv("TEST_TMPDIR", tmp->c_str(), 1);
  atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(*tmp, ignored);
  });
  Programs programs;
  programs.fake =
      OrDie(testing::Runfile("fake_tcp_server/tools/fake_tcp_server"));
  programs.bare =
      OrDie(testing::Runfile("fake_tcp_server/tools/bench/bare_server"));
  programs.memory_subject =
      OrDie(testing::Runfile("fake_tcp_server/tools/bench/memory_subject"));

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
  if (wanted("readiness")) Readiness(programs, launches);
  if (wanted("fixture")) Fixture(programs, launches);
  if (wanted("load")) LoadTable(modes, clients, duration);
  if (wanted("memory") && messages > 0) {
    Memory(programs, static_cast<uint64_t>(messages));
  }
  return 0;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
