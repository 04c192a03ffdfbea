#include "server/io_loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/framing.h"
#include "tools/base/deadline.h"
#include "tools/base/errno_status.h"
#include "tools/base/net.h"

namespace fake_tcp {
namespace {

constexpr uint64_t kListenerTag = ~uint64_t{0};
constexpr uint64_t kWakeTag = ~uint64_t{0} - 1;
constexpr int kMaxEpollEvents = 256;
// Input buffer capacity a connection keeps between messages.
constexpr size_t kKeptInputCapacity = 256 << 10;
// Out of descriptors, accepting waits this long (or until a connection closes)
// before it tries again, instead of spinning on a listener that stays readable.
constexpr absl::Duration kAcceptRetry = absl::Milliseconds(100);

bool EpollAdd(int epoll_fd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

// True iff a connect to `to` would reach the listener bound at `self` (the
// same port, and the same address or a wildcard one).
bool ReachesItself(const sockaddr_storage& self, const sockaddr_storage& to) {
  if (self.ss_family != to.ss_family) return false;
  if (self.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(self);
    const auto& b = reinterpret_cast<const sockaddr_in&>(to);
    return a.sin_port == b.sin_port &&
           (a.sin_addr.s_addr == b.sin_addr.s_addr ||
            a.sin_addr.s_addr == htonl(INADDR_ANY));
  }
  if (self.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(self);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(to);
    return a.sin6_port == b.sin6_port &&
           (memcmp(&a.sin6_addr, &b.sin6_addr, sizeof(in6_addr)) == 0 ||
            IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr));
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<IoLoop>> IoLoop::Create(
    const ServerOptions* options, MessageLog* log, UniqueFd listener,
    int wake_fd, TakeWork take_work) {
  std::optional<SocketAddress> upstream;
  if (options->proxy.has_value()) {
    absl::StatusOr<HostPort> host_port =
        ParseHostPort(options->proxy->upstream);
    if (!host_port.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Start: proxy.upstream: ", host_port.status().message()));
    }
    absl::StatusOr<std::vector<SocketAddress>> resolved =
        Resolve(host_port->host, host_port->port);
    if (!resolved.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.upstream: ", resolved.status().message()));
    }
    upstream = resolved->front();
    sockaddr_storage self{};
    socklen_t len = sizeof(self);
    if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&self), &len) ==
            0 &&
        ReachesItself(self, upstream->addr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.upstream: ", options->proxy->upstream,
                       " is this server's own address ", FormatSockaddr(self),
                       " (it would forward every connection to itself)"));
    }
  }
  std::unique_ptr<TlsServerContext> tls;
  if (options->tls.has_value()) {
    absl::StatusOr<std::unique_ptr<TlsServerContext>> context =
        TlsServerContext::Create(*options->tls);
    if (!context.ok()) return context.status();
    tls = *std::move(context);
  }
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.ok()) return ErrnoStatus(errno, "Start: epoll_create1");
  if (!EpollAdd(epoll.get(), listener.get(), kListenerTag) ||
      !EpollAdd(epoll.get(), wake_fd, kWakeTag)) {
    return ErrnoStatus(errno, "Start: epoll_ctl");
  }
  return std::unique_ptr<IoLoop>(
      new IoLoop(options, log, std::move(listener), std::move(epoll), wake_fd,
                 std::move(take_work), upstream, std::move(tls)));
}

IoLoop::IoLoop(const ServerOptions* options, MessageLog* log, UniqueFd listener,
               UniqueFd epoll, int wake_fd, TakeWork take_work,
               std::optional<SocketAddress> upstream,
               std::unique_ptr<TlsServerContext> tls)
    : options_(*options),
      log_(*log),
      listener_(std::move(listener)),
      epoll_(std::move(epoll)),
      wake_fd_(wake_fd),
      take_work_(std::move(take_work)),
      read_buffer_(options_.read_size),
      responder_(options_.responder),
      upstream_address_(upstream),
      tls_(std::move(tls)) {
  if (upstream_address_.has_value()) {
    upstream_name_ = FormatSockaddr(upstream_address_->addr);
  }
  if (options_.greeting.has_value()) {
    greeting_bytes_ =
        std::make_shared<const std::string>(options_.greeting->bytes);
  }
}

IoLoop::~IoLoop() = default;

void IoLoop::Run() {
  // A write to a connection the peer reset fails with EPIPE instead of
  // killing the process: send() says MSG_NOSIGNAL, OpenSSL's writes cannot.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  epoll_event events[kMaxEpollEvents];
  bool stopping = false;
  while (!stopping) {
    const int n =
        epoll_wait(epoll_.get(), events, kMaxEpollEvents, TimeoutMs());
    if (n < 0 && errno != EINTR) break;  // EBADF/EINVAL: nothing to serve
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kListenerTag) {
        AcceptAll();
      } else if (tag == kWakeTag) {
        uint64_t value;
        while (read(wake_fd_, &value, sizeof(value)) > 0) {
        }
        stopping = RunTasks();
      } else if (tag & kUpstreamBit) {
        HandleUpstream(tag & ~kUpstreamBit, events[i].events);
      } else {
        HandleConnection(tag, events[i].events);
      }
    }
    RunTimers();
    Publish();
  }
  Shutdown();
}

