#ifndef SERVER_BASE_NET_H_
#define SERVER_BASE_NET_H_

#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/base/unique_fd.h"

namespace fake_tcp {

// A host and a port, as "127.0.0.1:9500", "localhost:9500" or "[::1]:9500"
// say them.
struct HostPort {
  // An IP literal without brackets ("::1") or a name.
  std::string host;
  int port = 0;
};

// Parses "host:port" or "[v6]:port" (port 0..65535). Returns INVALID_ARGUMENT
// naming `address` if it is neither, e.g. "127.0.0.1:9500x: bad port".
absl::StatusOr<HostPort> ParseHostPort(absl::string_view address);

// Returns "host:port", or "[host]:port" when `host` is an IPv6 literal.
std::string JoinHostPort(absl::string_view host, int port);

// Formats an IPv4 or IPv6 socket address as "127.0.0.1:9500" or "[::1]:9500",
// a Unix-domain one as "unix:/run/x.sock", "unix:@name" (abstract) or "unix:"
// (unnamed, as a connecting client's is); "<address family N>" for any other.
std::string FormatSockaddr(const sockaddr_storage& addr);

// True when `address` names a Unix-domain socket: "unix:PATH" or "unix:@NAME".
bool IsUnixAddress(absl::string_view address);

// One resolved socket address.
struct SocketAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Resolves `host` (an IP literal or a name) with `port`: its IPv4 and IPv6
// addresses in getaddrinfo's order. INVALID_ARGUMENT naming both for a name
// that does not resolve, e.g. "resolve nosuchhost:9500: Name or service not
// known".
absl::StatusOr<std::vector<SocketAddress>> Resolve(absl::string_view host,
                                                   int port);

// Returns the AF_UNIX socket address of "unix:PATH" (a file) or "unix:@NAME"
// (the abstract namespace: no file). INVALID_ARGUMENT naming `address` when it
// is not of that form, the path is empty, or it does not fit sun_path (107
// bytes), e.g. "unix:/very/long...: the path is 140 bytes; a Unix socket path
// holds at most 107".
absl::StatusOr<SocketAddress> ParseUnixAddress(absl::string_view address);

// Starts a non-blocking TCP connect to `to`: returns the socket
// (close-on-exec, TCP_NODELAY) connected or connecting (wait for it to become
// writable, then read SO_ERROR); the errno status of socket()/connect()
// naming the address otherwise, e.g. UNAVAILABLE "connect 127.0.0.1:1:
// Connection refused".
absl::StatusOr<UniqueFd> StartConnect(const SocketAddress& to);

// A listening socket and where it is bound.
struct BoundListener {
  // Non-blocking, close-on-exec.
  UniqueFd fd;
  // The bound port (the chosen one when asked for 0).
  int port = 0;
  // "127.0.0.1:9500" or "[::1]:9500".
  std::string address;
};

// Resolves `host` (an IP literal or a name, resolved once), then binds a TCP
// socket to `port` (0 = any free port) with SO_REUSEADDR (not SO_REUSEPORT;
// IPv6 sockets are v6-only) and listens with `backlog`. Tries each resolved
// address in order; returns the first that listens, else the first error, e.g.
// UNAVAILABLE "bind 127.0.0.1:9500: Address already in use", or
// INVALID_ARGUMENT "resolve nosuchhost:9500: ..." for a bad name.
absl::StatusOr<BoundListener> Listen(absl::string_view host, int port,
                                     int backlog);

// Binds a Unix-domain stream socket to `address` ("unix:PATH" or
// "unix:@NAME", see ParseUnixAddress) and listens with `backlog`; `port` is 0
// and `address` as given. A socket file is given `mode` (e.g. 0600) before
// anyone can connect. A file left by a server that is gone (connecting to it is
// refused) is replaced; FAILED_PRECONDITION when a live server answers there
// ("... is in use by a running server") or the path is not a socket (it is
// never removed then).
absl::StatusOr<BoundListener> ListenUnix(absl::string_view address, int backlog,
                                         int mode);

// Removes the socket file of a "unix:PATH" address (nothing for "unix:@NAME"
// or a TCP address). Errors are ignored: the file may be gone already.
void RemoveUnixSocketFile(absl::string_view address);

}  // namespace fake_tcp

#endif  // SERVER_BASE_NET_H_
