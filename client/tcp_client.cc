#include "client/tcp_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/deadline.h"
#include "server/base/errno_status.h"
#include "server/base/net.h"

namespace fake_tcp {
namespace {

absl::Status SocketError(int err, absl::string_view op,
                         absl::string_view peer) {
  return ErrnoStatus(err, absl::StrCat(op, " ", peer));
}

// "host:port" of a socket address, numerically ("[::1]:9500" for IPv6).
std::string Numeric(const sockaddr* addr, socklen_t len) {
  sockaddr_storage storage{};
  memcpy(&storage, addr, std::min<size_t>(len, sizeof(storage)));
  return FormatSockaddr(storage);
}

// Connects one resolved address within `deadline`; returns the fd.
absl::StatusOr<int> ConnectOne(const addrinfo& ai, absl::Time deadline,
                               absl::string_view peer) {
  const int fd =
      socket(ai.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError(errno, "socket for", peer);
  if (connect(fd, ai.ai_addr, ai.ai_addrlen) != 0 && errno != EINPROGRESS) {
    const int err = errno;
    close(fd);
    return SocketError(err, "connect", peer);
  }
  pollfd p{fd, POLLOUT, 0};
  while (true) {
    const int rc = poll(&p, 1, PollTimeoutMs(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) {
      close(fd);
      return absl::DeadlineExceededError(
          absl::StrCat("connect ", peer, ": no answer before the deadline"));
    }
    break;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close(fd);
    return SocketError(err, "connect", peer);
  }
  return fd;
}

}  // namespace

absl::StatusOr<TcpClient> TcpClient::Connect(absl::string_view address,
                                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (IsUnixAddress(address)) {
    absl::StatusOr<SocketAddress> to = ParseUnixAddress(address);
    if (!to.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("connect ", to.status().message()));
    }
    addrinfo ai{};
    ai.ai_family = AF_UNIX;
    ai.ai_addr = reinterpret_cast<sockaddr*>(&to->addr);
    ai.ai_addrlen = to->len;
    absl::StatusOr<int> fd = ConnectOne(ai, deadline, address);
    if (!fd.ok()) return fd.status();
    return TcpClient(*fd, std::string(address), "unix:");
  }
  absl::StatusOr<HostPort> host_port = ParseHostPort(address);
  if (!host_port.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect ", host_port.status().message()));
  }
  if (host_port->port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect ", address, ": bad port (1..65535)"));
  }
  const std::string port = std::to_string(host_port->port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const int rc =
      getaddrinfo(host_port->host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect ", address, ": resolve: ", gai_strerror(rc)));
  }
  absl::Status first_error;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    const std::string peer = Numeric(ai->ai_addr, ai->ai_addrlen);
    absl::StatusOr<int> fd = ConnectOne(*ai, deadline, peer);
    if (!fd.ok()) {
      if (first_error.ok()) first_error = fd.status();
      continue;
    }
    freeaddrinfo(result);
    const int one = 1;
    setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    getsockname(*fd, reinterpret_cast<sockaddr*>(&local), &len);
    return TcpClient(*fd, peer,
                     Numeric(reinterpret_cast<sockaddr*>(&local), len));
  }
  freeaddrinfo(result);
  if (first_error.ok()) {
    first_error = absl::InvalidArgumentError(
        absl::StrCat("connect ", address, ": no address"));
  }
  return first_error;
}

TcpClient::TcpClient(int fd, std::string peer, std::string local)
    : fd_(fd), peer_(std::move(peer)), local_(std::move(local)) {}

TcpClient::TcpClient(TcpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_(std::move(other.peer_)),
      local_(std::move(other.local_)),
      buffer_(std::move(other.buffer_)) {}

TcpClient& TcpClient::operator=(TcpClient&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::exchange(other.fd_, -1);
    peer_ = std::move(other.peer_);
    local_ = std::move(other.local_);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

TcpClient::~TcpClient() { Close(); }

absl::Status TcpClient::WaitFor(short events, absl::Time deadline,
                                absl::string_view op) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, " ", peer_, ": not connected"));
  }
  pollfd p{fd_, events, 0};
  while (true) {
    const int rc = poll(&p, 1, PollTimeoutMs(deadline));
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return SocketError(errno, op, peer_);
    return absl::DeadlineExceededError(
        absl::StrCat(op, " ", peer_, ": deadline exceeded"));
  }
}

