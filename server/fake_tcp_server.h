#ifndef SERVER_FAKE_TCP_SERVER_H_
#define SERVER_FAKE_TCP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/base/unique_fd.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "server/options/server_options.h"
#include "server/reply/reply.h"

namespace fake_tcp {

class IoLoop;
struct IoWork;
struct QueuedTask;

// A fake TCP server for tests: listens on loopback, records every message and
// connection event in a MessageLog, and replies "Received" (or what `responder`
// says).
//
// Lifetime: the constructor only stores options. `Start()` binds and listens on
// the calling thread, so when it returns OK a connect() can never be refused,
// then starts one I/O thread (epoll, non-blocking sockets). `Stop()` or the
// destructor stops accepting, closes every connection, and joins the thread. A
// server starts at most once. The log outlives Stop() and stays readable until
// the server is destroyed.
//
// Thread-safety: every public method may be called from any thread,
// concurrently.
//
//   fake_tcp::FakeTcpServer server;  // 127.0.0.1:9500
//   ASSERT_TRUE(server.Start().ok());
//   // The code under test connects, sends "Hello, world", gets "Received".
//   EXPECT_TRUE(server.log().WaitForMessages(1, absl::Seconds(5)).ok());
class FakeTcpServer {
 public:
  explicit FakeTcpServer(ServerOptions options = ServerOptions());
  ~FakeTcpServer();
  FakeTcpServer(const FakeTcpServer&) = delete;
  FakeTcpServer& operator=(const FakeTcpServer&) = delete;

  // Binds, listens and starts the I/O thread. Returns OK when the listener
  // accepts; INVALID_ARGUMENT for a bad option or an address that does not
  // resolve; the bind or listen error with the address and cause otherwise,
  // e.g. UNAVAILABLE "bind 127.0.0.1:9500: Address already in use";
  // FAILED_PRECONDITION when called a second time.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(lifecycle_mu_, mu_);

  // Stops accepting, closes every connection (logging kServerClosed for each),
  // wakes and joins the I/O thread. Idempotent; a no-op before Start(). Called
  // from the I/O thread (inside a Responder or decoder), it only asks the
  // thread to stop after the current event and returns at once; the thread is
  // joined by the next Stop() from another thread or by the destructor.
  void Stop() ABSL_LOCKS_EXCLUDED(lifecycle_mu_, mu_);

  // Returns the bound port (the chosen one for port 0); 0 before a successful
  // Start().
  int port() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns "host:port" of the listener, "[::1]:port" for IPv6; empty before
  // Start().
  std::string address() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the listener's state.
  ListenerState state() const ABSL_LOCKS_EXCLUDED(mu_);
  // Connections open at once, past which one more is accepted and closed at
  // once (kConnectionLimit): options.max_connections, lowered by Start() to
  // what the descriptor limit leaves (server/descriptor_budget.h; the log says
  // so).
  size_t max_connections() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether max_connections() connections are open, so a new one is refused.
  // The listener state and health stay as they are (accepting, SERVING).
  bool at_capacity() const ABSL_LOCKS_EXCLUDED(mu_);

  // Commands. Each is carried out by the I/O thread; called from another
  // thread, it returns once done (the effect is visible to clients); called
  // from the I/O thread (a Responder), it is queued and done after the current
  // event.

