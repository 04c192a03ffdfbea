// Proxy mode of IoLoop (ServerOptions::proxy): each accepted connection gets a
// connection to the upstream. Client bytes go on as read (framing only cuts
// them for the log); upstream bytes come back as replies, shaped and logged
// like any other. Both directions are bounded by max_pending_output.

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/io_loop.h"

namespace fake_tcp {
namespace {

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

absl::StatusOr<std::optional<SocketAddress>> IoLoop::ResolveUpstream(
    const ServerOptions& options, int listener) {
  if (!options.proxy.has_value()) return std::nullopt;
  // Parsed by ValidateServerOptions already.
  if (IsUnixAddress(options.proxy->upstream)) {
    absl::StatusOr<SocketAddress> un =
        ParseUnixAddress(options.proxy->upstream);
    if (!un.ok()) return un.status();
    if (!options.unix_socket.empty() &&
        absl::StrCat("unix:", options.unix_socket) == options.proxy->upstream) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Start: proxy.upstream: ", options.proxy->upstream,
          " is this server's own socket (it would forward every connection "
          "to itself)"));
    }
    return *un;
  }
  absl::StatusOr<HostPort> host_port = ParseHostPort(options.proxy->upstream);
  if (!host_port.ok()) return host_port.status();
  absl::StatusOr<std::vector<SocketAddress>> resolved =
      Resolve(host_port->host, host_port->port);
  if (!resolved.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: proxy.upstream: ", resolved.status().message()));
  }
  sockaddr_storage self{};
  socklen_t len = sizeof(self);
  if (getsockname(listener, reinterpret_cast<sockaddr*>(&self), &len) == 0 &&
      ReachesItself(self, resolved->front().addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: proxy.upstream: ", options.proxy->upstream,
                     " is this server's own address ", FormatSockaddr(self),
                     " (it would forward every connection to itself)"));
  }
  return resolved->front();
}

void IoLoop::ConnectUpstream(Connection& conn) {
  absl::StatusOr<UniqueFd> fd = StartConnect(*upstream_address_);
  if (!fd.ok()) {
    UpstreamGone(conn, std::string(fd.status().message()));
    return;
  }
  auto upstream = std::make_unique<Upstream>();
  upstream->fd = *std::move(fd);
  upstream->connect_deadline = absl::Now() + options_.proxy->connect_timeout;
  epoll_event ev{};
  ev.events = EPOLLOUT;  // writable: the connect completed (or failed)
  ev.data.u64 = conn.id | kUpstreamBit;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, upstream->fd.get(), &ev) != 0) {
    UpstreamGone(conn, absl::StrCat("epoll_ctl: ", strerror(errno)));
    return;
  }
  timers_.emplace(upstream->connect_deadline, conn.id);
  conn.upstream = std::move(upstream);
  // The client is read once the upstream is connected: what it sends goes
  // there, or, if the upstream never comes, to the answers upstream_gone says.
  UpdateInterest(conn);
}

void IoLoop::HandleUpstream(uint64_t id, uint32_t events) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // closed earlier in this batch
  Connection& conn = *it->second;
  if (conn.upstream == nullptr) return;  // gone earlier in this batch
  Upstream& upstream = *conn.upstream;
  if (!upstream.connected) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(upstream.fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) !=
        0) {
      error = errno;
    }
    if (error != 0) {
      UpstreamGone(conn, absl::StrCat("connect ", upstream_name_, ": ",
                                      strerror(error)));
      return;
    }
    upstream.connected = true;
    AddEvent(EventType::kUpstream, conn.id, conn.peer, "",
             absl::StrCat("connected to ", upstream_name_));
    if (FlushUpstream(conn)) UpdateInterest(conn);
    return;
  }
  if ((events & EPOLLOUT) && !FlushUpstream(conn)) return;
  if (conn.upstream == nullptr) return;
  // A hang-up or an error is read even while the client's output is full:
  // what is left is at most the socket's buffer, and its end must be seen
  // (level-triggered epoll would report it again and again).
  if ((events & (EPOLLHUP | EPOLLERR)) ||
      ((events & EPOLLIN) && conn.upstream->reading)) {
    ReadUpstream(conn);
  }
}

