#ifndef SERVER_SOCKET_UTIL_H_
#define SERVER_SOCKET_UTIL_H_

#include <sys/socket.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fake_tcp {

// Returns the canonical code for an errno value (as absl::ErrnoToStatus does in
// newer Abseil): EADDRINUSE and ECONNREFUSED are UNAVAILABLE, EACCES is
// PERMISSION_DENIED, ...
absl::StatusCode ErrnoToCode(int err);

// Returns a status with ErrnoToCode(err) and the message "<what>:
// <strerror(err)>".
absl::Status ErrnoStatus(int err, absl::string_view what);

// Formats an IPv4 or IPv6 socket address as "127.0.0.1:9500" or "[::1]:9500".
std::string FormatSockaddr(const sockaddr_storage& addr);

// A listening socket and where it is bound.
struct BoundListener {
  int fd = -1;          // non-blocking, close-on-exec; the caller owns it
  int port = 0;         // the bound port (the chosen one when asked for 0)
  std::string address;  // "127.0.0.1:9500" or "[::1]:9500"
};

// Resolves `host` (an IP literal or a name, resolved once), then binds a TCP
// socket to `port` (0 = any free port) with SO_REUSEADDR (not SO_REUSEPORT;
// IPv6 sockets are v6-only) and listens with `backlog`. Tries each resolved
// address in order; returns the first that listens, else the first error, e.g.
// UNAVAILABLE "bind 127.0.0.1:9500: Address already in use", or
// INVALID_ARGUMENT "resolve nosuchhost: ..." for a bad name.
absl::StatusOr<BoundListener> Listen(absl::string_view host, int port,
                                     int backlog);

}  // namespace fake_tcp

#endif  // SERVER_SOCKET_UTIL_H_
