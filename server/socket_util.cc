#include "server/socket_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace fake_tcp {

absl::StatusCode ErrnoToCode(int err) {
  switch (err) {
    case 0:
      return absl::StatusCode::kOk;
    case EINVAL:
    case ENAMETOOLONG:
    case E2BIG:
    case EDESTADDRREQ:
    case EDOM:
    case EFAULT:
    case EILSEQ:
    case ENOPROTOOPT:
    case ENOTSOCK:
    case ENOTTY:
    case EPROTOTYPE:
    case ESPIPE:
      return absl::StatusCode::kInvalidArgument;
    case ETIMEDOUT:
    case ETIME:
      return absl::StatusCode::kDeadlineExceeded;
    case ENODEV:
    case ENOENT:
    case ENXIO:
    case ESRCH:
      return absl::StatusCode::kNotFound;
    case EEXIST:
    case EADDRNOTAVAIL:
    case EALREADY:
      return absl::StatusCode::kAlreadyExists;
    case EPERM:
    case EACCES:
    case EROFS:
      return absl::StatusCode::kPermissionDenied;
    case ENOTEMPTY:
    case EISDIR:
    case ENOTDIR:
    case EADDRINUSE:
    case EBADF:
    case EBUSY:
    case ECHILD:
    case EISCONN:
    case ENOTCONN:
    case EPIPE:
    case ESHUTDOWN:
      return absl::StatusCode::kFailedPrecondition;
    case ENOSPC:
    case EMFILE:
    case EMLINK:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EUSERS:
      return absl::StatusCode::kResourceExhausted;
    case EOVERFLOW:
    case ERANGE:
      return absl::StatusCode::kOutOfRange;
    case ENOSYS:
    case ENOTSUP:
    case EAFNOSUPPORT:
    case EPFNOSUPPORT:
    case EPROTONOSUPPORT:
    case ESOCKTNOSUPPORT:
    case EXDEV:
      return absl::StatusCode::kUnimplemented;
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNABORTED:
    case ECONNRESET:
    case EINTR:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENETDOWN:
    case ENETRESET:
    case ENETUNREACH:
    case ENOLCK:
    case ENOLINK:
    case ENONET:
      return absl::StatusCode::kUnavailable;
    case EDEADLK:
    case ESTALE:
      return absl::StatusCode::kAborted;
    case ECANCELED:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::Status(ErrnoToCode(err),
                      absl::StrCat(what, ": ", strerror(err)));
}

std::string FormatSockaddr(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
  }
  return absl::StrCat("<address family ", addr.ss_family, ">");
}

namespace {

// Binds and listens on one resolved address. Returns the fd or an error naming
// `where`.
absl::StatusOr<BoundListener> ListenOn(const addrinfo& ai, int backlog) {
  sockaddr_storage want{};
  memcpy(&want, ai.ai_addr, ai.ai_addrlen);
  const std::string where = FormatSockaddr(want);
  const int fd =
      socket(ai.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("socket ", where));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ai.ai_family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd, ai.ai_addr, ai.ai_addrlen) != 0) {
    const int err = errno;
    close(fd);
    // EADDRINUSE is UNAVAILABLE here: the port is taken now, may be free later.
    absl::Status s = ErrnoStatus(err, absl::StrCat("bind ", where));
    if (err == EADDRINUSE) s = absl::UnavailableError(s.message());
    return s;
  }
  if (listen(fd, backlog) != 0) {
    const int err = errno;
    close(fd);
    absl::Status s = ErrnoStatus(err, absl::StrCat("listen ", where));
    if (err == EADDRINUSE) s = absl::UnavailableError(s.message());
    return s;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus(err, absl::StrCat("getsockname ", where));
  }
  BoundListener out;
  out.fd = fd;
  out.address = FormatSockaddr(bound);
  out.port = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return out;
}

}  // namespace

absl::StatusOr<BoundListener> Listen(absl::string_view host, int port,
                                     int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string host_str(host);
  const std::string port_str = std::to_string(port);
  const int rc =
      getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("resolve ", host, ":", port, ": ",
                     rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc)));
  }
  absl::Status first_error;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    absl::StatusOr<BoundListener> listener = ListenOn(*ai, backlog);
    if (listener.ok()) {
      freeaddrinfo(result);
      return listener;
    }
    if (first_error.ok()) first_error = listener.status();
  }
  freeaddrinfo(result);
  if (first_error.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resolve ", host, ": no IPv4 or IPv6 address"));
  }
  return first_error;
}

}  // namespace fake_tcp