int IoLoop::Send(uint64_t id, Reply reply) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return 0;
  Queue(*it->second, std::move(reply));
  Pump(*it->second);
  return 1;
}

int IoLoop::Broadcast(Reply reply) {
  const std::vector<uint64_t> ids = OpenIds();
  auto data = std::make_shared<const std::string>(std::move(reply.bytes));
  for (uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    QueueShared(*it->second, reply, data);
    Pump(*it->second);
  }
  return static_cast<int>(ids.size());
}

int IoLoop::DropConnections(bool reset) {
  const std::vector<uint64_t> ids = OpenIds();
  for (uint64_t id : ids) {
    Connection& conn = *connections_[id];
    if (reset) {
      Reset(conn, "dropped by the server (reset)");
    } else {
      Close(conn, EventType::kServerClosed, "dropped by the server");
    }
  }
  return static_cast<int>(ids.size());
}

void IoLoop::SetResponder(Responder responder) {
  responder_ = std::move(responder);
}

void IoLoop::PauseAccepting() {
  accept_paused_ = true;
  if (listener_.ok() && !accept_backoff_) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
  }
}

void IoLoop::CloseListener() { listener_.reset(); }

void IoLoop::ResumeAccepting(UniqueFd listener) {
  accept_paused_ = false;
  accept_backoff_ = false;
  if (listener.ok()) listener_ = std::move(listener);
  if (listener_.ok()) {
    EpollAdd(epoll_.get(), listener_.get(), kListenerTag);
    AcceptAll();
  }
}

// Takes the queued tasks and runs them. Returns true iff Stop() was requested.
bool IoLoop::RunTasks() {
  IoWork work = take_work_();
  for (QueuedTask& queued : work.tasks) {
    const int touched = queued.task(*this);
    if (queued.result != nullptr) *queued.result = touched;
    Publish();  // the effect is logged before the caller returns
    if (queued.done != nullptr) queued.done->Notify();
  }
  return work.stop;
}

// Returns the epoll_wait timeout: until the earliest timer, or forever.
int IoLoop::TimeoutMs() const {
  absl::Time next = absl::InfiniteFuture();
  if (!timers_.empty()) next = timers_.top().first;
  if (accept_backoff_) next = std::min(next, accept_retry_at_);
  return PollTimeoutMs(next);
}

void IoLoop::RunTimers() {
  const absl::Time now = absl::Now();
  if (accept_backoff_ && accept_retry_at_ <= now) RetryAccepting();
  while (!timers_.empty() && timers_.top().first <= now) {
    const uint64_t id = timers_.top().second;
    timers_.pop();
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;  // closed meanwhile
    Connection& conn = *it->second;
    if (!CheckConnectDeadline(conn, now)) continue;  // closed
    if (!conn.waiting || conn.output.empty() ||
        conn.output.front().until > now) {
      continue;  // a stale timer
    }
    conn.waiting = false;
    conn.output.pop_front();
    Pump(conn);
  }
}

void IoLoop::AcceptAll() {
  while (listener_.ok()) {
    sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr),
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
    if (!EpollAdd(epoll_.get(), fd, id)) {
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
    if (tls_ != nullptr) {
      StartTls(conn);  // Begin() once the handshake is done
    } else {
      Begin(conn);
    }
  }
}

// The listener stays readable while accept fails for want of descriptors:
// take it out of the epoll set until a connection closes or kAcceptRetry
// passes. Clients wait in the backlog meanwhile; the log says why, once.
void IoLoop::BackOffAccepting(int error) {
  if (!listener_.ok() || accept_backoff_) return;
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr);
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
void IoLoop::RetryAccepting() {
  if (!accept_backoff_) return;
  accept_backoff_ = false;
  if (!listener_.ok() || accept_paused_) return;
  EpollAdd(epoll_.get(), listener_.get(), kListenerTag);
  // Also when nobody waits any more: accept then says EAGAIN, which ends
  // the episode in the log.
  AcceptAll();
}

bool IoLoop::Begin(Connection& conn) {
  if (options_.greeting.has_value()) {
    QueueShared(conn, *options_.greeting, greeting_bytes_);
    if (!Pump(conn)) return false;
  }
  if (upstream_address_.has_value()) {
    const uint64_t id = conn.id;
    ConnectUpstream(conn);
    return connections_.contains(id);
  }
  return true;
}

