// How fast the fake is ready, on loopback, against a bare epoll server
// launched the same way (a process that only listens and answers):
//
//   tools/bazel run //tools:readiness              # the default build
//   tools/bazel run -c opt //tools:readiness -- --launches=50
//
// For each of --launches launches it measures launch -> first TCP connect
// (the address learnt from --address_file, as the out-of-process fixture
// learns it; the bare server is //tools:bare_server), launch -> health SERVING
// (grpc.health.v1 Watch), and, in this process, FakeTcpServer::Start() ->
// SERVING with its health sidecar. Prints the median and the 90th percentile of
// each, and the ratios to the bare server. Absolute times vary between
// machines; only ratios carry over.

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "server/fake_tcp_server.h"
#include "server/health_sidecar.h"
#include "tools/bare_server.h"
#include "tools/base/file.h"
#include "tools/base/net.h"
#include "tools/cpp/runfiles/runfiles.h"
#include "tools/flags.h"

ABSL_FLAG(int, launches, 20,
          "Launches (and in-process starts) to time, 1..200.");
ABSL_FLAG(std::string, server, "",
          "The fake_tcp_server binary to launch; default: the one in this "
          "program's runfiles.");

extern char** environ;

namespace fake_tcp {
namespace {

constexpr int kUsage = 2;
constexpr absl::Duration kTimeout = absl::Seconds(30);

// Median and 90th percentile of `samples`.
struct Spread {
  absl::Duration median;
  absl::Duration p90;
};

Spread SpreadOf(std::vector<absl::Duration> samples) {
  std::sort(samples.begin(), samples.end());
  if (samples.empty()) return {};
  return {samples[samples.size() / 2], samples[samples.size() * 9 / 10]};
}

// A launched process, killed (SIGTERM, then reaped) when destroyed.
class Launched {
 public:
  static absl::StatusOr<std::unique_ptr<Launched>> Start(
      const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
                                     O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null",
                                     O_WRONLY, 0);
    pid_t pid = 0;
    const int rc =
        posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("spawn ", args[0], ": ", strerror(rc)));
    }
    return std::unique_ptr<Launched>(new Launched(pid));
  }
  pid_t pid() const { return pid_; }
  ~Launched() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }

 private:
  explicit Launched(pid_t pid) : pid_(pid) {}
  const pid_t pid_;
};

// A fresh directory for one launch's files.
std::string TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/readiness.XXXXXX");
  return mkdtemp(pattern.data()) != nullptr ? pattern : "/tmp";
}

// One launch: times to the first TCP connect and (with a health file) to
// SERVING.
struct LaunchTimes {
  absl::Duration connect;
  absl::Duration serving;
  // Resident memory and threads once ready (and, for the fake, SERVING).
  int64_t rss_kb = 0;
  int threads = 0;
};

// Reads VmRSS (kB) and Threads from /proc/<pid>/status.
void ReadStatus(pid_t pid, LaunchTimes* times) {
  absl::StatusOr<std::string> status =
      ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      (void)absl::SimpleAtoi(
          absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"),
          &times->rss_kb);
    } else if (absl::ConsumePrefix(&line, "Threads:")) {
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &times->threads);
    }
  }
}

absl::StatusOr<LaunchTimes> TimeLaunch(std::vector<std::string> args,
                                       const std::string& address_file,
                                       const std::string& health_file) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Launched>> process = Launched::Start(args);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> address =
      WaitForAddressFile(address_file, kTimeout);
  if (!address.ok()) return address.status();
  absl::StatusOr<TcpClient> client = TcpClient::Connect(*address, kTimeout);
  if (!client.ok()) return client.status();
  LaunchTimes times;
  times.connect = absl::Now() - start;
  if (!health_file.empty()) {
    absl::StatusOr<std::string> health =
        WaitForAddressFile(health_file, kTimeout);
    if (!health.ok()) return health.status();
    if (absl::Status s = WaitUntilServing(*health, "fake_tcp_server", kTimeout);
        !s.ok()) {
      return s;
    }
    times.serving = absl::Now() - start;
  }
  ReadStatus((*process)->pid(), &times);
  return times;
}

