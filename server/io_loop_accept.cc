// The listener side of IoLoop: accepting (with a back-off when descriptors
// run out), pausing, closing and resuming the listener, and a new
// connection's start (greeting, upstream).

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/base/net.h"
#include "server/io_loop.h"

namespace fake_tcp {
namespace {

// Out of descriptors, accepting waits this long (or until a connection closes)
// before it tries again, instead of spinning on a listener that stays readable.
constexpr absl::Duration kAcceptRetry = absl::Milliseconds(100);

// "127.0.0.1:40312"; on a Unix-domain socket, whose clients have no name, the
// client's process and user from SO_PEERCRED: "unix pid=4242 uid=1000".
std::string PeerName(int fd, const sockaddr_storage& addr) {
  if (addr.ss_family != AF_UNIX) return FormatSockaddr(addr);
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return FormatSockaddr(addr);
  }
  return absl::StrCat("unix pid=", cred.pid, " uid=", cred.uid);
}

}  // namespace

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

void IoLoop::AcceptAll() {
  while (listener_.ok()) {
    sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr),
                           &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && RefuseWithSpare(errno)) {
        continue;
      }
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
    std::string peer = PeerName(fd, addr);
    if (connections_.size() >= max_connections_) {
      AddEvent(EventType::kConnectionLimit, id, std::move(peer), "",
               absl::StrCat("max_connections ", max_connections_,
                            " reached; closed at once"));
      Publish();
      close(fd);
      continue;
    }
    if (addr.ss_family != AF_UNIX) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
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
    {
      absl::MutexLock lock(&directory_mu_);
      directory_.emplace(id, &conn);
    }
    if (tls_ != nullptr) {
      StartTls(conn);  // Begin() once the handshake is done
    } else {
      Begin(conn);
    }
  }
}

// Out of descriptors with a client waiting: the spare descriptor is given up
// for a moment so that the client can be accepted and closed at once (logged as
// refused), not left hanging in the backlog. False when no client was taken so
// (none waits, or the spare is gone: then BackOffAccepting).
bool IoLoop::RefuseWithSpare(int error) {
  if (!spare_fd_.ok() || !listener_.ok()) return false;
  spare_fd_.reset();
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  const int fd = accept4(listener_.get(), reinterpret_cast<sockaddr*>(&addr),
                         &len, SOCK_CLOEXEC);
  if (fd >= 0) {
    AddEvent(
        EventType::kConnectionLimit, next_connection_id_++,
        FormatSockaddr(addr), "",
        absl::StrCat("accept: ", strerror(error), " with ", connections_.size(),
                     " connections open; closed at once"));
    Publish();
    close(fd);
  }
  spare_fd_ = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  return fd >= 0;
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

}  // namespace fake_tcp
