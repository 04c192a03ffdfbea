#ifndef SERVER_CONTROL_CONTROL_SERVER_H_
#define SERVER_CONTROL_CONTROL_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/control/control_service.h"
#include "server/fake_tcp_server.h"

struct event;
struct event_base;
struct evhttp;
struct evhttp_connection;
struct evhttp_request;

namespace fake_tcp {

// Where the control API listens, who may use it, and its bounds.
struct ControlOptions {
  // Loopback only, unless allow_non_loopback.
  std::string address = "127.0.0.1";
  // 0 picks a free port.
  int port = 0;
  bool allow_non_loopback = false;
  // The bearer token every request must carry; empty: 32 random bytes in hex.
  std::string token;
  // A larger request body is refused with 413.
  size_t max_body_bytes = size_t{1} << 20;
  // Connections that have sent a request, open at once; one more gets 503.
  int max_connections = 64;
  // Waits (and log reads with a wait) blocked at once; one more gets 429.
  int max_pending_waits = 64;
  // A connection silent this long (reading a request, or idle) is closed.
  absl::Duration io_timeout = absl::Seconds(60);
  // What the service may do beyond the server (transcript, shutdown), and its
  // page and wait bounds.
  ControlServiceOptions service;
};

// The control API (server/control/control.proto, HTTP/1.1 + JSON under /v1/)
// of one FakeTcpServer, served by libevent's evhttp on a thread of its own,
// never the server's I/O thread. A pending wait (at most max_pending_waits)
// holds no thread: it is checked on the evhttp thread after each change of the
// log, and ends early when its client goes away.
//
// Lifetime: Start() binds and listens before it returns, then starts the
// thread; Stop() or the destructor drops every pending wait unanswered (its
// client sees the connection close), stops the thread and closes the listener.
// The server must outlive it. Thread-safe: every method may be called
// from any thread.
//
//   fake_tcp::ControlServer control(&server);
//   ASSERT_TRUE(control.Start().ok());
//   // curl -H "Authorization: Bearer $(token)"
//   http://<control.address()>/v1/status
class ControlServer {
 public:
  // `server` is not owned and must outlive this object.
  explicit ControlServer(FakeTcpServer* server,
                         ControlOptions options = ControlOptions());
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds, listens and starts serving. INVALID_ARGUMENT for a non-loopback
  // address without allow_non_loopback or a bad bound; the bind error naming
  // the address otherwise; FAILED_PRECONDITION when called twice.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends pending waits, stops serving and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // "http://127.0.0.1:40123" ("http://[::1]:40123"); empty before Start().
  std::string url() const ABSL_LOCKS_EXCLUDED(mu_);
  int port() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& token() const { return token_; }
  // The address file's contents: {"url": ..., "token": ..., "port": ...,
  // "tcp_address": ..., "health_address": ...}.
  std::string AddressJson() const ABSL_LOCKS_EXCLUDED(mu_);
  // Writes AddressJson() to `path` atomically with mode 0600.
  absl::Status WriteAddressFile(const std::string& path) const;

  ControlService& service() { return service_; }

  // Returns how many waits are pending (blocked, or done and not yet
  // answered).
  size_t pending_waits() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns true once exactly `n` waits are pending; false after `timeout`.
  bool AwaitPendingWaits(size_t n, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Answers a pending request once it can (not nullopt); with `final` (its
  // deadline) it must. Runs on the evhttp thread.
  using Poll =
      std::function<std::optional<absl::StatusOr<std::string>>(bool final)>;
  // A pending request (control_waits.cc), the evhttp thread's.
  struct Wait {
    ControlServer* server = nullptr;
    evhttp_request* req = nullptr;
    std::string op;
    Poll poll;
    // Fires when the client closes its connection.
    event* peer_gone = nullptr;
    // Fires at the deadline.
    event* deadline = nullptr;
  };

  static void OnRequest(evhttp_request* req, void* self);
  static void OnConnectionClosed(evhttp_connection* conn, void* self);
  static void OnLogChanged(int, short, void* self);
  static void OnPeerGone(int, short, void* wait);
  static void OnDeadline(int, short, void* wait);

  // Answers one request on the evhttp thread.
  void Handle(evhttp_request* req);
  // A request that may have to wait (control_waits.cc): answered now if
  // `poll` can, else kept, polled again after each change of the log (no
  // thread of its own), and answered by `timeout` at the latest; CANCELLED if
  // its client goes away first.
  void StartWait(evhttp_request* req, std::string op, absl::Duration timeout,
                 Poll poll) ABSL_LOCKS_EXCLUDED(mu_);
  // Answers `wait` with `answer` and forgets it.
  void EndWait(Wait* wait, const absl::StatusOr<std::string>& answer)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Polls every pending wait; answers those that can be.
  void PollWaits() ABSL_LOCKS_EXCLUDED(mu_);
  // The polls of GET /v1/log?wait= and POST /v1/wait.
  Poll LogPoll(control::LogQuery query);
  absl::StatusOr<Poll> WaitPoll(const control::WaitRequest& request,
                                absl::Duration* timeout);
  // Frees every pending wait unanswered (Stop(), after the loop ended).
  void DropWaits() ABSL_LOCKS_EXCLUDED(mu_);

  FakeTcpServer& server_;
  const ControlOptions options_;
  const std::string token_;
  ControlService service_;

  // Owned by the evhttp thread once it runs; created by Start(), freed by
  // Stop() after the join.
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  // Made active (from any thread) by the log's listener while waits are
  // pending: they are polled then.
  event* log_changed_ = nullptr;
  int log_listener_ = 0;
  std::atomic<bool> waiting_{false};
  // Made active by Stop(): ends the loop from inside it (a loopbreak made
  // before the loop runs would be forgotten).
  event* stop_ = nullptr;
  std::thread thread_;
  // Connections that have sent a request (the evhttp thread's alone).
  absl::flat_hash_set<evhttp_connection*> connections_;

  // Guards the state below: read from other threads (pending_waits(), url()).
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string url_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<Wait>> waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_SERVER_H_
