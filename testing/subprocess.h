#ifndef TESTING_SUBPROCESS_H_
#define TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fake_tcp::testing {

// A child process for tests: started with an argument vector (no shell), its
// stdout and stderr written to files under `$TEST_TMPDIR`, waited for with a
// deadline (a pidfd, no polling). Not thread-safe. The destructor kills
// (SIGKILL) and reaps a child still running, so a failing test never leaves one
// behind.
class Subprocess {
 public:
  struct Options {
    // Added to this process's environment ("NAME=value"; wins over inherited).
    std::vector<std::string> env;
    // The child's stdout, if >= 0 (e.g. a pipe's write end, which the caller
    // still owns); else a file under $TEST_TMPDIR that Stdout() reads.
    int stdout_fd = -1;
    // The child's stdin, if >= 0 (e.g. a pipe's read end, which the caller
    // still owns; open it O_CLOEXEC so the child holds no other end); else
    // /dev/null.
    int stdin_fd = -1;
  };

  // Starts `argv[0]` (a path) with `argv`. Returns the spawn error naming the
  // program.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const Options& options);
  static absl::StatusOr<Subprocess> Start(
      const std::vector<std::string>& argv) {
    return Start(argv, Options());
  }

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();

  // Waits up to `timeout` for the child to exit. Returns its exit code, or 128
  // + the signal number if a signal ended it; DEADLINE_EXCEEDED if it is still
  // running.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // Sends `signal` to the child (if it is still running).
  void Signal(int signal);

  // Returns what the child wrote so far ("" for a stdout given as a fd).
  std::string Stdout() const;
  std::string Stderr() const;
  // Where the child's stdout and stderr go.
  const std::string& stdout_path() const { return stdout_path_; }
  const std::string& stderr_path() const { return stderr_path_; }
  // The child's process id (e.g. for /proc/PID).
  pid_t pid() const { return pid_; }
  // A pidfd of the child: readable once it has exited (for poll()).
  int pidfd() const { return pidfd_; }

 private:
  Subprocess() = default;
  void Reset();

  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::string stdout_path_;
  std::string stderr_path_;
};

// Returns the path of a runfile such as
// "fake_tcp_server/tools/fake_tcp_server", found through Bazel's runfiles (no
// absolute paths), or NOT_FOUND.
absl::StatusOr<std::string> Runfile(const std::string& path);

}  // namespace fake_tcp::testing

#endif  // TESTING_SUBPROCESS_H_