bool IoLoop::ForwardToUpstream(Connection& conn, absl::string_view bytes) {
  Upstream& upstream = *conn.upstream;
  upstream.burst_started = false;  // the upstream's next bytes answer these
  upstream.to_send.append(bytes.data(), bytes.size());
  if (!upstream.connected) return true;  // sent once connected
  return FlushUpstream(conn);
}

bool IoLoop::FlushUpstream(Connection& conn) {
  Upstream& upstream = *conn.upstream;
  if (!upstream.connected) return true;
  while (upstream.pending() > 0) {
    const ssize_t n = send(upstream.fd.get(),
                           upstream.to_send.data() + upstream.to_send_offset,
                           upstream.pending(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return UpstreamGone(conn, absl::StrCat("send to ", upstream_name_, ": ",
                                             strerror(errno)));
    }
    upstream.to_send_offset += static_cast<size_t>(n);
  }
  if (upstream.pending() == 0) {
    upstream.to_send.clear();
    upstream.to_send_offset = 0;
    if (upstream.to_send.capacity() > (size_t{256} << 10)) {
      upstream.to_send.shrink_to_fit();
    }
    if (upstream.shut_pending && !upstream.write_shut) {
      shutdown(upstream.fd.get(), SHUT_WR);
      upstream.write_shut = true;
    }
  }
  UpdateInterest(conn);
  return true;
}

bool IoLoop::ReadUpstream(Connection& conn) {
  Upstream& upstream = *conn.upstream;
  const ssize_t n =
      read(upstream.fd.get(), read_buffer_.data(), read_buffer_.size());
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
    return UpstreamGone(conn, absl::StrCat("read from ", upstream_name_, ": ",
                                           strerror(errno)));
  }
  if (n == 0) {
    return UpstreamGone(conn, absl::StrCat(upstream_name_, " closed"));
  }
  const bool latency = !upstream.burst_started;
  upstream.burst_started = true;
  Queue(conn, Reply(std::string(read_buffer_.data(), static_cast<size_t>(n))),
        latency);
  return Pump(conn);
}

// The upstream connection ended (or never began): logs why, and treats the
// client as options_.proxy->upstream_gone says.
bool IoLoop::UpstreamGone(Connection& conn, std::string why) {
  if (conn.upstream != nullptr) {
    const size_t unsent = conn.upstream->pending();
    if (unsent > 0) {
      absl::StrAppend(&why, "; ", unsent, " client bytes not forwarded");
    }
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, conn.upstream->fd.get(), nullptr);
    conn.upstream.reset();
  }
  const ProxyOptions::UpstreamGone gone = options_.proxy->upstream_gone;
  AddEvent(EventType::kUpstream, conn.id, conn.peer, "",
           absl::StrCat(why, "; upstream_gone: ", UpstreamGoneName(gone)));
  switch (gone) {
    case ProxyOptions::UpstreamGone::kReset:
      Reset(conn, absl::StrCat("upstream gone: ", why));
      return false;
    case ProxyOptions::UpstreamGone::kClose:
      conn.close_when_done = true;
      conn.close_why = absl::StrCat("upstream gone: ", why);
      break;
    case ProxyOptions::UpstreamGone::kReply:
      break;
  }
  return Pump(conn);
}

bool IoLoop::CheckConnectDeadline(Connection& conn, absl::Time now) {
  if (conn.upstream == nullptr || conn.upstream->connected ||
      conn.upstream->connect_deadline > now) {
    return true;
  }
  return UpstreamGone(
      conn,
      absl::StrCat("connect ", upstream_name_, ": not connected within ",
                   absl::FormatDuration(options_.proxy->connect_timeout)));
}

// Reads from the upstream unless the client's output is full; writes while
// client bytes wait (or the connect is in progress).
void IoLoop::UpdateUpstreamInterest(Connection& conn) {
  Upstream& upstream = *conn.upstream;
  const bool reading = upstream.connected && !OutputFull(conn);
  const bool writing = !upstream.connected || upstream.pending() > 0;
  if (reading == upstream.reading && writing == upstream.writing) return;
  epoll_event ev{};
  ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
  ev.data.u64 = conn.id | kUpstreamBit;
  epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, upstream.fd.get(), &ev);
  upstream.reading = reading;
  upstream.writing = writing;
}

}  // namespace fake_tcp
