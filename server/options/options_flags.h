#ifndef SERVER_OPTIONS_OPTIONS_FLAGS_H_
#define SERVER_OPTIONS_OPTIONS_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/options/server_options.h"

namespace fake_tcp {

// The one spelling of ServerOptions as command-line flags, shared by the
// standalone server (which defines a flag of each name and reads them back
// through ApplyServerOptionFlag) and the out-of-process test fixture (which
// writes them with ServerOptionsToFlags). Flags and fields:
//
// clang-format off
//   --address  --port  --backlog            address, port, backlog
//   --unix_socket=<path|@name>              unix_socket ("": TCP)
//   --unix_socket_mode=<octal>              unix_socket_mode ("0600")
//   --framing=<spec>                        framing (ParseFramingSpec)
//   --max_message_size  --max_connections   the same fields
//   --max_pending_output  --read_size       the same fields
//   --log_max_events  --log_max_bytes       log_limits
//   --reply=<C-escaped>  --no_reply         reply (nullopt: --no_reply)
//   --greeting=<C-escaped>                  greeting (bytes only)
//   --reply_latency=<duration>              reply_latency ("25ms")
//   --drain_timeout=<duration>              drain_timeout
//   --bytes_per_second  --close_after_bytes the same fields (0: none)
//   --redact=<RE2>, repeatable              redact (values joined by \n)
//   --proxy_to=<host:port>                  proxy->upstream ("": no proxy)
//   --proxy_connect_timeout=<duration>      proxy->connect_timeout
//   --upstream_gone=close|reset|reply       proxy->upstream_gone
//   --tls                                   tls (set, with its defaults)
//   --tls_cert  --tls_key  --tls_client_ca  tls->cert_file, key_file,
//                                           client_ca_file
//   --tls_alpn=h2,http/1.1                  tls->alpn
//   --tls_min_version=1.2|1.3               tls->min_version
//   --tls_handshake_fault=none|fail|stall|close  tls->handshake_fault
// clang-format on

// Returns the flag names (without "--") ServerOptionsToFlags writes and
// ApplyServerOptionFlag reads, in the order they must be applied.
const std::vector<std::string>& ServerOptionFlagNames();

// Returns "--name=value" for every flag above, so that applying them to
// default ServerOptions gives back `options`. INVALID_ARGUMENT naming the field
// when a value has no spelling: a responder (C++ code), custom framing, a
// greeting with faults.
absl::StatusOr<std::vector<std::string>> ServerOptionsToFlags(
    const ServerOptions& options);

// Sets the field of flag `name` (without "--") from `value`, spelled as on the
// command line. INVALID_ARGUMENT naming the flag for a bad value, e.g.
// "--max_connections must be positive, got 0"; NOT_FOUND for a name not in
// ServerOptionFlagNames().
absl::Status ApplyServerOptionFlag(absl::string_view name,
                                   absl::string_view value,
                                   ServerOptions* options);

}  // namespace fake_tcp

#endif  // SERVER_OPTIONS_OPTIONS_FLAGS_H_
