#ifndef TESTING_HARNESS_H_
#define TESTING_HARNESS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/fake_tcp_server.h"
#include "server/health/health_sidecar.h"
#include "server/log/message_log.h"
#include "server/script.h"
#include "testing/child_server.h"
#include "testing/fixture_options.h"
#include "testing/server_control.h"

namespace fake_tcp::testing {

// A wait that failed, for the transcript.
struct FailedWait {
  absl::Time time;
  // "2 messages", "a message that is equal to \"x\"".
  std::string what;
  // The status message.
  std::string why;
};

// Runs one fake server with its health endpoint, in or out of process, and
// blocks until the endpoint says SERVING. Used by the fixture and the shared
// environment.
//
// Thread-safe after Start(). Start() is called once, by the test's thread;
// Stop() from that thread too, and again at no cost (it is idempotent; the
// destructor calls it).
class Harness {
 public:
  explicit Harness(FixtureOptions options);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Starts the server and its health endpoint and waits for SERVING. Errors say
  // what was seen (the port in use, with what to do about it; the last health
  // status; the child's stderr).
  absl::Status Start();
  // Stops the server (SIGTERM for a child, which then must exit within 30 s)
  // and completes the log. Idempotent.
  void Stop();

  // The log (out of process: a mirror of the child's, complete after Stop();
  // empty if Start() failed early).
  const MessageLog& log() const;
  MessageLog& mutable_log();
  // The runtime operations on the server, the same in and out of process
  // (testing/server_control.h). Valid after Start() returned OK.
  ServerControl& control() { return *control_; }
  // The in-process server (C++ responders and faults), or null out of
  // process: prefer control(), which works in both modes.
  FakeTcpServer* server() { return server_.get(); }
  // The in-process script (which rules matched, messages no rule matched), or
  // null without `options.script` or out of process.
  ScriptedResponder* script() { return script_.get(); }
  // "127.0.0.1:9500".
  std::string address() const;
  int port() const;
  std::string health_address() const;
  // With options.server.tls and a made certificate, after Start(): a PEM file
  // of the CA the code under test must trust; "" otherwise.
  std::string tls_ca_file() const;
  const FixtureOptions& options() const { return options_; }

  // Remembers a failed wait for the transcript.
  void RecordFailedWait(FailedWait wait) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<FailedWait> failed_waits() const ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets failed waits (the shared environment, between tests).
  void ClearFailedWaits() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Status StartInProcess();

  const FixtureOptions options_;
  // In process.
  std::shared_ptr<ScriptedResponder> script_;
  std::unique_ptr<FakeTcpServer> server_;
  std::unique_ptr<HealthSidecar> health_;
  std::string tls_ca_file_;
  // Out of process.
  std::unique_ptr<ChildServer> child_;
  // Either's.
  std::unique_ptr<ServerControl> control_;
  bool stopped_ = false;

  // What log() returns when Start() failed before there was a server or mirror.
  MessageLog empty_log_;

  // Guards the failed waits, recorded from any thread.
  mutable absl::Mutex mu_;
  std::vector<FailedWait> failed_waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp::testing

#endif  // TESTING_HARNESS_H_