absl::Status TcpClient::SendAll(absl::string_view data,
                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  size_t sent = 0;
  while (sent < data.size()) {
    if (absl::Status s = WaitFor(POLLOUT, deadline, "send to"); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(s.message(), " (", sent, " of ", data.size(),
                                 " bytes sent)"));
    }
    const ssize_t n = send(fd_, data.data() + sent, data.size() - sent,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return SocketError(errno, "send to", peer_);
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status TcpClient::ReadSome(absl::Time deadline, absl::string_view op) {
  while (true) {
    if (absl::Status s = WaitFor(POLLIN, deadline, op); !s.ok()) return s;
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return absl::OkStatus();
    }
    if (n == 0) {
      return absl::OutOfRangeError(
          absl::StrCat(op, " ", peer_, ": end of stream"));
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
    return SocketError(errno, op, peer_);
  }
}

absl::StatusOr<std::string> TcpClient::ReceiveExactly(size_t n,
                                                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (buffer_.size() < n) {
    if (absl::Status s = ReadSome(deadline, "receive from"); !s.ok()) {
      return absl::Status(
          s.code(),
          absl::StrCat(s.message(), " after ", buffer_.size(), " of ", n,
                       " bytes: \"", absl::CHexEscape(buffer_), "\""));
    }
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

absl::StatusOr<std::string> TcpClient::ReceiveUntil(absl::string_view delimiter,
                                                    absl::Duration timeout,
                                                    size_t max_bytes) {
  if (delimiter.empty()) {
    return absl::InvalidArgumentError("ReceiveUntil: empty delimiter");
  }
  const absl::Time deadline = absl::Now() + timeout;
  size_t searched = 0;
  while (true) {
    const size_t pos =
        buffer_.find(delimiter.data(), searched, delimiter.size());
    if (pos != std::string::npos && pos + delimiter.size() <= max_bytes) {
      std::string out = buffer_.substr(0, pos + delimiter.size());
      buffer_.erase(0, pos + delimiter.size());
      return out;
    }
    if (buffer_.size() >= max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "receive from ", peer_, ": no delimiter in ", max_bytes, " bytes"));
    }
    searched = buffer_.size() >= delimiter.size()
                   ? buffer_.size() - delimiter.size() + 1
                   : 0;
    if (absl::Status s = ReadSome(deadline, "receive from"); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(s.message(), " before the delimiter; got \"",
                                 absl::CHexEscape(buffer_), "\""));
    }
  }
}

absl::StatusOr<std::string> TcpClient::ReceiveAvailable(absl::Duration timeout,
                                                        size_t max_bytes) {
  if (buffer_.empty()) {
    if (absl::Status s = ReadSome(absl::Now() + timeout, "receive from");
        !s.ok()) {
      return s;
    }
  }
  const size_t n = std::min(max_bytes, buffer_.size());
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

absl::Status TcpClient::ReceiveEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::Status s = ReadSome(deadline, "wait for end of stream from");
    buffer_.clear();
    if (absl::IsOutOfRange(s)) return absl::OkStatus();
    if (!s.ok()) return s;
  }
}

absl::Status TcpClient::ShutdownWrite() {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("shutdown ", peer_, ": not connected"));
  }
  if (shutdown(fd_, SHUT_WR) != 0) return SocketError(errno, "shutdown", peer_);
  return absl::OkStatus();
}

void TcpClient::Close(bool reset) {
  if (fd_ < 0) return;
  if (reset) {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close(fd_);
  fd_ = -1;
}

}  // namespace fake_tcp
