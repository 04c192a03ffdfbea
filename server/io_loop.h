#ifndef SERVER_IO_LOOP_H_
#define SERVER_IO_LOOP_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/base/net.h"
#include "server/base/unique_fd.h"
#include "server/log/message_log.h"
#include "server/options/server_options.h"
#include "server/reply/reply.h"
#include "server/reply/reply_plan.h"
#include "server/tls/tls.h"

namespace fake_tcp {

class IoLoop;

// Work for the I/O thread: runs there between events, with the loop to act
// on; returns how many connections it touched (for Send/Broadcast/Drop).
using IoTask = absl::AnyInvocable<int(IoLoop& loop)>;

// A task as queued by FakeTcpServer.
struct QueuedTask {
  IoTask task;
  // Receives the task's result; null when nobody waits for it.
  int* result = nullptr;
  // Notified once the task ran (or was dropped at shutdown); may be null.
  absl::Notification* done = nullptr;
};

// What the loop's owner hands over each time the wake fd is signalled.
struct IoWork {
  std::vector<QueuedTask> tasks;
  // The owner asked the loop to end.
  bool stop = false;
};

// A field the I/O thread writes and any thread may read: relaxed atomic loads
// and stores, so the one writer pays what a plain field costs (no
// read-modify-write) and a reader sees each value whole.
template <typename T>
class Published {
 public:
  Published() = default;
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;
  Published& operator=(T value) {
    value_.store(value, std::memory_order_relaxed);
    return *this;
  }
  Published& operator+=(T delta) { return *this = get() + delta; }
  Published& operator-=(T delta) { return *this = get() - delta; }
  Published& operator++() { return *this += 1; }
  T get() const { return value_.load(std::memory_order_relaxed); }
  operator T() const { return get(); }  // NOLINT: reads like the plain field

 private:
  std::atomic<T> value_{};
};

// The server's event loop: the epoll set, the listener, the connections with
// their input, queued output steps and timers. Internal to FakeTcpServer.
//
// Thread-safety: every method runs on the I/O thread (Run(), and the action
// methods from IoTasks that Run() calls), so the loop needs no lock; it talks
// to the rest of the server through the MessageLog and `take_work`. The one
// exception is Connections(), which any thread may call while the loop exists:
// it reads the directory of open connections (their Published counters and
// constant peer), which the I/O thread locks only to add or remove one.
// Lifetime: Create() registers the listener and the wake fd; Run() serves
// until `take_work` says stop, then closes every connection and the listener
// and drops (destroys, notifying) the tasks still queued.
// Proxy mode (options.proxy): each connection also has an upstream socket in
// the epoll set (io_loop_proxy.cc).
class IoLoop {
 public:
  // Takes the owner's queued work; called on the I/O thread when woken.
  using TakeWork = std::function<IoWork()>;

  // Returns a loop serving `listener`, woken through `wake_fd` (an eventfd;
  // not owned); the errno status of epoll_create1/epoll_ctl otherwise, or
  // INVALID_ARGUMENT when options.proxy's upstream does not resolve.
  static absl::StatusOr<std::unique_ptr<IoLoop>> Create(
      const ServerOptions* options, MessageLog* log, UniqueFd listener,
      int wake_fd, TakeWork take_work);
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;
  ~IoLoop();

  // Serves until the work taken says stop; then shuts down (see the class
  // comment).
  void Run();

  // Actions for IoTasks.

  // Queues `reply` on connection `id`; returns 1, or 0 if it is not open.
  int Send(uint64_t id, Reply reply);
  // Queues `reply` (its bytes held once) on every open connection; returns
  // how many.
  int Broadcast(Reply reply);
  // Returns the open connections, oldest first. Any thread (see the class
  // comment): a status read never waits for the I/O thread.
  std::vector<ConnectionInfo> Connections() const
      ABSL_LOCKS_EXCLUDED(directory_mu_);
  // Closes every open connection (reset: with RST); returns how many.
  int DropConnections(bool reset);
  // Decides replies with `responder` from the next message on; an empty one
  // restores options.reply.
  void SetResponder(Responder responder);
  // The TLS context, or null without options.tls.
  const TlsServerContext* tls() const { return tls_.get(); }

  // Takes the listener out of the epoll set (connects wait in the backlog).
  void PauseAccepting();
  // Closes the listener (connects are refused).
  void CloseListener();
  // Serves the listener again: `listener` when given (after CloseListener),
  // else the paused one; accepts whoever waits.
  void ResumeAccepting(UniqueFd listener);
  // Before Run(): the connection cap, when the descriptor budget lowers
  // options.max_connections.
  void set_max_connections(size_t n) { max_connections_ = n; }

