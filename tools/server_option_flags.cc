// The flags of ServerOptions' fields, one of each name in
// ServerOptionFlagNames() (server/options/options_flags.h): each has the
// field's default and is read back through ApplyServerOptionFlag, the codec the
// out-of-process fixture writes them with. The standalone server finds them by
// name (absl::FindCommandLineFlag), so this file is linked whole.

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "server/options/server_options.h"
#include "tools/flags.h"

namespace {
const fake_tcp::ServerOptions kDefaults;
}  // namespace

ABSL_FLAG(
    std::string, address, kDefaults.address,
    "Address to listen on: an IP (127.0.0.1, ::1) or a host name resolved "
    "once (localhost).");
ABSL_FLAG(int, port, kDefaults.port,
          "TCP port to listen on; 0 picks a free port.");
ABSL_FLAG(std::string, unix_socket, kDefaults.unix_socket,
          "Listen on this Unix-domain stream socket instead of TCP: a path "
          "(created with --unix_socket_mode, removed at exit; a stale file "
          "from a server that is gone is replaced) or @name for the abstract "
          "namespace. --address and --port are then unused.");
ABSL_FLAG(std::string, unix_socket_mode, "0600",
          "Permissions of the --unix_socket file, in octal.");
ABSL_FLAG(int, backlog, kDefaults.backlog,
          "The listen backlog: connects beyond it wait in SYN queues.");
ABSL_FLAG(std::string, framing, "raw",
          "How messages are cut: raw | line | crlf | delimiter:<escaped> | "
          "length:<1|2|4|8>[:big|:little][:inclusive] | fixed:<bytes>.");
ABSL_FLAG(int64_t, max_message_size,
          static_cast<int64_t>(kDefaults.max_message_size),
          "Largest message in bytes; a larger one closes its connection.");
ABSL_FLAG(int64_t, max_connections,
          static_cast<int64_t>(kDefaults.max_connections),
          "Connections open at once; one more is accepted and closed at once.");
ABSL_FLAG(int64_t, max_pending_output,
          static_cast<int64_t>(kDefaults.max_pending_output),
          "Unsent reply bytes per connection past which the server stops "
          "reading from it until the client reads.");
ABSL_FLAG(int64_t, read_size, static_cast<int64_t>(kDefaults.read_size),
          "Bytes read from a socket at a time (1 to 16 MiB).");
ABSL_FLAG(int64_t, log_max_events,
          static_cast<int64_t>(kDefaults.log_limits.max_events),
          "Entries the message log keeps; older ones are dropped and counted.");
ABSL_FLAG(int64_t, log_max_bytes,
          static_cast<int64_t>(kDefaults.log_limits.max_bytes),
          "Message bytes the message log keeps; older entries are dropped.");
ABSL_FLAG(std::string, reply, "Received",
          "Reply to every message (C escapes allowed, e.g. OK\\r\\n).");
ABSL_FLAG(std::string, greeting, "",
          "Send this to every new connection first (C escapes allowed).");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(5),
          "On SIGTERM, how long connections may take to finish the replies to "
          "what they sent before they close (0: close at once).");
ABSL_FLAG(absl::Duration, reply_latency, kDefaults.reply_latency,
          "Wait this long before every reply (e.g. 25ms).");
ABSL_FLAG(int64_t, bytes_per_second, kDefaults.bytes_per_second,
          "Limit every reply to this rate (0: unlimited).");
ABSL_FLAG(fake_tcp::RepeatedFlag, redact, {},
          "Repeatable. An RE2 over bytes whose matches are hidden as "
          "<redacted> in the log and all made from it (transcript, event "
          "stream, control API, recording), never on the wire; with groups, "
          "only what they matched: --redact='AUTH (\\S+)'.");
ABSL_FLAG(int64_t, close_after_bytes, 0,
          "Close a connection once it was sent this many bytes in all (0: "
          "never).");
ABSL_FLAG(std::string, proxy_to, "",
          "Proxy mode: forward every connection to this host:port (a real "
          "server), logging what passes both ways with --framing; see "
          "--record.");
ABSL_FLAG(absl::Duration, proxy_connect_timeout,
          fake_tcp::ProxyOptions{}.connect_timeout,
          "Proxy mode: a connect to the upstream that takes longer fails.");
ABSL_FLAG(std::string, upstream_gone, "close",
          "Proxy mode: what a client gets once its upstream connection ends "
          "or cannot be made: close (FIN, after what the upstream sent) | "
          "reset (RST) | reply (answered from then on by --reply or "
          "--script).");
ABSL_FLAG(bool, tls, false,
          "Speak TLS: with a throwaway CA and a certificate for localhost, "
          "127.0.0.1 and ::1 made at start (see --tls_ca_file), or "
          "--tls_cert/--tls_key.");
ABSL_FLAG(std::string, tls_cert, "",
          "TLS: the server's certificate chain (PEM file); with --tls_key.");
ABSL_FLAG(std::string, tls_key, "", "TLS: the server's private key (PEM).");
ABSL_FLAG(std::string, tls_client_ca, "",
          "TLS: require client certificates signed by a CA in this PEM file "
          "(mutual TLS).");
ABSL_FLAG(std::string, tls_alpn, "",
          "TLS: ALPN protocols in preference order, comma-separated "
          "(h2,http/1.1).");
ABSL_FLAG(std::string, tls_min_version, "1.2",
          "TLS: the lowest version accepted: 1.2 | 1.3.");
ABSL_FLAG(std::string, tls_handshake_fault, "none",
          "TLS: a fault in every handshake: none | fail (handshake_failure "
          "alert) | stall (never answer) | close (FIN after the ClientHello).");
