#ifndef SERVER_FAKE_TCP_SERVER_H_
#define SERVER_FAKE_TCP_SERVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/framing.h"
#include "server/message_log.h"

namespace fake_tcp {

// A message as the responder sees it. The views are valid only during the call.
struct ReceivedMessage {
  uint64_t connection_id = 0;
  absl::string_view peer;   // "127.0.0.1:54321"
  absl::string_view bytes;  // the framed message
  uint64_t index =
      0;  // 0 for the first message on this connection, then 1, ...
};

// Decides the reply to one message: the bytes to send, or std::nullopt for no
// reply. Runs on the server's I/O thread: it must not block, and must not call
// Stop() (see Stop).
using Responder =
    std::function<std::optional<std::string>(const ReceivedMessage& message)>;

// How a FakeTcpServer listens, frames, replies and bounds its memory. Every
// field has a usable default; `FakeTcpServer::Start` rejects bad values with
// INVALID_ARGUMENT.
struct ServerOptions {
  // Where to listen: an IP literal ("127.0.0.1", "::1") or a host name resolved
  // once at Start ("localhost"). Loopback by default.
  std::string address = "127.0.0.1";
  // The TCP port; 0 picks a free one (see FakeTcpServer::port()). 9500 is the
  // port of the hand-written fakes this replaces, which code under test often
  // hard-codes.
  int port = 9500;
  // The listen backlog; connects beyond it wait in SYN queues.
  int backlog = SOMAXCONN;
  // How each connection's bytes are cut into messages.
  Framing framing = Framing::Raw();
  // A larger message closes its connection with an kOversize event.
  size_t max_message_size = size_t{1} << 20;
  // Connections open at once; one more is accepted and closed with
  // kConnectionLimit.
  size_t max_connections = 1024;
  // Unsent reply bytes per connection past which the server stops reading from
  // it until the peer reads (a slow reader never grows memory without bound).
  size_t max_pending_output = size_t{8} << 20;
  // Bytes read from a socket at a time (raw framing: at most max_message_size).
  size_t read_size = size_t{64} << 10;
  // Bounds on the message log.
  LogLimits log_limits;
  // The reply to every message when `responder` is empty; std::nullopt for
  // none.
  std::optional<std::string> reply = std::string("Received");
  // When set, decides each reply instead of `reply`.
  Responder responder;
};

// Whether the listener accepts connections.
enum class ListenerState {
  kNotStarted,  // Start() not called yet, or it failed
  kAccepting,   // bound, listening, served by the I/O thread
  kStopped,     // Stop() was called
};

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
//   fake_tcp::FakeTcpServer server;                    // 127.0.0.1:9500
//   ASSERT_TRUE(server.Start().ok());
//   ... code under test connects and sends "Hello, world", gets "Received" ...
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

  // Calls `observer` after every change of state() (and once now, so it sees
  // the current state). Calls are serialized, never made under the server's own
  // locks, and may come from any thread that changes the state: the observer
  // reads state() itself. Returns an id for RemoveStateObserver.
  int AddStateObserver(std::function<void()> observer)
      ABSL_LOCKS_EXCLUDED(observers_mu_, mu_);
  // Removes an observer; when it returns, the observer is not running and will
  // not run.
  void RemoveStateObserver(int id) ABSL_LOCKS_EXCLUDED(observers_mu_);

  // The record of everything the server saw and sent.
  MessageLog& log() { return log_; }
  const MessageLog& log() const { return log_; }

  const ServerOptions& options() const { return options_; }

 private:
  class IoLoop;

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
  int wake_fd_ ABSL_GUARDED_BY(mu_) = -1;
  ListenerState state_ ABSL_GUARDED_BY(mu_) = ListenerState::kNotStarted;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::string address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_FAKE_TCP_SERVER_H_