  // Sends `reply` (with its faults) on connection `connection_id`. Returns
  // NOT_FOUND if that connection is not open, FAILED_PRECONDITION if the server
  // is not running.
  absl::Status Send(uint64_t connection_id, Reply reply)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends `reply` on every open connection; returns how many.
  // FAILED_PRECONDITION if the server is not running.
  absl::StatusOr<int> Broadcast(Reply reply) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every open connection now: with a FIN, or a reset (RST) when
  // `reset`. Returns how many; FAILED_PRECONDITION if the server is not
  // running.
  absl::StatusOr<int> DropConnections(bool reset = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the open connections, oldest first, with their counters as the
  // I/O thread last published them; never waits for the I/O thread, so any
  // thread may call it, a Responder too. FAILED_PRECONDITION if the server is
  // not running.
  absl::StatusOr<std::vector<ConnectionInfo>> Connections()
      ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces the responder (an empty one restores `options.reply`) for messages
  // after it returns. FAILED_PRECONDITION if the server is not running.
  absl::Status SetResponder(Responder responder) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops accepting and closes the listener: connects are refused. Open
  // connections carry on. The health sidecar reports NOT_SERVING.
  absl::Status StopAccepting() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops accepting but keeps listening: connects complete in the kernel's
  // backlog and wait there, unserved. The health sidecar reports NOT_SERVING.
  absl::Status PauseAccepting() ABSL_LOCKS_EXCLUDED(mu_);
  // Accepts again after StopAccepting() (binding the same address and port
  // again, before it returns) or PauseAccepting() (serving the backlog).
  // Returns the bind error if the port was taken meanwhile.
  absl::Status ResumeAccepting() ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `observer` after every change of state() (and once now, so it sees
  // the current state). Calls are serialized by a mutex of their own (so an
  // observer must not add or remove observers, nor change the listener's
  // state), are made with no other lock of the server held (it may call
  // state()), and may come from any thread that changes the state: the
  // observer reads state() itself. Returns an id for RemoveStateObserver.
  int AddStateObserver(std::function<void()> observer)
      ABSL_LOCKS_EXCLUDED(observers_mu_, mu_);
  // Removes an observer; when it returns, the observer is not running and will
  // not run.
  void RemoveStateObserver(int id) ABSL_LOCKS_EXCLUDED(observers_mu_);

  // The record of everything the server saw and sent.
  MessageLog& log() { return log_; }
  const MessageLog& log() const { return log_; }

  const ServerOptions& options() const { return options_; }

  // With options.tls, after Start(): the CA certificate (PEM) clients must
  // trust when the server made its own certificate; "" otherwise.
  std::string tls_ca_pem() const ABSL_LOCKS_EXCLUDED(mu_);
  // With options.tls, after Start(): the server's certificate chain and key
  // (PEM), as loaded or made (for the health endpoint's TLS).
  Certificate tls_certificate() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Runs `task` on the I/O thread, named `op` in errors. From another thread:
  // returns its result once it ran; from the I/O thread (a Responder): queues
  // it and returns std::nullopt. FAILED_PRECONDITION "<op>: the server is not
  // running (<state>)" before Start() and after Stop().
  absl::StatusOr<std::optional<int>> RunOnIoThread(
      absl::string_view op, absl::AnyInvocable<int(IoLoop&)> task)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Changes the listener's state to `to` from one of `from` (OK at once if it
  // is `to` already) and queues the task `make_task` returns, all in one
  // critical section, so concurrent transitions never interleave; then waits
  // for the task (unless on the I/O thread) and notifies the observers. A
  // `make_task` error (Resume's bind) leaves everything as it was.
  absl::Status ChangeListener(
      absl::string_view op, std::initializer_list<ListenerState> from,
      ListenerState to,
      absl::FunctionRef<
          absl::StatusOr<absl::AnyInvocable<int(IoLoop&)>>(ListenerState now)>
          make_task) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns FAILED_PRECONDITION "<op>: the server is not running (...)"
  // unless the I/O thread serves.
  absl::Status CheckRunningLocked(absl::string_view op) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `task` for the I/O thread and wakes it. Returns true iff called on
  // the I/O thread (then nobody may wait for `done`).
  bool EnqueueLocked(QueuedTask task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands the queued tasks and the stop request to the I/O thread.
  IoWork TakeWork() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs every state observer, one at a time.
  void NotifyStateObservers() ABSL_LOCKS_EXCLUDED(observers_mu_);

  const ServerOptions options_;
  MessageLog log_;

  // Guards the state observers and serializes their calls.
  absl::Mutex observers_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::vector<std::pair<int, std::function<void()>>> observers_
      ABSL_GUARDED_BY(observers_mu_);
  int next_observer_id_ ABSL_GUARDED_BY(observers_mu_) = 1;

  // Serializes Start() and Stop(); guards the I/O thread object.
  absl::Mutex lifecycle_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::thread io_thread_ ABSL_GUARDED_BY(lifecycle_mu_);

  // Guards the listener's published state, the stop request the I/O thread
  // reads, and the eventfd that wakes it (open from Start() until the thread is
  // joined).
  mutable absl::Mutex mu_;
  std::thread::id io_thread_id_ ABSL_GUARDED_BY(mu_);
  // The running loop (owned by the I/O thread), for Connections(); null
  // before Start() and once the loop has ended.
  IoLoop* loop_ ABSL_GUARDED_BY(mu_) = nullptr;
  UniqueFd wake_fd_ ABSL_GUARDED_BY(mu_);
  ListenerState state_ ABSL_GUARDED_BY(mu_) = ListenerState::kNotStarted;
  size_t max_connections_ ABSL_GUARDED_BY(mu_) = options_.max_connections;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<QueuedTask> tasks_ ABSL_GUARDED_BY(mu_);
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::string tls_ca_pem_ ABSL_GUARDED_BY(mu_);
  Certificate tls_certificate_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_FAKE_TCP_SERVER_H_
