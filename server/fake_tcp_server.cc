#include "server/fake_tcp_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "server/socket_util.h"

namespace fake_tcp {
namespace {

constexpr uint64_t kListenerTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;
constexpr int kMaxEpollEvents = 256;
// Queued output steps per connection past which it is not read from (see
// OutputFull).
constexpr size_t kMaxPendingOps = 65536;
// Input buffer capacity a connection keeps between messages.
constexpr size_t kKeptInputCapacity = 256 << 10;
// Out of descriptors, accepting waits this long (or until a connection closes)
// before it tries again, instead of spinning on a listener that stays readable.
constexpr absl::Duration kAcceptRetry = absl::Milliseconds(100);
// The largest read buffer Start() accepts.
constexpr size_t kMaxReadSize = size_t{16} << 20;
// Rate-limited replies go out in this many pieces a second.
constexpr int64_t kRatePiecesPerSecond = 20;

}  // namespace

absl::string_view ThenName(Reply::Then then) {
  switch (then) {
    case Reply::Then::kNothing:
      return "nothing";
    case Reply::Then::kClose:
      return "close";
    case Reply::Then::kReset:
      return "reset";
    case Reply::Then::kHalfClose:
      return "half-close";
    case Reply::Then::kStall:
      return "stall";
  }
  return "unknown";
}

absl::string_view ListenerStateName(ListenerState state) {
  switch (state) {
    case ListenerState::kNotStarted:
      return "not started";
    case ListenerState::kAccepting:
      return "accepting";
    case ListenerState::kPaused:
      return "paused";
    case ListenerState::kRefusing:
      return "refusing";
    case ListenerState::kStopped:
      return "stopped";
  }
  return "unknown";
}

// Everything the I/O thread owns: the epoll set, the listener, the connections
// and their timers. Only the I/O thread touches it between Start() and the join
// in Stop(), so it needs no lock; it talks to the rest of the server through
// the MessageLog and the server's `mu_` (stop request, commands).
class FakeTcpServer::IoLoop {
 public:
  IoLoop(FakeTcpServer* server, int listen_fd, int epoll_fd, int wake_fd)
      : server_(server),
        options_(server->options_),
        listen_fd_(listen_fd),
        epoll_fd_(epoll_fd),
        wake_fd_(wake_fd),
        read_buffer_(options_.read_size),
        responder_(options_.responder) {
    if (options_.greeting.has_value()) {
      greeting_bytes_ =
          std::make_shared<const std::string>(options_.greeting->bytes);
    }
  }

  ~IoLoop() {
    if (listen_fd_ >= 0) close(listen_fd_);
    close(epoll_fd_);
  }

