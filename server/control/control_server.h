#ifndef SERVER_CONTROL_CONTROL_SERVER_H_
#define SERVER_CONTROL_CONTROL_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
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
// never the server's I/O thread. A wait blocks a thread of its own (at most
// max_pending_waits of them) and ends early when its client goes away.
//
// Lifetime: Start() binds and listens before it returns, then starts the
// thread; Stop() or the destructor ends every pending wait (CANCELLED), stops
// the thread and closes the listener. Thread-safe: every method may be called
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
  struct Wait;

  static void OnRequest(evhttp_request* req, void* self);
  static void OnConnectionClosed(evhttp_connection* conn, void* self);
  static void OnWaitsDone(int, short, void* self);
  static void OnPeerGone(int, short, void* wait);

  // Answers one request on the evhttp thread.
  void Handle(evhttp_request* req);
  // Runs `work` (a wait) on a thread of its own; its answer goes out from the
  // evhttp thread once done, or is dropped if the client went away.
  void StartWait(evhttp_request* req, std::string op,
                 std::function<absl::StatusOr<std::string>(
                     const std::atomic<bool>* cancelled)>
                     work) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the answers of finished waits and joins their threads.
  void FinishWaits() ABSL_LOCKS_EXCLUDED(mu_);

  FakeTcpServer& server_;
  const ControlOptions options_;
  const std::string token_;
  ControlService service_;

  // Owned by the evhttp thread once it runs; created by Start(), freed by
  // Stop() after the join.
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  event* waits_done_ = nullptr;
  // Made active by Stop(): ends the loop from inside it (a loopbreak made
  // before the loop runs would be forgotten).
  event* stop_ = nullptr;
  std::thread thread_;
  // Connections that have sent a request (the evhttp thread's alone).
  absl::flat_hash_set<evhttp_connection*> connections_;

  // Guards the state below, shared with the wait threads.
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string url_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<Wait>> waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_SERVER_H_
