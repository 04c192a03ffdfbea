#ifndef SERVER_FAKE_TCP_SERVER_H_
#define SERVER_FAKE_TCP_SERVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
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

// What the server sends, and how: the bytes, shaped by the fault fields, then
// what happens to the connection. Every delay is a timer on the I/O thread:
// other connections are served meanwhile. Replies on one connection go out in
// order.
struct Reply {
  // What happens after the bytes are sent.
  enum class Then {
    kNothing,    // the connection stays open
    kClose,      // the server closes it (FIN)
    kReset,      // the server resets it (RST, via SO_LINGER 0)
    kHalfClose,  // the server shuts down its write side; it still reads
    kStall,      // nothing more is ever sent on it; messages are still logged
  };

  Reply() = default;
  Reply(std::string b) : bytes(std::move(b)) {}  // NOLINT: implicit by design
  Reply(const char* b) : bytes(b) {}             // NOLINT: implicit by design

  std::string bytes;
  // Wait this long before the first byte.
  absl::Duration delay = absl::ZeroDuration();
  // Send in pieces of this many bytes (0: in one piece), `slice_pause` apart.
  size_t slice_bytes = 0;
  absl::Duration slice_pause = absl::ZeroDuration();
  // Limit the rate (0: unlimited); the bytes go out in 20 pieces a second.
  int64_t bytes_per_second = 0;
  // Send only the first `send_only` bytes (then `then`); SIZE_MAX: all of them.
  size_t send_only = SIZE_MAX;
  Then then = Then::kNothing;
  // Wait this long after the bytes before `then` (a slow close).
  absl::Duration then_delay = absl::ZeroDuration();
  // Why this reply (e.g. `rule "get"`); kept in the log as the detail of the
  // received message it answers.
  std::string note;
};

// Returns "close", "reset", ... for logs and messages.
absl::string_view ThenName(Reply::Then then);

// Decides the reply to one message: a Reply (bytes and faults), or std::nullopt
// for no reply. Runs on the server's I/O thread: it must not block, and must
// not call Stop() or the commands below from another thread's point of view
// (see Stop).
using Responder =
    std::function<std::optional<Reply>(const ReceivedMessage& message)>;

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
  // Bytes read from a socket at a time (raw framing: at most max_message_size);
  // 1 to 16 MiB.
  size_t read_size = size_t{64} << 10;
  // Bounds on the message log.
  LogLimits log_limits;
  // The reply to every message when `responder` is empty; std::nullopt for
  // none.
  std::optional<std::string> reply = std::string("Received");
  // When set, decides each reply instead of `reply`.
  Responder responder;
  // Sent to every new connection before anything else, when set.
  std::optional<Reply> greeting;
  // Faults for every reply (added to each Reply's own): a delay before each
  // one, a rate limit when the Reply has none, and a close once a connection
  // has been sent this many bytes in all (SIZE_MAX: never).
  absl::Duration reply_latency = absl::ZeroDuration();
  int64_t bytes_per_second = 0;
  size_t close_after_bytes = SIZE_MAX;
};

// Whether the listener accepts connections.
enum class ListenerState {
  kNotStarted,  // Start() not called yet, or it failed
  kAccepting,   // bound, listening, served by the I/O thread
  kPaused,      // PauseAccepting(): connects complete in the backlog, unserved
  kRefusing,    // StopAccepting(): the listener is closed, connects are refused
  kStopped,     // Stop() was called
};

// Returns "accepting", "paused", ... for logs and messages.
absl::string_view ListenerStateName(ListenerState state);

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

  // Work for the I/O thread, queued by the commands above.
  struct Command {
    enum class Kind {
      kSend,
      kBroadcast,
      kDrop,
      kSetResponder,
      kPause,
      kRefuse,
      kResume
    };
    Kind kind = Kind::kSend;
    uint64_t connection_id = 0;
    Reply reply;
    Responder responder;  // kSetResponder
    bool reset = false;
    int listen_fd = -1;     // kResume after kRefuse: the new listener
    int* result = nullptr;  // how many connections it touched (may be null)
    absl::Notification* done =
        nullptr;  // notified when carried out (may be null)
  };
  // Queues `command`, wakes the I/O thread, and (unless called on it) waits for
  // it. Returns FAILED_PRECONDITION when the server is not running.
  absl::Status Run(Command command) ABSL_LOCKS_EXCLUDED(mu_);
  // Sets state_ to `state`; notifies observers if it changed.
  void SetState(ListenerState state) ABSL_LOCKS_EXCLUDED(mu_);

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
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  std::string address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_FAKE_TCP_SERVER_H_