void IoLoop::HandleConnection(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // closed earlier in this batch
  Connection& conn = *it->second;
  if (conn.handshaking) {
    ContinueHandshake(conn, events);
    return;
  }
  if ((events & (EPOLLHUP | EPOLLERR)) && !conn.reading && !conn.writing) {
    // Reported whatever the interest, again and again until handled: a reset
    // while the connection reads nothing (its upstream still connecting, its
    // output waiting on a timer) must end it now, not spin.
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      Close(conn, EventType::kReset, strerror(error));
    } else if (!conn.peer_closed) {
      Read(conn);  // the end of the stream, and what came before it
    } else {
      Close(conn, EventType::kPeerClosed, "hung up", std::move(conn.input));
    }
    return;
  }
  // TLS wanted to write to go on reading.
  const bool read_again = conn.tls_want_write && (events & EPOLLOUT);
  if (read_again) conn.tls_want_write = false;
  if (events & EPOLLOUT) {
    if (!Pump(conn)) return;
  }
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || read_again) {
    if (conn.reading) Read(conn);
  }
  if (tls_ != nullptr) DrainTls(id);
}

// Reads once (level-triggered epoll calls again while bytes remain), frames,
// replies.
void IoLoop::Read(Connection& conn) {
  size_t cap = read_buffer_.size();
  if (options_.framing.kind == Framing::Kind::kRaw) {
    cap = std::min(cap, options_.max_message_size);
  }
  std::string error;
  const ssize_t n = ReadSocket(conn, read_buffer_.data(), cap, &error);
  if (n == kWouldBlock) {
    UpdateInterest(conn);
    return;
  }
  if (n < 0) {
    Close(conn, EventType::kReset, std::move(error));
    return;
  }
  if (n == 0) {
    OnEof(conn);
    return;
  }
  const absl::string_view chunk(read_buffer_.data(), static_cast<size_t>(n));
  // Proxy mode: the bytes go on as read; framing only cuts them for the log.
  if (conn.upstream != nullptr && !ForwardToUpstream(conn, chunk)) return;
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
bool IoLoop::Deframe(Connection& conn) {
  size_t offset = 0;
  conn.input_held = false;
  while (offset < conn.input.size()) {
    if (OutputFull(conn)) {
      // One read may hold thousands of messages: answering them all first
      // would queue every reply before the bound is looked at.
      conn.input_held = true;
      break;
    }
    const absl::string_view rest = absl::string_view(conn.input).substr(offset);
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

void IoLoop::OnMessage(Connection& conn, absl::string_view bytes) {
  AddEvent(EventType::kReceived, conn.id, conn.peer, std::string(bytes), "");
  if (conn.upstream != nullptr || conn.close_when_done) {
    ++conn.messages;  // the upstream answers, or nobody does any more
    return;
  }
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

void IoLoop::OnEof(Connection& conn) {
  conn.peer_closed = true;
  if (conn.upstream != nullptr) {
    // Passed on as a half-close; the connection ends when the upstream's
    // does.
    conn.upstream->shut_pending = true;
    if (FlushUpstream(conn)) UpdateInterest(conn);
    return;
  }
  if (conn.output.empty() && !conn.input_held) {
    Close(conn, EventType::kPeerClosed, "", std::move(conn.input));
    return;
  }
  // Finish the replies first; the close is logged when they are done.
  UpdateInterest(conn);
}

// Closes with a reset (RST) instead of a FIN.
void IoLoop::Reset(Connection& conn, std::string why) {
  linger l{1, 0};
  setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close(conn, EventType::kServerReset, std::move(why));
}

void IoLoop::Close(Connection& conn, EventType type, std::string detail,
                   std::string bytes) {
  if (conn.output_bytes > 0) {
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", conn.output_bytes,
                    " reply bytes unsent");
  }
  const uint64_t id = conn.id;
  AddEvent(type, id, std::move(conn.peer), std::move(bytes), std::move(detail));
  // Logged before the peer can see the close.
  Publish();
  if (conn.tls != nullptr && !conn.handshaking &&
      type != EventType::kServerReset && type != EventType::kReset) {
    conn.tls->Shutdown();  // close_notify, then the FIN
  }
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.fd, nullptr);
  close(conn.fd);
  connections_.erase(id);  // destroys `conn`
  // A descriptor is free: accept again at the end of this loop iteration.
  if (accept_backoff_) accept_retry_at_ = absl::InfinitePast();
}

void IoLoop::Shutdown() {
  listener_.reset();
  for (uint64_t id : OpenIds()) {
    Close(*connections_[id], EventType::kServerClosed, "server stopped");
  }
  Publish();
  log_.Finish();
  // Tasks that raced with Stop() are answered, not left waiting; destroying
  // them closes what they own (a new listener).
  IoWork work = take_work_();
  for (QueuedTask& queued : work.tasks) {
    queued.task = nullptr;
    if (queued.done != nullptr) queued.done->Notify();
  }
}

std::vector<uint64_t> IoLoop::OpenIds() const {
  std::vector<uint64_t> ids;
  ids.reserve(connections_.size());
  for (const auto& [id, conn] : connections_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string IoLoop::ListenAddress() const {
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (!listener_.ok() ||
      getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return "";
  }
  return FormatSockaddr(addr);
}

void IoLoop::AddEvent(EventType type, uint64_t id, std::string peer,
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

void IoLoop::Publish() { log_.Append(&pending_); }

}  // namespace fake_tcp