// FakeTcpServer::Start() -> SERVING on its health sidecar, in this process.
absl::StatusOr<absl::Duration> TimeInProcessStart() {
  const absl::Time start = absl::Now();
  ServerOptions options;
  options.port = 0;
  FakeTcpServer server(options);
  HealthSidecar health(&server);
  if (absl::Status s = server.Start(); !s.ok()) return s;
  if (absl::Status s = health.Start(); !s.ok()) return s;
  if (absl::Status s =
          WaitUntilServing(health.address(), "fake_tcp_server", kTimeout);
      !s.ok()) {
    return s;
  }
  return absl::Now() - start;
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d));
}

int Main(int argc, char** argv) {
  ParseFlagsOrExit(argc, argv, kUsage);
  const int launches = absl::GetFlag(FLAGS_launches);
  if (launches < 1 || launches > 200) {
    fprintf(stderr, "readiness: --launches must be 1..200\n");
    return kUsage;
  }
  std::string error;
  std::unique_ptr<bazel::tools::cpp::runfiles::Runfiles> runfiles(
      bazel::tools::cpp::runfiles::Runfiles::Create(argv[0], &error));
  auto runfile = [&](const char* path) {
    return runfiles != nullptr ? runfiles->Rlocation(path) : std::string();
  };
  std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) server = runfile("fake_tcp_server/tools/fake_tcp_server");
  const std::string bare_server = runfile("fake_tcp_server/tools/bare_server");
  for (const std::string& binary : {server, bare_server}) {
    if (binary.empty() || access(binary.c_str(), X_OK) != 0) {
      fprintf(stderr,
              "readiness: %s not found (run it with tools/bazel run; %s)\n",
              binary.c_str(), error.c_str());
      return kUsage;
    }
  }

  std::vector<absl::Duration> fake_connect, fake_serving, bare_connect,
      in_process;
  std::vector<int64_t> fake_rss, bare_rss;
  int fake_threads = 0, bare_threads = 0;
  for (int i = 0; i < launches; ++i) {
    const std::string dir = TempDir();
    absl::StatusOr<LaunchTimes> fake = TimeLaunch(
        {server, "--port=0", "--quiet", "--address_file=" + dir + "/addr",
         "--health_address_file=" + dir + "/health"},
        dir + "/addr", dir + "/health");
    absl::StatusOr<LaunchTimes> bare = TimeLaunch(
        {bare_server, "--address_file=" + dir + "/bare"}, dir + "/bare", "");
    absl::StatusOr<absl::Duration> start = TimeInProcessStart();
    for (const absl::Status& s :
         {fake.status(), bare.status(), start.status()}) {
      if (!s.ok()) {
        fprintf(stderr, "readiness: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    fake_connect.push_back(fake->connect);
    fake_serving.push_back(fake->serving);
    bare_connect.push_back(bare->connect);
    fake_rss.push_back(fake->rss_kb);
    bare_rss.push_back(bare->rss_kb);
    fake_threads = fake->threads;
    bare_threads = bare->threads;
    in_process.push_back(*start);
  }
  const Spread fc = SpreadOf(fake_connect);
  const Spread fs = SpreadOf(fake_serving);
  const Spread bc = SpreadOf(bare_connect);
  const Spread ip = SpreadOf(in_process);
  printf("readiness: %d launches each (median, p90)\n", launches);
  printf("  %-48s %10s %10s\n", "", "median", "p90");
  auto row = [](const char* what, const Spread& s) {
    printf("  %-48s %10s %10s\n", what, Ms(s.median).c_str(),
           Ms(s.p90).c_str());
  };
  row("fake_tcp_server: launch -> first TCP connect", fc);
  row("bare epoll server: launch -> first TCP connect", bc);
  row("fake_tcp_server: launch -> health SERVING", fs);
  row("in process: Start() -> health SERVING", ip);
  std::sort(fake_rss.begin(), fake_rss.end());
  std::sort(bare_rss.begin(), bare_rss.end());
  printf("  %-48s %7.1f MB (%d threads)\n",
         "fake_tcp_server: idle RSS once SERVING",
         static_cast<double>(fake_rss[fake_rss.size() / 2]) / 1024,
         fake_threads);
  printf("  %-48s %7.1f MB (%d threads)\n", "bare epoll server: idle RSS",
         static_cast<double>(bare_rss[bare_rss.size() / 2]) / 1024,
         bare_threads);
  printf("  ratio fake / bare, launch -> connect: %.2fx (median)\n",
         absl::ToDoubleMilliseconds(fc.median) /
             std::max(1e-9, absl::ToDoubleMilliseconds(bc.median)));
  return 0;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
