#include "server/fake_tcp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/socket_util.h"

namespace fake_tcp {
namespace {

constexpr uint64_t kListenerTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;
constexpr int kMaxEpollEvents = 256;

}  // namespace

// Everything the I/O thread owns: the epoll set, the listener and the
// connections. Only the I/O thread touches it between Start() and the join in
// Stop(), so it needs no lock; it talks to the rest of the server through the
// MessageLog and the server's `mu_`.
class FakeTcpServer::IoLoop {
 public:
  IoLoop(FakeTcpServer* server, int listen_fd, int epoll_fd, int wake_fd)
      : server_(server),
        options_(server->options_),
        listen_fd_(listen_fd),
        epoll_fd_(epoll_fd),
        wake_fd_(wake_fd),
        read_buffer_(options_.read_size) {}

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
      const int n = epoll_wait(epoll_fd_, events, kMaxEpollEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;  // only EBADF/EINVAL: nothing left to serve
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kListenerTag) {
          AcceptAll();
        } else if (tag == kWakeTag) {
          uint64_t value;
          while (read(wake_fd_, &value, sizeof(value)) > 0) {
          }
          absl::MutexLock lock(&server_->mu_);
          stopping = server_->stop_requested_;
        } else {
          HandleConnection(tag, events[i].events);
        }
      }
      Publish();
    }
    Shutdown();
  }

 private:
  struct Connection {
    int fd = -1;
    uint64_t id = 0;
    std::string peer;
    std::string input;  // bytes read and not yet framed
    uint64_t messages = 0;
    // Replies not yet fully written; the front one has `output_offset` bytes
    // written.
    std::deque<std::string> output;
    size_t output_offset = 0;
    size_t output_bytes = 0;  // unsent bytes in `output`
    bool peer_closed = false;
    bool reading = true;   // EPOLLIN registered
    bool writing = false;  // EPOLLOUT registered
  };

  void AcceptAll() {
    while (true) {
      sockaddr_storage addr;
      socklen_t len = sizeof(addr);
      const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr),
                             &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // EAGAIN: all accepted. EMFILE/ENFILE: retried on the next readiness.
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
        close(fd);
        AddEvent(EventType::kServerClosed, id, std::move(peer), "",
                 absl::StrCat("epoll_ctl: ", strerror(err)));
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->fd = fd;
      conn->id = id;
      conn->peer = peer;
      AddEvent(EventType::kAccepted, id, std::move(peer), "", "");
      connections_.emplace(id, std::move(conn));
    }
  }

  void HandleConnection(uint64_t id, uint32_t events) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;  // closed earlier in this batch
    Connection& conn = *it->second;
    if (events & EPOLLOUT) {
      if (!Flush(conn)) return;
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
    if (!conn.output.empty() && !conn.writing) {
      if (!Flush(conn)) return;
    }
    UpdateInterest(conn);
  }

  // Takes every complete message off the front of `conn.input`. Returns false
  // iff the connection was closed (bad framing).
  bool Deframe(Connection& conn) {
    size_t offset = 0;
    while (offset < conn.input.size()) {
      const absl::string_view rest =
          absl::string_view(conn.input).substr(offset);
      absl::StatusOr<std::optional<Frame>> frame =
          NextFrame(options_.framing, rest, options_.max_message_size);
      if (!frame.ok()) {
        const EventType type =
            frame.status().code() == absl::StatusCode::kResourceExhausted
                ? EventType::kOversize
                : EventType::kFramingError;
        conn.input.erase(0, offset);
        // Replies to the good messages before the bad one still go out, if they
        // can without waiting; what cannot is named in the close event.
        if (!WriteNow(conn)) return false;
        Close(conn, type, std::string(frame.status().message()),
              std::move(conn.input));
        return false;
      }
      if (!frame->has_value()) break;
      const Frame& f = **frame;
      OnMessage(conn, rest.substr(f.payload_offset, f.payload_size));
      offset += f.consumed;
    }
    conn.input.erase(0, offset);
    return true;
  }

  void OnMessage(Connection& conn, absl::string_view bytes) {
    AddEvent(EventType::kReceived, conn.id, conn.peer, std::string(bytes), "");
    std::optional<std::string> reply;
    if (options_.responder) {
      reply = options_.responder(
          ReceivedMessage{conn.id, conn.peer, bytes, conn.messages});
    } else {
      reply = options_.reply;
    }
    ++conn.messages;
    if (reply.has_value() && !reply->empty()) Queue(conn, *std::move(reply));
  }

  // Queues `bytes` for sending and logs them as sent now, so the log shows a
  // reply before the peer can read it. If the connection ends before every byte
  // is written, its close event says how many were left unsent.
  void Queue(Connection& conn, std::string bytes) {
    AddEvent(EventType::kSent, conn.id, conn.peer, bytes, "");
    conn.output_bytes += bytes.size();
    conn.output.push_back(std::move(bytes));
  }

  void OnEof(Connection& conn) {
    conn.peer_closed = true;
    std::string leftover = std::move(conn.input);
    conn.input.clear();
    if (conn.output.empty()) {
      Close(conn, EventType::kPeerClosed, "", std::move(leftover));
      return;
    }
    // Finish sending the replies first; the close is logged when they are
    // written.
    conn.input = std::move(leftover);
    UpdateInterest(conn);
  }

  // Writes what it can. Returns false iff the connection was closed.
  bool Flush(Connection& conn) {
    if (!WriteNow(conn)) return false;
    if (conn.output.empty() && conn.peer_closed) {
      Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
      return false;
    }
    UpdateInterest(conn);
    return true;
  }

  // Writes queued replies until done or the socket would block. Returns false
  // iff the connection was closed (a write error).
  bool WriteNow(Connection& conn) {
    if (!conn.output.empty()) Publish();
    while (!conn.output.empty()) {
      std::string& front = conn.output.front();
      const ssize_t n = send(conn.fd, front.data() + conn.output_offset,
                             front.size() - conn.output_offset, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        const int err = errno;
        Close(conn, EventType::kReset, absl::StrCat("send: ", strerror(err)));
        return false;
      }
      conn.output_offset += static_cast<size_t>(n);
      conn.output_bytes -= static_cast<size_t>(n);
      if (conn.output_offset == front.size()) {
        conn.output.pop_front();
        conn.output_offset = 0;
      }
    }
    return true;
  }

  // Reads unless the peer is gone or too many reply bytes wait; writes while
  // some wait.
  void UpdateInterest(Connection& conn) {
    const bool reading =
        !conn.peer_closed && conn.output_bytes <= options_.max_pending_output;
    const bool writing = !conn.output.empty();
    if (reading == conn.reading && writing == conn.writing) return;
    epoll_event ev{};
    ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
    ev.data.u64 = conn.id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &ev);
    conn.reading = reading;
    conn.writing = writing;
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
  }

  // Appends this iteration's events to the log under one lock.
  void Publish() { server_->log_.Append(&pending_); }

  void Shutdown() {
    if (listen_fd_ >= 0) {
      close(listen_fd_);
      listen_fd_ = -1;
    }
    while (!connections_.empty()) {
      Close(*connections_.begin()->second, EventType::kServerClosed,
            "server stopped");
    }
    Publish();
    server_->log_.Finish();
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
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_connection_id_ = 1;
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
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("Start: max_connections must be > 0");
  }
  if (options.read_size == 0) {
    return absl::InvalidArgumentError("Start: read_size must be > 0");
  }
  if (options.log_limits.max_events == 0) {
    return absl::InvalidArgumentError(
        "Start: log_limits.max_events must be > 0");
  }
  if (absl::Status s = ValidateFraming(options.framing); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Start: ", s.message()));
  }
  return absl::OkStatus();
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
      changed = state_ == ListenerState::kAccepting;
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
    changed = state_ == ListenerState::kAccepting;
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
