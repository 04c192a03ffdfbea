#include "server/io_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/base/deadline.h"
#include "server/base/errno_status.h"
#include "server/base/net.h"

namespace fake_tcp {
namespace {

constexpr int kMaxEpollEvents = 256;

}  // namespace

absl::StatusOr<std::unique_ptr<IoLoop>> IoLoop::Create(
    const ServerOptions* options, MessageLog* log, UniqueFd listener,
    int wake_fd, TakeWork take_work) {
  absl::StatusOr<std::optional<SocketAddress>> upstream =
      ResolveUpstream(*options, listener.get());
  if (!upstream.ok()) return upstream.status();
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
                 std::move(take_work), *upstream, std::move(tls)));
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
  spare_fd_ = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (upstream_address_.has_value()) {
    upstream_name_ = FormatSockaddr(upstream_address_->addr);
  }
  if (options_.reply.has_value()) {
    reply_bytes_ = std::shared_ptr<const std::string>(
        std::shared_ptr<const std::string>(), &*options_.reply);
  }
  if (options_.greeting.has_value()) {
    greeting_bytes_ =
        std::make_shared<const std::string>(options_.greeting->bytes);
  }
}

IoLoop::~IoLoop() = default;

bool IoLoop::EpollAdd(int epoll_fd, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
}

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
    if (draining_ && (connections_.empty() || absl::Now() >= drain_deadline_)) {
      break;
    }
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
        if (stopping && options_.drain_timeout > absl::ZeroDuration()) {
          if (!draining_) BeginDrain();
          stopping = false;  // until the connections are done
        }
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

std::vector<ConnectionInfo> IoLoop::Connections() const {
  std::vector<ConnectionInfo> infos;
  absl::MutexLock lock(&directory_mu_);
  infos.reserve(directory_.size());
  for (const auto& [id, conn] : directory_) {
    ConnectionInfo info;
    info.id = id;
    info.peer = conn->peer;
    info.bytes_received = conn->received_bytes;
    info.bytes_sent = conn->sent_bytes;
    info.messages_received = conn->messages;
    info.pending_output = conn->output_bytes;
    info.peer_closed = conn->peer_closed;
    info.half_closed = conn->write_shut;
    info.stalled = conn->stalled;
    infos.push_back(std::move(info));
  }
  return infos;
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
  if (draining_) next = std::min(next, drain_deadline_);
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

// Stop() with a drain_timeout: the listener closes; each connection finishes
// the replies to what the log holds and then closes with a FIN (Pump's
// close_when_done). Complete messages held back by the pending-output bound are
// not in the log and are dropped with the input still to come. Proxied and
// handshaking connections close at once.
void IoLoop::BeginDrain() {
  draining_ = true;
  drain_deadline_ = absl::Now() + options_.drain_timeout;
  listener_.reset();  // closing it takes it out of the epoll set
  accept_backoff_ = false;
  for (uint64_t id : OpenIds()) {
    Connection& conn = *connections_.at(id);
    if (conn.upstream != nullptr || conn.handshaking) {
      Close(conn, EventType::kServerClosed, "server stopped");
      continue;
    }
    conn.close_when_done = true;
    conn.close_why = "server stopped";
    conn.input.clear();
    conn.input_held = false;
    Pump(conn);  // closes it now when nothing is pending
  }
  Publish();
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
  absl::MutexLock lock(&directory_mu_);
  ids.reserve(directory_.size());
  for (const auto& [id, conn] : directory_) ids.push_back(id);
  return ids;
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