  // Serves until Stop() asks it to end, then closes every connection and the
  // listener.
  void Run() {
    epoll_event events[kMaxEpollEvents];
    bool stopping = false;
    while (!stopping) {
      const int n = epoll_wait(epoll_fd_, events, kMaxEpollEvents, TimeoutMs());
      if (n < 0 && errno != EINTR) break;  // EBADF/EINVAL: nothing to serve
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kListenerTag) {
          AcceptAll();
        } else if (tag == kWakeTag) {
          uint64_t value;
          while (read(wake_fd_, &value, sizeof(value)) > 0) {
          }
          stopping = TakeCommands();
        } else {
          HandleConnection(tag, events[i].events);
        }
      }
      RunTimers();
      Publish();
    }
    Shutdown();
  }

 private:
  // One step of a connection's output, done in order.
  struct Op {
    enum class Kind { kWrite, kWait, kThen };
    Kind kind = Kind::kWrite;
    // kWrite: `size` bytes of `data` from `begin`. Shared, not copied: a
    // greeting, a broadcast or a sliced reply is held once however many
    // connections or slices send it.
    std::shared_ptr<const std::string> data;
    size_t begin = 0;
    size_t size = 0;
    absl::string_view bytes() const {
      return absl::string_view(*data).substr(begin, size);
    }
    absl::Time until;     // kWait: set when the wait begins
    absl::Duration wait;  // kWait
    Reply::Then then = Reply::Then::kNothing;  // kThen
    std::string why;                           // kThen: for the log
    bool logged = false;  // kWrite: its kSent event is logged
  };

  struct Connection {
    int fd = -1;
    uint64_t id = 0;
    std::string peer;
    std::string input;  // bytes read and not yet framed
    uint64_t messages = 0;
    std::deque<Op> output;     // what to do next, in order
    size_t output_offset = 0;  // bytes of the front kWrite already written
    size_t output_bytes = 0;   // unsent bytes queued in kWrite ops
    size_t sent_bytes = 0;     // bytes written in all
    bool waiting = false;      // the front op is a kWait with a timer set
    bool peer_closed = false;  // EOF read; close once output is done
    bool write_shut = false;   // half-closed by the server
    bool stalled = false;      // nothing more is sent
    bool reading = true;       // EPOLLIN registered
    bool writing = false;      // EPOLLOUT registered
    // `input` holds complete messages not yet answered: their replies would
    // pass the pending-output bound. Deframed again as output drains.
    bool input_held = false;
    // Leading bytes of `input` already searched for a delimiter (NextFrame's
    // `searched`): a long line costs linear time, not quadratic.
    size_t input_searched = 0;
  };

  // True iff no more replies may be queued on `conn` until the peer reads:
  // unsent bytes past max_pending_output, or too many queued steps (each
  // costs ~100 bytes however small its reply).
  bool OutputFull(const Connection& conn) const {
    return conn.output_bytes > options_.max_pending_output ||
           conn.output.size() >= kMaxPendingOps;
  }

  // Returns the epoll_wait timeout: until the earliest timer, or forever.
  int TimeoutMs() const {
    absl::Time next = absl::InfiniteFuture();
    if (!timers_.empty()) next = timers_.top().first;
    if (accept_backoff_) next = std::min(next, accept_retry_at_);
    if (next == absl::InfiniteFuture()) return -1;
    const absl::Duration left = next - absl::Now();
    if (left <= absl::ZeroDuration()) return 0;
    return static_cast<int>(std::min<int64_t>(
        absl::ToInt64Milliseconds(left + absl::Microseconds(999)), 1 << 30));
  }

  void RunTimers() {
    const absl::Time now = absl::Now();
    if (accept_backoff_ && accept_retry_at_ <= now) RetryAccepting();
    while (!timers_.empty() && timers_.top().first <= now) {
      const uint64_t id = timers_.top().second;
      timers_.pop();
      auto it = connections_.find(id);
      if (it == connections_.end()) continue;  // closed meanwhile
      Connection& conn = *it->second;
      if (!conn.waiting || conn.output.empty() ||
          conn.output.front().until > now) {
        continue;  // a stale timer
      }
      conn.waiting = false;
      conn.output.pop_front();
      Pump(conn);
    }
  }

  // Takes the queued commands and carries them out. Returns true iff Stop() was
  // requested.
  bool TakeCommands() {
    std::vector<Command> commands;
    bool stopping;
    {
      absl::MutexLock lock(&server_->mu_);
      commands.swap(server_->commands_);
      stopping = server_->stop_requested_;
    }
    for (Command& command : commands) {
      const int touched = Execute(command);
      if (command.result != nullptr) *command.result = touched;
      Publish();  // the effect is logged before the caller returns
      if (command.done != nullptr) command.done->Notify();
    }
    return stopping;
  }

  int Execute(Command& command) {
    switch (command.kind) {
      case Command::Kind::kSend: {
        auto it = connections_.find(command.connection_id);
        if (it == connections_.end()) return 0;
        Queue(*it->second, std::move(command.reply));
        Pump(*it->second);
        return 1;
      }
      case Command::Kind::kBroadcast: {
        std::vector<uint64_t> ids = OpenIds();
        auto data =
            std::make_shared<const std::string>(std::move(command.reply.bytes));
        for (uint64_t id : ids) {
          auto it = connections_.find(id);
          if (it == connections_.end()) continue;
          QueueShared(*it->second, command.reply, data);
          Pump(*it->second);
        }
        return static_cast<int>(ids.size());
      }
      case Command::Kind::kDrop: {
        std::vector<uint64_t> ids = OpenIds();
        for (uint64_t id : ids) {
          Connection& conn = *connections_[id];
          if (command.reset) {
            Reset(conn, "dropped by the server (reset)");
          } else {
            Close(conn, EventType::kServerClosed, "dropped by the server");
          }
        }
        return static_cast<int>(ids.size());
      }
      case Command::Kind::kSetResponder:
        responder_ = std::move(command.responder);
        return 0;
      case Command::Kind::kPause:
        accept_paused_ = true;
        if (listen_fd_ >= 0 && !accept_backoff_) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        }
        return 0;
      case Command::Kind::kRefuse:
        if (listen_fd_ >= 0) {
          close(listen_fd_);
          listen_fd_ = -1;
        }
        return 0;
      case Command::Kind::kResume:
        accept_paused_ = false;
        accept_backoff_ = false;
        if (command.listen_fd >= 0) {
          if (listen_fd_ >= 0) close(listen_fd_);
          listen_fd_ = command.listen_fd;
          command.listen_fd = -1;
        }
        if (listen_fd_ >= 0) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = kListenerTag;
          epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
          AcceptAll();
        }
        return 0;
    }
    return 0;
  }

  // Open connection ids, oldest first.
  std::vector<uint64_t> OpenIds() const {
    std::vector<uint64_t> ids;
    ids.reserve(connections_.size());
    for (const auto& [id, conn] : connections_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  void AcceptAll() {
    while (listen_fd_ >= 0) {
      sockaddr_storage addr;
      socklen_t len = sizeof(addr);
      const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr),
                             &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
          BackOffAccepting(errno);
        } else if (accept_error_logged_ && errno == EAGAIN) {
          // Every client that waited is in: the episode is over.
          accept_error_logged_ = false;
          AddEvent(EventType::kConnectionLimit, 0, ListenAddress(), "",
                   "accepting again: no client waits");
        }
        return;
      }
      const uint64_t id = next_connection_id_++;
      std::string peer = FormatSockaddr(addr);
      if (connections_.size() >= options_.max_connections) {
        AddEvent(EventType::kConnectionLimit, id, std::move(peer), "",
                 absl::StrCat("max_connections ", options_.max_connections,
                              " reached; closed at once"));
        Publish();
        close(fd);
        continue;
      }
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        const int err = errno;
        AddEvent(EventType::kServerClosed, id, std::move(peer), "",
                 absl::StrCat("epoll_ctl: ", strerror(err)));
        Publish();
        close(fd);
        continue;
      }
      auto owned = std::make_unique<Connection>();
      Connection& conn = *owned;
      conn.fd = fd;
      conn.id = id;
      conn.peer = peer;
      AddEvent(EventType::kAccepted, id, std::move(peer), "", "");
      connections_.emplace(id, std::move(owned));
      if (options_.greeting.has_value()) {
        QueueShared(conn, *options_.greeting, greeting_bytes_);
        Pump(conn);
      }
    }
  }

  // The listener stays readable while accept fails for want of descriptors:
  // take it out of the epoll set until a connection closes or kAcceptRetry
  // passes. Clients wait in the backlog meanwhile; the log says why, once.
  void BackOffAccepting(int error) {
    if (listen_fd_ < 0 || accept_backoff_) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    accept_backoff_ = true;
    accept_retry_at_ = absl::Now() + kAcceptRetry;
    if (!accept_error_logged_) {
      accept_error_logged_ = true;
      AddEvent(EventType::kConnectionLimit, 0, ListenAddress(), "",
               absl::StrCat("accept: ", strerror(error),
                            "; new connections wait in the backlog until a "
                            "descriptor frees (retried every ",
                            absl::FormatDuration(kAcceptRetry), ")"));
    }
  }

  // Ends a back-off: the listener goes back into the epoll set and whoever
  // waits is accepted. Called from RunTimers only (not in the middle of a
  // connection's work).
  void RetryAccepting() {
    if (!accept_backoff_) return;
    accept_backoff_ = false;
    if (listen_fd_ < 0 || accept_paused_) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    // Also when nobody waits any more: accept then says EAGAIN, which ends
    // the episode in the log.
    AcceptAll();
  }

  std::string ListenAddress() const {
    sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
            0) {
      return "";
    }
    return FormatSockaddr(addr);
  }

  void HandleConnection(uint64_t id, uint32_t events) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // closed earlier in this batch
    Connection& conn = *it->second;
    if (events & EPOLLOUT) {
      if (!Pump(conn)) return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      if (conn.reading) Read(conn);
    }
  }

  // Reads once (level-triggered epoll calls again while bytes remain), frames,
  // replies.
  void Read(Connection& conn) {
    size_t cap = read_buffer_.size();
    if (options_.framing.kind == Framing::Kind::kRaw) {
      cap = std::min(cap, options_.max_message_size);
    }
    const ssize_t n = read(conn.fd, read_buffer_.data(), cap);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      const int err = errno;
      Close(conn, EventType::kReset, strerror(err));
      return;
    }
    if (n == 0) {
      OnEof(conn);
      return;
    }
    const absl::string_view chunk(read_buffer_.data(), static_cast<size_t>(n));
    if (conn.input.empty() && options_.framing.kind == Framing::Kind::kRaw) {
      OnMessage(conn, chunk);  // the common case needs no copy into `input`
    } else {
      conn.input.append(chunk.data(), chunk.size());
      if (!Deframe(conn)) return;
    }
    Pump(conn);
  }

  // Takes every complete message off the front of `conn.input`. Returns false
  // iff the connection was closed (bad framing).
  bool Deframe(Connection& conn) {
    size_t offset = 0;
    conn.input_held = false;
    while (offset < conn.input.size()) {
      if (OutputFull(conn)) {
        // One read may hold thousands of messages: answering them all first
        // would queue every reply before the bound is looked at.
        conn.input_held = true;
        break;
      }
      const absl::string_view rest =
          absl::string_view(conn.input).substr(offset);
      absl::StatusOr<std::optional<Frame>> frame =
          NextFrame(options_.framing, rest, options_.max_message_size,
                    offset == 0 ? conn.input_searched : 0);
      if (!frame.ok()) {
        const EventType type =
            frame.status().code() == absl::StatusCode::kResourceExhausted
                ? EventType::kOversize
                : EventType::kFramingError;
        conn.input.erase(0, offset);
        // Replies to the good messages before the bad one still go out, if
        // they can without waiting; what cannot is named in the close event.
        if (!WriteNow(conn)) return false;
        Close(conn, type, std::string(frame.status().message()),
              std::move(conn.input));
        return false;
      }
      if (!frame->has_value()) {
        conn.input_searched = rest.size();
        break;
      }
      conn.input_searched = 0;
      const Frame& f = **frame;
      OnMessage(conn, rest.substr(f.payload_offset, f.payload_size));
      offset += f.consumed;
    }
    conn.input.erase(0, offset);
    // A big message grew the buffer: give the memory back once it is framed
    // (a thousand idle connections must not each keep a max_message_size).
    if (conn.input.capacity() > kKeptInputCapacity &&
        conn.input.size() <= kKeptInputCapacity / 2) {
      conn.input.shrink_to_fit();
    }
    return true;
  }

  void OnMessage(Connection& conn, absl::string_view bytes) {
    AddEvent(EventType::kReceived, conn.id, conn.peer, std::string(bytes), "");
    const size_t received = pending_.size() - 1;
    std::optional<Reply> reply;
    if (responder_) {
      reply =
          responder_(ReceivedMessage{conn.id, conn.peer, bytes, conn.messages});
    } else if (options_.reply.has_value()) {
      reply = Reply(*options_.reply);
    }
    ++conn.messages;
    if (reply.has_value() && !reply->note.empty()) {
      pending_[received].detail = std::move(reply->note);
    }
    if (reply.has_value()) Queue(conn, *std::move(reply));
  }

  // Turns `reply` into output ops on `conn`, with the server-wide faults.
  void Queue(Connection& conn, Reply reply) {
    if (conn.stalled) return;
    auto data = std::make_shared<const std::string>(std::move(reply.bytes));
    QueueShared(conn, reply, std::move(data));
  }

  // Queue() for bytes held elsewhere (`reply.bytes` is not used).
  void QueueShared(Connection& conn, const Reply& reply,
                   std::shared_ptr<const std::string> data) {
    if (conn.stalled) return;
    const absl::Duration delay = reply.delay + options_.reply_latency;
    if (delay > absl::ZeroDuration()) {
      Op wait;
      wait.kind = Op::Kind::kWait;
      wait.wait = delay;
      conn.output.push_back(std::move(wait));
    }
    const size_t total = std::min(reply.send_only, data->size());
    size_t piece = total;
    absl::Duration pause = absl::ZeroDuration();
    const int64_t rate = reply.bytes_per_second > 0 ? reply.bytes_per_second
                                                    : options_.bytes_per_second;
    if (reply.slice_bytes > 0) {
      piece = reply.slice_bytes;
      pause = reply.slice_pause;
    } else if (rate > 0) {
      piece = static_cast<size_t>(
          std::max<int64_t>(1, rate / kRatePiecesPerSecond));
      pause = absl::Seconds(1) * (static_cast<double>(piece) / rate);
    }
    for (size_t offset = 0; offset < total; offset += piece) {
      if (offset > 0 && pause > absl::ZeroDuration()) {
        Op wait;
        wait.kind = Op::Kind::kWait;
        wait.wait = pause;
        conn.output.push_back(std::move(wait));
      }
      Op write;
      write.data = data;
      write.begin = offset;
      write.size = std::min(piece, total - offset);
      conn.output_bytes += write.size;
      conn.output.push_back(std::move(write));
    }
    if (reply.then != Reply::Then::kNothing) {
      if (reply.then_delay > absl::ZeroDuration()) {
        Op wait;
        wait.kind = Op::Kind::kWait;
        wait.wait = reply.then_delay;
        conn.output.push_back(std::move(wait));
      }
      Op then;
      then.kind = Op::Kind::kThen;
      then.then = reply.then;
      then.why = absl::StrCat("reply fault: ", ThenName(reply.then));
      conn.output.push_back(std::move(then));
    }
  }

  void OnEof(Connection& conn) {
    conn.peer_closed = true;
    if (conn.output.empty() && !conn.input_held) {
      Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
      return;
    }
    // Finish the replies first; the close is logged when they are done.
    UpdateInterest(conn);
  }

  // Carries out output ops until done, blocked (EAGAIN) or waiting on a timer.
  // Returns false iff the connection was closed.
  bool Pump(Connection& conn) {
    while (true) {
      if (!PumpOutput(conn)) return false;
      if (!conn.input_held || OutputFull(conn)) break;
      if (!Deframe(conn)) return false;
    }
    if (conn.output.empty() && conn.peer_closed && !conn.input_held) {
      Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
      return false;
    }
    UpdateInterest(conn);
    return true;
  }

  // Carries out output ops until done, blocked (EAGAIN) or waiting on a timer.
  // Returns false iff the connection was closed.
  bool PumpOutput(Connection& conn) {
    while (!conn.output.empty()) {
      Op& op = conn.output.front();
      if (op.kind == Op::Kind::kWrite) {
        if (!WriteNow(conn)) return false;
        if (!conn.output.empty() &&
            conn.output.front().kind == Op::Kind::kWrite) {
          break;  // the socket is full; EPOLLOUT resumes
        }
        continue;
      }
      if (op.kind == Op::Kind::kWait) {
        if (!conn.waiting) {
          op.until = absl::Now() + op.wait;
          conn.waiting = true;
          timers_.emplace(op.until, conn.id);
        }
        break;  // RunTimers pops it when due
      }
      // kThen
      const Reply::Then then = op.then;
      std::string why = std::move(op.why);
      conn.output.pop_front();
      switch (then) {
        case Reply::Then::kNothing:
          break;
        case Reply::Then::kClose:
          Close(conn, EventType::kServerClosed, std::move(why));
          return false;
        case Reply::Then::kReset:
          Reset(conn, std::move(why));
          return false;
        case Reply::Then::kHalfClose:
          shutdown(conn.fd, SHUT_WR);
          conn.write_shut = true;
          AddEvent(EventType::kServerHalfClosed, conn.id, conn.peer, "",
                   std::move(why));
          break;
        case Reply::Then::kStall:
          conn.stalled = true;
          conn.output.clear();
          conn.output_bytes = 0;
          AddEvent(EventType::kStalled, conn.id, conn.peer, "", std::move(why));
          break;
      }
    }
    return true;
  }

  // Writes the leading kWrite ops until done or the socket would block. Returns
  // false iff the connection was closed (a write error, or close_after_bytes).
  bool WriteNow(Connection& conn) {
    while (!conn.output.empty() &&
           conn.output.front().kind == Op::Kind::kWrite) {
      Op& op = conn.output.front();
      if (conn.write_shut || conn.stalled) {
        conn.output_bytes -= op.size - conn.output_offset;
        conn.output_offset = 0;
        conn.output.pop_front();
        continue;
      }
      size_t want = op.size - conn.output_offset;
      const size_t budget = options_.close_after_bytes > conn.sent_bytes
                                ? options_.close_after_bytes - conn.sent_bytes
                                : 0;
      want = std::min(want, budget);
      if (!op.logged) {
        op.logged = true;
        // Logged as sent before the peer can read it.
        AddEvent(EventType::kSent, conn.id, conn.peer,
                 std::string(op.bytes().substr(0, want)),
                 want < op.size ? "cut short by close_after_bytes" : "");
        Publish();
      }
      ssize_t n = 0;
      if (want > 0) {
        n = send(conn.fd, op.bytes().data() + conn.output_offset, want,
                 MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
          if (errno == EINTR) continue;
          const int err = errno;
          Close(conn, EventType::kReset, absl::StrCat("send: ", strerror(err)));
          return false;
        }
      }
      conn.output_offset += static_cast<size_t>(n);
      conn.output_bytes -= static_cast<size_t>(n);
      conn.sent_bytes += static_cast<size_t>(n);
      if (conn.sent_bytes >= options_.close_after_bytes) {
        Close(conn, EventType::kServerClosed,
              absl::StrCat("close_after_bytes ", options_.close_after_bytes,
                           " reached"));
        return false;
      }
      if (conn.output_offset == op.size) {
        conn.output.pop_front();
        conn.output_offset = 0;
      }
    }
    return true;
  }

  // Reads unless the peer is gone or too many reply bytes wait; writes while a
  // write is next.
  void UpdateInterest(Connection& conn) {
    const bool reading =
        !conn.peer_closed && !conn.input_held && !OutputFull(conn);
    const bool writing =
        !conn.output.empty() && conn.output.front().kind == Op::Kind::kWrite;
    if (reading == conn.reading && writing == conn.writing) return;
    epoll_event ev{};
    ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
    ev.data.u64 = conn.id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &ev);
    conn.reading = reading;
    conn.writing = writing;
  }

  // Closes with a reset (RST) instead of a FIN.
  void Reset(Connection& conn, std::string why) {
    linger l{1, 0};
    setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    Close(conn, EventType::kServerReset, std::move(why));
  }

  void Close(Connection& conn, EventType type, std::string detail,
             std::string bytes = "") {
    if (conn.output_bytes > 0) {
      absl::StrAppend(&detail, detail.empty() ? "" : "; ", conn.output_bytes,
                      " reply bytes unsent");
    }
    const uint64_t id = conn.id;
    AddEvent(type, id, std::move(conn.peer), std::move(bytes),
             std::move(detail));
    // Logged before the peer can see the close.
    Publish();
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
    close(conn.fd);
    connections_.erase(id);  // destroys `conn`
    // A descriptor is free: accept again at the end of this loop iteration.
    if (accept_backoff_) accept_retry_at_ = absl::InfinitePast();
  }

  // Appends this iteration's events to the log under one lock.
  void Publish() { server_->log_.Append(&pending_); }

  void Shutdown() {
    if (listen_fd_ >= 0) {
      close(listen_fd_);
      listen_fd_ = -1;
    }
    for (uint64_t id : OpenIds()) {
      Close(*connections_[id], EventType::kServerClosed, "server stopped");
    }
    Publish();
    server_->log_.Finish();
    // Commands that raced with Stop() are answered, not left waiting.
    std::vector<Command> commands;
    {
      absl::MutexLock lock(&server_->mu_);
      commands.swap(server_->commands_);
    }
    for (Command& command : commands) {
      if (command.listen_fd >= 0) close(command.listen_fd);
      if (command.done != nullptr) command.done->Notify();
    }
  }

  void AddEvent(EventType type, uint64_t id, std::string peer,
                std::string bytes, std::string detail) {
    Event event;
    event.type = type;
    event.connection_id = id;
    event.peer = std::move(peer);
    event.time = absl::Now();
    event.bytes = std::move(bytes);
    event.detail = std::move(detail);
    pending_.push_back(std::move(event));
  }

  FakeTcpServer* const server_;  // not owned; outlives the loop
  const ServerOptions& options_;
  int listen_fd_;
  const int epoll_fd_;
  const int wake_fd_;  // owned by the server
  std::vector<char> read_buffer_;
  // options_.greeting's bytes, sent to every connection from this one copy.
  std::shared_ptr<const std::string> greeting_bytes_;
  // Decides replies; starts as options_.responder, replaced by SetResponder().
  Responder responder_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_connection_id_ = 1;
  // PauseAccepting() took the listener out of the epoll set.
  bool accept_paused_ = false;
  // Out of descriptors: the listener is out of the epoll set until
  // accept_retry_at_ or until a connection closes.
  bool accept_backoff_ = false;
  absl::Time accept_retry_at_;
  // The back-off was logged; "accepting again" is logged once no client waits
  // (however often descriptors ran out meanwhile).
  bool accept_error_logged_ = false;
  // (when, connection id), earliest first; stale entries are skipped.
  std::priority_queue<std::pair<absl::Time, uint64_t>,
                      std::vector<std::pair<absl::Time, uint64_t>>,
                      std::greater<std::pair<absl::Time, uint64_t>>>
      timers_;
  // Events of this loop iteration, appended to the log under one lock.
  std::vector<Event> pending_;
};