 private:
  // One step of a connection's output: a planned ReplyStep and what it needs
  // to be carried out.
  struct Op {
    ReplyStep step;
    // kWrite: the reply's bytes. Shared, not copied: a greeting, a broadcast
    // or a sliced reply is held once however many connections or slices send
    // it.
    std::shared_ptr<const std::string> data;
    // kWait: when it ends, set when the wait begins.
    absl::Time until;
    // kWrite: its kSent event is logged.
    bool logged = false;
    absl::string_view bytes() const {
      return absl::string_view(*data).substr(step.begin, step.size);
    }
  };

  // Proxy mode: a connection's link to its upstream.
  struct Upstream {
    UniqueFd fd;
    // The connect completed.
    bool connected = false;
    absl::Time connect_deadline;
    // Client bytes not yet forwarded: to_send[to_send_offset...].
    std::string to_send;
    size_t to_send_offset = 0;
    // The client half-closed: shut the upstream's write side once to_send is
    // out.
    bool shut_pending = false;
    bool write_shut = false;
    // Upstream bytes arrived since the client last sent: the reply latency
    // applies once per burst, not per read.
    bool burst_started = false;
    // EPOLLIN / EPOLLOUT registered.
    bool reading = false;
    bool writing = true;
    size_t pending() const { return to_send.size() - to_send_offset; }
  };

  // The Published fields and `peer` (set before the connection is listed in
  // the directory, moved out only after it left) are what Connections() reads
  // from other threads.
  struct Connection {
    int fd = -1;
    uint64_t id = 0;
    std::string peer;
    // Bytes read and not yet framed.
    std::string input;
    Published<uint64_t> messages;
    // Bytes read in all (before TLS: plaintext).
    Published<uint64_t> received_bytes;
    // What to do next, in order.
    std::deque<Op> output;
    // Bytes of the front kWrite already written.
    size_t output_offset = 0;
    // Unsent bytes queued in kWrite ops.
    Published<size_t> output_bytes;
    // Bytes written in all.
    Published<size_t> sent_bytes;
    // The front op is a kWait with a timer set.
    bool waiting = false;
    // EOF read; close once output is done.
    Published<bool> peer_closed;
    // Half-closed by the server.
    Published<bool> write_shut;
    // Nothing more is sent.
    Published<bool> stalled;
    // EPOLLIN registered.
    bool reading = true;
    // EPOLLOUT registered.
    bool writing = false;
    // `input` holds complete messages not yet answered: their replies would
    // pass the pending-output bound. Deframed again as output drains.
    bool input_held = false;
    // Leading bytes of `input` already searched for a delimiter (NextFrame's
    // `searched`): a long line costs linear time, not quadratic.
    size_t input_searched = 0;
    // TLS: the session; the handshake is under way; the session waits for
    // the socket to be writable (to go on reading or with the handshake).
    std::unique_ptr<TlsSession> tls;
    bool handshaking = false;
    bool tls_want_write = false;
    // Proxy mode: the upstream, while there is one.
    std::unique_ptr<Upstream> upstream;
    // Proxy mode: the upstream is gone and the connection closes once its
    // output is done (ProxyOptions::UpstreamGone::kClose); `close_why` says
    // why.
    bool close_when_done = false;
    std::string close_why;
  };

  // Epoll tags: the listener, the wake fd, a connection's id, or its id with
  // kUpstreamBit for its upstream.
  static constexpr uint64_t kListenerTag = ~uint64_t{0};
  static constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;
  static constexpr uint64_t kUpstreamBit = uint64_t{1} << 62;
  // Adds `fd` to the epoll set for reading, as `tag`.
  static bool EpollAdd(int epoll_fd, int fd, uint64_t tag);
  // Proxy mode: where options.proxy's upstream is (resolved now), or none
  // without a proxy. INVALID_ARGUMENT for a name that does not resolve, or an
  // upstream that is the listener itself.
  static absl::StatusOr<std::optional<SocketAddress>> ResolveUpstream(
      const ServerOptions& options, int listener);

  IoLoop(const ServerOptions* options, MessageLog* log, UniqueFd listener,
         UniqueFd epoll, int wake_fd, TakeWork take_work,
         std::optional<SocketAddress> upstream,
         std::unique_ptr<TlsServerContext> tls);

  // Events.
  bool RunTasks();
  void RunTimers();
  int TimeoutMs() const;
  void AcceptAll();
  void BackOffAccepting(int error);
  bool RefuseWithSpare(int error);
  void BeginDrain();
  void RetryAccepting();
  void HandleConnection(uint64_t id, uint32_t events);
  void Read(Connection& conn);
  bool Deframe(Connection& conn);
  void OnMessage(Connection& conn, absl::string_view bytes);
  void OnEof(Connection& conn);
  // A connection is ready for its greeting and upstream (after the TLS
  // handshake, if any). Returns false iff it was closed.
  bool Begin(Connection& conn);

