#ifndef TOOLS_SHUTDOWN_SIGNALS_H_
#define TOOLS_SHUTDOWN_SIGNALS_H_

#include <signal.h>

namespace fake_tcp {

// How the standalone server learns to stop: SIGINT, SIGTERM or, when asked, the
// end of its standard input (a launcher that holds a pipe to it went away,
// however). Signals are taken by sigwait(), never by a handler, in every
// thread.
//
//   ShutdownSignals signals(stop_on_stdin_eof);  // before any thread starts
//   ... start serving ...
//   const char* why = signals.Wait();  // "SIGTERM", "SIGINT", ...
//   ... shut down: a second signal now exits at once ...
class ShutdownSignals {
 public:
  // Blocks SIGINT and SIGTERM (and SIGUSR1, the end of stdin, with
  // `stop_on_stdin_eof`) in this thread and the threads it starts later.
  explicit ShutdownSignals(bool stop_on_stdin_eof);
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Waits for the request to stop and names it: "SIGINT", "SIGTERM" or
  // "standard input ended". Signals that came with it are the same request;
  // one that comes after it ends the process at once (exit 128 + signal).
  const char* Wait();

 private:
  const bool stop_on_stdin_eof_;
  sigset_t signals_;
};

}  // namespace fake_tcp

#endif  // TOOLS_SHUTDOWN_SIGNALS_H_
