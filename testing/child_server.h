#ifndef TESTING_CHILD_SERVER_H_
#define TESTING_CHILD_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/log/message_log.h"
#include "testing/event_log_follower.h"
#include "testing/fixture_options.h"
#include "testing/subprocess.h"

namespace fake_tcp::testing {

// The fake server as a child process: //tools:fake_tcp_server (from the
// test's runfiles) run with the flags of FixtureOptions (server options
// through server/options/options_flags.h, the script as a file, extra_flags),
// its message log mirrored live from its --event_log, its control API on (an
// ephemeral loopback port, --control_address_file) for
// testing/server_control.h.
//
// Lifetime: Start() launches the child and returns once its health endpoint
// says SERVING; Stop() (or the destructor) sends SIGTERM, waits for the exit
// (SIGKILL after 30 s) and completes the mirror. Not thread-safe, except
// log(), which is a MessageLog.
class ChildServer {
 public:
  explicit ChildServer(const FixtureOptions* options) : options_(*options) {}
  ~ChildServer() { Stop(); }
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;

  // Starts the child and waits for SERVING, up to options.ready_timeout.
  // INVALID_ARGUMENT naming an option that cannot reach a child (C++ code) or
  // a bad script; NOT_FOUND without the binary in the runfiles; UNAVAILABLE
  // with the child's stderr (and the port-in-use hint) if it did not serve.
  absl::Status Start();
  // Stops the child and completes the log. Idempotent.
  void Stop();

  // The mirror of the child's log; complete after Stop().
  MessageLog& log() { return *mirror_; }
  const MessageLog& log() const { return *mirror_; }
  // Returns false before Start() made the mirror.
  bool has_log() const { return mirror_ != nullptr; }
  // "127.0.0.1:9500"; empty before SERVING.
  const std::string& address() const { return address_; }
  const std::string& health_address() const { return health_address_; }
  // The child's control API address file (--control_address_file); there
  // once Start() returned OK.
  const std::string& control_address_file() const {
    return control_address_file_;
  }
  // With options.server.tls and a made certificate: the file the child wrote
  // its CA to (--tls_ca_file); "" otherwise.
  const std::string& tls_ca_file() const { return tls_ca_file_; }

 private:
  // The error for a child that did not come up, with its exit and stderr.
  absl::Status Failed(absl::string_view what);

  const FixtureOptions& options_;
  std::unique_ptr<Subprocess> child_;
  std::unique_ptr<MessageLog> mirror_;
  EventLogFollower follower_;
  std::string address_;
  std::string health_address_;
  std::string control_address_file_;
  std::string tls_ca_file_;
  bool stopped_ = false;
};

}  // namespace fake_tcp::testing

#endif  // TESTING_CHILD_SERVER_H_