  // The socket, through TLS when there is any (io_loop_tls.cc). Read: > 0
  // bytes, 0 end of stream; write: bytes taken. Both: kWouldBlock, or
  // kFailed with `error`.
  static constexpr ssize_t kWouldBlock = -2;
  static constexpr ssize_t kFailed = -1;
  ssize_t ReadSocket(Connection& conn, char* buffer, size_t capacity,
                     std::string* error);
  ssize_t WriteSocket(Connection& conn, const char* data, size_t size,
                      std::string* error);
  void StartTls(Connection& conn);
  void ContinueHandshake(Connection& conn, uint32_t events);
  // Reads what TLS has decrypted already, which no socket event announces.
  void DrainTls(uint64_t id);

  // Proxy mode (io_loop_proxy.cc). Each returns false iff `conn` was closed.
  void ConnectUpstream(Connection& conn);
  void HandleUpstream(uint64_t id, uint32_t events);
  bool ForwardToUpstream(Connection& conn, absl::string_view bytes);
  bool FlushUpstream(Connection& conn);
  bool ReadUpstream(Connection& conn);
  bool UpstreamGone(Connection& conn, std::string why);
  // Connect timeouts due by `now`, for RunTimers.
  bool CheckConnectDeadline(Connection& conn, absl::Time now);
  void UpdateUpstreamInterest(Connection& conn);

  // Output.
  bool OutputFull(const Connection& conn) const;
  // `latency`: the server-wide reply latency applies (not to the rest of a
  // proxied burst).
  void Queue(Connection& conn, Reply reply, bool latency = true);
  void QueueShared(Connection& conn, const Reply& reply,
                   std::shared_ptr<const std::string> data,
                   bool latency = true);
  bool Pump(Connection& conn);
  bool PumpOutput(Connection& conn);
  bool DoThen(Connection& conn, Reply::Then then);
  bool WriteNow(Connection& conn);
  void UpdateInterest(Connection& conn);

  // Ends.
  void Reset(Connection& conn, std::string why);
  void Close(Connection& conn, EventType type, std::string detail,
             std::string bytes = "");
  void Shutdown();

  // Open connection ids, oldest first.
  std::vector<uint64_t> OpenIds() const ABSL_LOCKS_EXCLUDED(directory_mu_);
  std::string ListenAddress() const;
  void AddEvent(EventType type, uint64_t id, std::string peer,
                std::string bytes, std::string detail);
  // Appends this iteration's events to the log under one lock.
  void Publish();

  // Not owned; outlive the loop.
  const ServerOptions& options_;
  MessageLog& log_;
  UniqueFd listener_;
  const UniqueFd epoll_;
  // Owned by the server.
  const int wake_fd_;
  const TakeWork take_work_;
  std::vector<char> read_buffer_;
  // options_.greeting's bytes, sent to every connection from this one copy.
  std::shared_ptr<const std::string> greeting_bytes_;
  // options_.reply, shared (not copied) by every pending reply: the options
  // outlive the loop and its connections.
  std::shared_ptr<const std::string> reply_bytes_;
  // Decides replies; starts as options_.responder, replaced by SetResponder().
  Responder responder_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  // The open connections for Connections() and OpenIds(), oldest first: added
  // once accepted, removed when Close() begins.
  mutable absl::Mutex directory_mu_;
  absl::btree_map<uint64_t, const Connection*> directory_
      ABSL_GUARDED_BY(directory_mu_);
  uint64_t next_connection_id_ = 1;
  size_t max_connections_ = options_.max_connections;
  // PauseAccepting() took the listener out of the epoll set.
  bool accept_paused_ = false;
  // Out of descriptors: the listener is out of the epoll set until
  // accept_retry_at_ or until a connection closes.
  bool accept_backoff_ = false;
  absl::Time accept_retry_at_;
  // The back-off was logged; "accepting again" is logged once no client waits
  // (however often descriptors ran out meanwhile).
  bool accept_error_logged_ = false;
  // Held open (on /dev/null) to be given up when accept() fails for want of
  // descriptors, so that a waiting client is accepted and closed, not left
  // hanging in the backlog.
  UniqueFd spare_fd_;
  // Stop() came with a drain_timeout: connections finish their replies (input
  // is dropped) and close, until drain_deadline_.
  bool draining_ = false;
  absl::Time drain_deadline_;
  // (when, connection id), earliest first; stale entries are skipped.
  std::priority_queue<std::pair<absl::Time, uint64_t>,
                      std::vector<std::pair<absl::Time, uint64_t>>,
                      std::greater<std::pair<absl::Time, uint64_t>>>
      timers_;
  // Events of this loop iteration, appended to the log under one lock.
  std::vector<Event> pending_;
  // The steps of the reply being queued (reused: no allocation per reply).
  std::vector<ReplyStep> plan_;
  // Proxy mode: where to connect, resolved at Create, and its name for the
  // log.
  std::optional<SocketAddress> upstream_address_;
  std::string upstream_name_;
  // TLS: the server's context (null without options.tls).
  std::unique_ptr<TlsServerContext> tls_;
};

}  // namespace fake_tcp

#endif  // SERVER_IO_LOOP_H_
