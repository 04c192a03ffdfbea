#include "testing/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "server/base/deadline.h"
#include "server/testing/test_util.h"
#include "tools/cpp/runfiles/runfiles.h"

extern char** environ;

namespace fake_tcp::testing {
namespace {

std::string TempDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace

absl::StatusOr<Subprocess> Subprocess::Start(
    const std::vector<std::string>& argv, const Options& options) {
  const std::vector<std::string>& env = options.env;
  if (argv.empty()) return absl::InvalidArgumentError("Subprocess: empty argv");
  // Unique per process and call (the pid alone is not unique in a sandbox).
  static std::atomic<int> counter{0};
  const std::string base =
      absl::StrCat(TempDir(), "/subprocess_", getpid(), "_",
                   counter.fetch_add(1), "_", absl::ToUnixNanos(absl::Now()));
  Subprocess p;
  p.stdout_path_ = base + ".stdout";
  p.stderr_path_ = base + ".stderr";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, STDIN_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
  }
  if (options.stdout_fd >= 0) {
    p.stdout_path_.clear();
    posix_spawn_file_actions_adddup2(&actions, options.stdout_fd,
                                     STDOUT_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                     p.stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                   p.stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child starts with default signal handling and an empty mask.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    const absl::string_view name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& extra : env) {
      overridden |= absl::StartsWith(extra, absl::StrCat(name, "="));
    }
    if (!overridden) envp.push_back(*e);
  }
  for (const std::string& extra : env) {
    envp.push_back(const_cast<char*>(extra.c_str()));
  }
  envp.push_back(nullptr);
  const int rc = posix_spawn(&p.pid_, argv[0].c_str(), &actions, &attr,
                             args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    p.pid_ = -1;
    return absl::InternalError(
        absl::StrCat("spawn ", argv[0], ": ", strerror(rc)));
  }
  p.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, p.pid_, 0));
  if (p.pidfd_ < 0) {
    return absl::InternalError(
        absl::StrCat("pidfd_open for ", argv[0], ": ", strerror(errno)));
  }
  return p;
}

Subprocess::Subprocess(Subprocess&& other) noexcept {
  *this = std::move(other);
}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    reaped_ = other.reaped_;
    exit_code_ = other.exit_code_;
    stdout_path_ = std::move(other.stdout_path_);
    stderr_path_ = std::move(other.stderr_path_);
  }
  return *this;
}

Subprocess::~Subprocess() { Reset(); }

void Subprocess::Reset() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (pidfd_ >= 0) close(pidfd_);
  pid_ = -1;
  pidfd_ = -1;
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (reaped_) return exit_code_;
  if (pid_ <= 0) return absl::FailedPreconditionError("Wait: no child");
  const absl::Time deadline = absl::Now() + timeout;
  pollfd p{pidfd_, POLLIN, 0};
  while (true) {
    const int rc = poll(&p, 1, PollTimeoutMs(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("child ", pid_, " still running after ",
                       absl::FormatDuration(timeout)));
    }
    break;
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) {
    return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  }
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

void Subprocess::Signal(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

std::string Subprocess::Stdout() const {
  return stdout_path_.empty() ? "" : ReadFile(stdout_path_);
}
std::string Subprocess::Stderr() const { return ReadFile(stderr_path_); }

absl::StatusOr<std::string> Runfile(const std::string& path) {
  using bazel::tools::cpp::runfiles::Runfiles;
  std::string error;
  std::unique_ptr<Runfiles> runfiles(Runfiles::CreateForTest(&error));
  if (runfiles == nullptr) {
    // Not a test (e.g. `bazel run` of a benchmark): find runfiles beside the
    // program.
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
      self[n] = '\0';
      runfiles.reset(Runfiles::Create(self, &error));
    }
  }
  if (runfiles == nullptr) {
    return absl::NotFoundError(absl::StrCat("runfiles: ", error));
  }
  const std::string found = runfiles->Rlocation(path);
  struct stat st;
  if (found.empty() || stat(found.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("runfile ", path, " not found"));
  }
  return found;
}

}  // namespace fake_tcp::testing
