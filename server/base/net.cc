#include "server/base/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "server/base/errno_status.h"

namespace fake_tcp {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": expected host:port or [v6]:port"));
  }
  absl::string_view host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return absl::InvalidArgumentError(
          absl::StrCat(address, ": unbalanced [ ] around the host"));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": an IPv6 host goes in brackets, [::1]:port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": bad port (0..65535)"));
  }
  return HostPort{std::string(host), port};
}

std::string JoinHostPort(absl::string_view host, int port) {
  if (host.find(':') != absl::string_view::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

std::string FormatSockaddr(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return JoinHostPort(host, ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return JoinHostPort(host, ntohs(in6->sin6_port));
  }
  if (addr.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&addr);
    const char* path = un->sun_path;
    const size_t max = sizeof(un->sun_path);
    if (path[0] != '\0')
      return absl::StrCat("unix:", std::string(path, strnlen(path, max)));
    // Abstract names may hold NULs; the name up to the first one is shown.
    const std::string name(path + 1, strnlen(path + 1, max - 1));
    return name.empty() ? "unix:" : absl::StrCat("unix:@", name);
  }
  return absl::StrCat("<address family ", addr.ss_family, ">");
}

bool IsUnixAddress(absl::string_view address) {
  return absl::StartsWith(address, "unix:");
}

absl::StatusOr<SocketAddress> ParseUnixAddress(absl::string_view address) {
  absl::string_view path = address;
  if (!absl::ConsumePrefix(&path, "unix:")) {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": expected unix:PATH or unix:@NAME"));
  }
  if (path.empty() || path == "@") {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": the socket path is empty"));
  }
  SocketAddress out;
  auto* un = reinterpret_cast<sockaddr_un*>(&out.addr);
  un->sun_family = AF_UNIX;
  // A file path needs its NUL inside sun_path; an abstract name (its '@' is
  // the leading NUL) fills it to the end at most.
  const size_t room = sizeof(un->sun_path) - (path[0] == '@' ? 0 : 1);
  if (path.size() > room) {
    return absl::InvalidArgumentError(
        absl::StrCat(address, ": the path is ", path.size(),
                     " bytes; a Unix socket path holds at most ", room));
  }
  memcpy(un->sun_path, path.data(), path.size());
  if (path[0] == '@') un->sun_path[0] = '\0';
  out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                   path.size() + (path[0] == '@' ? 0 : 1));
  return out;
}

void RemoveUnixSocketFile(absl::string_view address) {
  absl::string_view path = address;
  if (!absl::ConsumePrefix(&path, "unix:") || path.empty() || path[0] == '@') {
    return;
  }
  const std::string file(path);
  struct stat st;
  if (lstat(file.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    unlink(file.c_str());
  }
}

namespace {

// The status for a failed bind() or listen(): EADDRINUSE is UNAVAILABLE (the
// port is taken now, may be free later), as ErrnoToCode has it.
absl::Status ListenError(int err, absl::string_view op,
                         absl::string_view where) {
  return ErrnoStatus(err, absl::StrCat(op, " ", where));
}

// Binds and listens on one resolved address.
absl::StatusOr<BoundListener> ListenOn(const SocketAddress& address,
                                       int backlog) {
  const std::string where = FormatSockaddr(address.addr);
  const int family = address.addr.ss_family;
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return ListenError(errno, "socket", where);
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.addr),
           address.len) != 0) {
    return ListenError(errno, "bind", where);
  }
  if (listen(fd.get(), backlog) != 0) {
    return ListenError(errno, "listen", where);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return ListenError(errno, "getsockname", where);
  }
  BoundListener out;
  out.fd = std::move(fd);
  out.address = FormatSockaddr(bound);
  out.port = bound.ss_family == AF_INET6
                 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                 : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<SocketAddress>> Resolve(absl::string_view host,
                                                   int port) {
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
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    SocketAddress address;
    memcpy(&address.addr, ai->ai_addr, ai->ai_addrlen);
    address.len = ai->ai_addrlen;
    out.push_back(address);
  }
  freeaddrinfo(result);
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("resolve ", host, ": no IPv4 or IPv6 address"));
  }
  return out;
}

absl::StatusOr<UniqueFd> StartConnect(const SocketAddress& to) {
  UniqueFd fd(
      socket(to.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.ok()) {
    return ErrnoStatus(errno,
                       absl::StrCat("socket for ", FormatSockaddr(to.addr)));
  }
  if (to.addr.ss_family != AF_UNIX) {
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&to.addr), to.len) !=
          0 &&
      errno != EINPROGRESS) {
    return ErrnoStatus(errno,
                       absl::StrCat("connect ", FormatSockaddr(to.addr)));
  }
  return fd;
}

absl::StatusOr<BoundListener> Listen(absl::string_view host, int port,
                                     int backlog) {
  absl::StatusOr<std::vector<SocketAddress>> addresses = Resolve(host, port);
  if (!addresses.ok()) return addresses.status();
  absl::Status first_error;
  for (const SocketAddress& address : *addresses) {
    absl::StatusOr<BoundListener> listener = ListenOn(address, backlog);
    if (listener.ok()) return listener;
    if (first_error.ok()) first_error = listener.status();
  }
  return first_error;
}

absl::StatusOr<BoundListener> ListenUnix(absl::string_view address, int backlog,
                                         int mode) {
  absl::StatusOr<SocketAddress> to = ParseUnixAddress(address);
  if (!to.ok()) return to.status();
  const bool abstract = address[5] == '@';
  const std::string path(address.substr(5));
  if (!abstract) {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "bind ", address, ": the path exists and is not a socket"));
      }
      // A live server answers; a socket file whose server is gone refuses.
      UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!probe.ok()) return ListenError(errno, "socket", address);
      if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&to->addr),
                  to->len) == 0 ||
          errno == EAGAIN) {
        return absl::FailedPreconditionError(absl::StrCat(
            "bind ", address, ": the path is in use by a running server"));
      }
      if (errno != ECONNREFUSED) {
        return ListenError(errno, "connect to the existing socket", address);
      }
      unlink(path.c_str());
    }
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return ListenError(errno, "socket", address);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&to->addr), to->len) !=
      0) {
    return ListenError(errno, "bind", address);
  }
  // Before listen(), a connect is refused: nobody gets in under a wider mode.
  if (!abstract && chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
    const int err = errno;
    unlink(path.c_str());
    return ListenError(err, absl::StrFormat("chmod %04o", mode), address);
  }
  if (listen(fd.get(), backlog) != 0) {
    const int err = errno;
    if (!abstract) unlink(path.c_str());
    return ListenError(err, "listen", address);
  }
  BoundListener out;
  out.fd = std::move(fd);
  out.address = std::string(address);
  return out;
}

}  // namespace fake_tcp