FakeTcpServer::FakeTcpServer(ServerOptions options)
    : options_(std::move(options)), log_(options_.log_limits) {}

FakeTcpServer::~FakeTcpServer() { Stop(); }

namespace {

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: port must be 0..65535, got ", options.port));
  }
  if (options.backlog <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: backlog must be positive, got ", options.backlog));
  }
  if (options.max_message_size == 0) {
    return absl::InvalidArgumentError("Start: max_message_size must be > 0");
  }
  if (options.framing.kind == Framing::Kind::kFixedSize &&
      options.framing.fixed_size > options.max_message_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Start: fixed-size framing of ", options.framing.fixed_size,
        " bytes is larger than max_message_size ", options.max_message_size,
        " (every message would be oversize)"));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("Start: max_connections must be > 0");
  }
  if (options.read_size == 0 || options.read_size > kMaxReadSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: read_size must be 1..", kMaxReadSize, ", got ",
                     options.read_size));
  }
  if (options.log_limits.max_events == 0) {
    return absl::InvalidArgumentError(
        "Start: log_limits.max_events must be > 0");
  }
  if (options.bytes_per_second < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: bytes_per_second must be >= 0, got ",
                     options.bytes_per_second));
  }
  if (options.reply_latency < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: reply_latency must be >= 0, got ",
                     absl::FormatDuration(options.reply_latency)));
  }
  if (absl::Status s = ValidateFraming(options.framing); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Start: ", s.message()));
  }
  return absl::OkStatus();
}

