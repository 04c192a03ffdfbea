#include "tools/shutdown_signals.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <thread>

namespace fake_tcp {

ShutdownSignals::ShutdownSignals(bool stop_on_stdin_eof)
    : stop_on_stdin_eof_(stop_on_stdin_eof) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  if (stop_on_stdin_eof_) sigaddset(&signals_, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

const char* ShutdownSignals::Wait() {
  // The end of standard input is SIGUSR1 to the sigwait() below: one that comes
  // after a SIGTERM is never taken, where a second SIGTERM would end the
  // process.
  if (stop_on_stdin_eof_) {
    std::thread([] {
      char buffer[512];
      ssize_t n;
      while ((n = read(STDIN_FILENO, buffer, sizeof buffer)) > 0 ||
             (n < 0 && errno == EINTR)) {
      }
      kill(getpid(), SIGUSR1);
    }).detach();
  }
  int signal_number = 0;
  sigwait(&signals_, &signal_number);
  // What came with it (a SIGTERM and the end of stdin as a launcher exits) is
  // the same request, not a second signal; the signal names it.
  const timespec now = {0, 0};
  for (int more; (more = sigtimedwait(&signals_, nullptr, &now)) > 0;) {
    if (more != SIGUSR1) signal_number = more;
  }
  // A second signal ends the process at once, whatever shutdown is doing.
  std::thread([] {
    sigset_t second;
    sigemptyset(&second);
    sigaddset(&second, SIGINT);
    sigaddset(&second, SIGTERM);
    int again = 0;
    sigwait(&second, &again);
    _exit(128 + again);
  }).detach();
  return signal_number == SIGINT    ? "SIGINT"
         : signal_number == SIGUSR1 ? "standard input ended"
                                    : "SIGTERM";
}

}  // namespace fake_tcp
