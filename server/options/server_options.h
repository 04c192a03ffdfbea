#ifndef SERVER_OPTIONS_SERVER_OPTIONS_H_
#define SERVER_OPTIONS_SERVER_OPTIONS_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "server/reply/reply.h"
#include "server/tls/tls.h"

namespace fake_tcp {

// The largest read buffer (ServerOptions::read_size) a server accepts.
inline constexpr size_t kMaxReadSize = size_t{16} << 20;

// Proxy mode (ServerOptions::proxy): every accepted connection is forwarded
// to a real server, the upstream, bytes passing both ways as they arrive.
// What the client sends is logged as kReceived messages (with the server's
// framing) and what the upstream answers as kSent, so a recording of the
// session can be replayed as a script (server/recorder.h).
struct ProxyOptions {
  // What a client's connection gets once its upstream connection ends (the
  // upstream closed or reset it, or the connect failed); logged as kUpstream
  // either way.
  enum class UpstreamGone {
    // Closed (FIN) once what the upstream sent has gone out: what the client
    // would see from the upstream itself.
    kClose,
    // Reset (RST) at once; what was not sent yet is dropped.
    kReset,
    // Kept open and answered by the server itself (`responder` or `reply`)
    // from the next message on.
    kReply,
  };
  // Where to forward: "host:port" or "[v6]:port", resolved once at Start, or
  // a Unix-domain socket, "unix:/run/x.sock" or "unix:@name".
  std::string upstream;
  // A connect that has not completed by then fails.
  absl::Duration connect_timeout = absl::Seconds(5);
  UpstreamGone upstream_gone = UpstreamGone::kClose;
};

// Returns "close", "reset" or "reply".
absl::string_view UpstreamGoneName(ProxyOptions::UpstreamGone gone);

// How a FakeTcpServer listens, frames, replies and bounds its memory. Every
// field has a usable default; `FakeTcpServer::Start` rejects bad values with
// INVALID_ARGUMENT.
struct ServerOptions {
  // Where to listen: an IP literal ("127.0.0.1", "::1") or a host name resolved
  // once at Start ("localhost"). Loopback by default.
  std::string address = "127.0.0.1";
  // The TCP port; 0 picks a free one (see FakeTcpServer::port()). 9500 is the
  // port of the hand-written fakes this replaces, which code under test often
  // hard-codes.
  int port = 9500;
  // A Unix-domain stream socket to listen on instead of TCP: "/run/x.sock"
  // (a file, created at Start, removed at Stop) or "@name" (the abstract
  // namespace, no file). Empty: TCP on `address` and `port`, which are then
  // unused. FakeTcpServer::address() says "unix:/run/x.sock"; port() is 0.
  std::string unix_socket;
  // The socket file's permissions (0600: its owner only).
  int unix_socket_mode = 0600;
  // The listen backlog; connects beyond it wait in SYN queues.
  int backlog = SOMAXCONN;
  // How each connection's bytes are cut into messages.
  Framing framing = Framing::Raw();
  // A larger message closes its connection with an kOversize event.
  size_t max_message_size = size_t{1} << 20;
  // Connections open at once; one more is accepted and closed with
  // kConnectionLimit. Start() lowers it to what the descriptor limit leaves
  // (FakeTcpServer::max_connections()).
  size_t max_connections = 1024;
  // Unsent reply bytes per connection past which the server stops reading from
  // it until the peer reads (a slow reader never grows memory without bound).
  size_t max_pending_output = size_t{8} << 20;
  // Bytes read from a socket at a time (raw framing: at most max_message_size);
  // 1 to 16 MiB.
  size_t read_size = size_t{64} << 10;
  // Bounds on the message log.
  LogLimits log_limits;
  // Secrets to hide from the log and all that is made from it (transcripts,
  // the event stream, the control API, recordings, near misses): RE2 patterns
  // over bytes whose matches (or their groups' matches) are logged as
  // "<redacted>"; see Redactor. The bytes on the wire are untouched. Each
  // logged message is redacted on its own: a secret split across two messages
  // (raw framing cuts where reads end) escapes, so frame by line or length.
  std::vector<std::string> redact;
  // The reply to every message when `responder` is empty; std::nullopt for
  // none.
  std::optional<std::string> reply = std::string("Received");
  // When set, decides each reply instead of `reply`.
  Responder responder;
  // Sent to every new connection before anything else, when set.
  std::optional<Reply> greeting;
  // Faults for every reply (added to each Reply's own): a delay before each
  // one, a rate limit when the Reply has none, and a close once a connection
  // has been sent this many bytes in all (SIZE_MAX: never).
  absl::Duration reply_latency = absl::ZeroDuration();
  int64_t bytes_per_second = 0;
  // How long Stop() lets connections finish: no new connections, and each
  // connection's replies to what the log holds go out (input that comes
  // meanwhile is read and dropped, not logged), then it closes with a FIN.
  // Connections still busy after it close as with zero, the unsent bytes named
  // in the log. Zero (the library's default: a test's Stop() is its teardown)
  // closes every connection at once; the standalone server's --drain_timeout is
  // 5s.
  absl::Duration drain_timeout = absl::ZeroDuration();
  size_t close_after_bytes = SIZE_MAX;
  // When set, every connection is forwarded to an upstream (see ProxyOptions)
  // and messages are answered by it, not by `responder` or `reply`. The
  // server-wide faults above still shape what the upstream sends (the latency
  // once per burst of upstream bytes that follows a client's bytes), and the
  // server's commands (Send, DropConnections, PauseAccepting...) work as
  // usual. Memory stays bounded: reading from the client stops while
  // max_pending_output bytes wait for the upstream, reading from the upstream
  // while they wait for the client.
  std::optional<ProxyOptions> proxy;
  // When set, the server speaks TLS (see TlsOptions): each connection's
  // handshake is logged (kTls), then its plaintext as for plain TCP. The
  // greeting and the upstream connect wait for the handshake.
  std::optional<TlsOptions> tls;
};

// An open connection as the I/O thread sees it (FakeTcpServer::Connections).
struct ConnectionInfo {
  uint64_t id = 0;
  // "127.0.0.1:54321".
  std::string peer;
  uint64_t bytes_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t messages_received = 0;
  // Reply bytes queued and not yet written.
  uint64_t pending_output = 0;
  // EOF read (the connection closes once its output is done).
  bool peer_closed = false;
  // The server shut its write side (a fault).
  bool half_closed = false;
  // The server sends nothing more on it (a fault).
  bool stalled = false;
};

// Whether the listener accepts connections.
enum class ListenerState {
  // Start() not called yet, or it failed.
  kNotStarted,
  // Bound, listening, served by the I/O thread.
  kAccepting,
  // PauseAccepting(): connects complete in the backlog, unserved.
  kPaused,
  // StopAccepting(): the listener is closed, connects are refused.
  kRefusing,
  // Stop() was called.
  kStopped,
};

// Returns "accepting", "paused", ... for logs and messages.
absl::string_view ListenerStateName(ListenerState state);

// Returns OK, or INVALID_ARGUMENT naming the first bad field and its value,
// e.g. "Start: port must be 0..65535, got 70000" (FakeTcpServer::Start's
// check, usable before a server exists).
absl::Status ValidateServerOptions(const ServerOptions& options);

}  // namespace fake_tcp

#endif  // SERVER_OPTIONS_SERVER_OPTIONS_H_