// The host part of "127.0.0.1:9500" or "[::1]:9500".
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[')
    host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

absl::Status FakeTcpServer::Start() {
  absl::MutexLock lifecycle(&lifecycle_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (state_ != ListenerState::kNotStarted || io_thread_.joinable() ||
        stop_requested_) {
      return absl::FailedPreconditionError(
          absl::StrCat("Start: the server on ",
                       address_.empty() ? options_.address : address_,
                       " was already started; a server starts once"));
    }
    stop_requested_ = true;  // a second Start() fails even if this one does
  }
  if (absl::Status s = ValidateOptions(options_); !s.ok()) return s;

  absl::StatusOr<BoundListener> listener =
      Listen(options_.address, options_.port, options_.backlog);
  if (!listener.ok()) return listener.status();

  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd < 0 || wake_fd < 0) {
    const int err = errno;
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
    close(listener->fd);
    return ErrnoStatus(err, "Start: epoll/eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener->fd, &ev);
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);

  auto loop = std::make_unique<IoLoop>(this, listener->fd, epoll_fd, wake_fd);
  {
    absl::MutexLock lock(&mu_);
    stop_requested_ = false;
    state_ = ListenerState::kAccepting;
    port_ = listener->port;
    address_ = listener->address;
    wake_fd_ = wake_fd;
  }
  io_thread_ = std::thread([this, loop = std::move(loop)] {
    {
      absl::MutexLock lock(&mu_);
      io_thread_id_ = std::this_thread::get_id();
    }
    loop->Run();
    // A later thread may get this id; it must not be taken for the I/O thread.
    absl::MutexLock lock(&mu_);
    io_thread_id_ = std::thread::id();
  });
  NotifyStateObservers();
  return absl::OkStatus();
}

void FakeTcpServer::Stop() {
  bool changed = false;
  bool on_io_thread = false;
  {
    absl::MutexLock lock(&mu_);
    on_io_thread = std::this_thread::get_id() == io_thread_id_;
    if (on_io_thread) {
      // Inside a callback on the I/O thread: joining here would deadlock, so
      // only ask the loop to end; wake_fd_ stays open until this thread is
      // joined.
      changed = state_ != ListenerState::kStopped;
      state_ = ListenerState::kStopped;
      stop_requested_ = true;
      const uint64_t one = 1;
      (void)write(wake_fd_, &one, sizeof(one));
    }
  }
  if (on_io_thread) {
    if (changed) NotifyStateObservers();
    return;
  }

  absl::MutexLock lifecycle(&lifecycle_mu_);
  {
    absl::MutexLock lock(&mu_);
    changed = state_ != ListenerState::kStopped &&
              state_ != ListenerState::kNotStarted;
    if (changed) state_ = ListenerState::kStopped;
    stop_requested_ = true;
  }
  // Observers (the health sidecar) see kStopped before any connection closes.
  if (changed) NotifyStateObservers();
  if (!io_thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t one = 1;
    (void)write(wake_fd_, &one, sizeof(one));
  }
  io_thread_.join();
  absl::MutexLock lock(&mu_);
  close(wake_fd_);
  wake_fd_ = -1;
}

absl::Status FakeTcpServer::Run(Command command) {
  absl::Notification done;
  bool on_io_thread;
  {
    absl::MutexLock lock(&mu_);
    if (stop_requested_ || state_ == ListenerState::kNotStarted ||
        state_ == ListenerState::kStopped) {
      if (command.listen_fd >= 0) close(command.listen_fd);
      return absl::FailedPreconditionError(absl::StrCat(
          "the server is not running (", ListenerStateName(state_), ")"));
    }
    on_io_thread = std::this_thread::get_id() == io_thread_id_;
    if (on_io_thread) {
      command.result = nullptr;  // queued; nobody waits for the count
    } else {
      command.done = &done;
    }
    commands_.push_back(std::move(command));
    const uint64_t one = 1;
    (void)write(wake_fd_, &one, sizeof(one));
  }
  if (!on_io_thread) done.WaitForNotification();
  return absl::OkStatus();
}

absl::Status FakeTcpServer::Send(uint64_t connection_id, Reply reply) {
  int touched = -1;
  Command command;
  command.kind = Command::Kind::kSend;
  command.connection_id = connection_id;
  command.reply = std::move(reply);
  command.result = &touched;
  if (absl::Status s = Run(std::move(command)); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Send to connection ", connection_id, ": ", s.message()));
  }
  if (touched == 0) {
    return absl::NotFoundError(
        absl::StrCat("Send: connection ", connection_id, " is not open"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> FakeTcpServer::Broadcast(Reply reply) {
  int touched = 0;
  Command command;
  command.kind = Command::Kind::kBroadcast;
  command.reply = std::move(reply);
  command.result = &touched;
  if (absl::Status s = Run(std::move(command)); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("Broadcast: ", s.message()));
  }
  return touched;
}

absl::StatusOr<int> FakeTcpServer::DropConnections(bool reset) {
  int touched = 0;
  Command command;
  command.kind = Command::Kind::kDrop;
  command.reset = reset;
  command.result = &touched;
  if (absl::Status s = Run(std::move(command)); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("DropConnections: ", s.message()));
  }
  return touched;
}

absl::Status FakeTcpServer::SetResponder(Responder responder) {
  Command command;
  command.kind = Command::Kind::kSetResponder;
  command.responder = std::move(responder);
  if (absl::Status s = Run(std::move(command)); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("SetResponder: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status FakeTcpServer::PauseAccepting() {
  if (state() == ListenerState::kPaused) return absl::OkStatus();
  if (state() != ListenerState::kAccepting) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PauseAccepting: the listener is ", ListenerStateName(state())));
  }
  SetState(ListenerState::kPaused);  // health says NOT_SERVING first
  Command command;
  command.kind = Command::Kind::kPause;
  return Run(std::move(command));
}

absl::Status FakeTcpServer::StopAccepting() {
  const ListenerState now = state();
  if (now == ListenerState::kRefusing) return absl::OkStatus();
  if (now != ListenerState::kAccepting && now != ListenerState::kPaused) {
    return absl::FailedPreconditionError(absl::StrCat(
        "StopAccepting: the listener is ", ListenerStateName(now)));
  }
  SetState(ListenerState::kRefusing);
  Command command;
  command.kind = Command::Kind::kRefuse;
  return Run(std::move(command));
}

absl::Status FakeTcpServer::ResumeAccepting() {
  const ListenerState now = state();
  if (now == ListenerState::kAccepting) return absl::OkStatus();
  if (now != ListenerState::kPaused && now != ListenerState::kRefusing) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ResumeAccepting: the listener is ", ListenerStateName(now)));
  }
  Command command;
  command.kind = Command::Kind::kResume;
  if (now == ListenerState::kRefusing) {
    // Listening again before this returns, as Start() does.
    absl::StatusOr<BoundListener> listener =
        Listen(HostOf(address()), port(), options_.backlog);
    if (!listener.ok()) {
      return absl::Status(
          listener.status().code(),
          absl::StrCat("ResumeAccepting: ", listener.status().message()));
    }
    command.listen_fd = listener->fd;
  }
  if (absl::Status s = Run(std::move(command)); !s.ok()) return s;
  SetState(ListenerState::kAccepting);
  return absl::OkStatus();
}

void FakeTcpServer::SetState(ListenerState state) {
  {
    absl::MutexLock lock(&mu_);
    if (state_ == state || state_ == ListenerState::kStopped) return;
    state_ = state;
  }
  NotifyStateObservers();
}

int FakeTcpServer::AddStateObserver(std::function<void()> observer) {
  absl::MutexLock lock(&observers_mu_);
  const int id = next_observer_id_++;
  observer();
  observers_.emplace_back(id, std::move(observer));
  return id;
}

void FakeTcpServer::RemoveStateObserver(int id) {
  absl::MutexLock lock(&observers_mu_);
  for (auto it = observers_.begin(); it != observers_.end(); ++it) {
    if (it->first == id) {
      observers_.erase(it);
      return;
    }
  }
}

void FakeTcpServer::NotifyStateObservers() {
  absl::MutexLock lock(&observers_mu_);
  for (auto& [id, observer] : observers_) observer();
}

int FakeTcpServer::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

std::string FakeTcpServer::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

ListenerState FakeTcpServer::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

}  // namespace fake_tcp
