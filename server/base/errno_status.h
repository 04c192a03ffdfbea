#ifndef SERVER_BASE_ERRNO_STATUS_H_
#define SERVER_BASE_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fake_tcp {

// Returns the canonical code for an errno value. Abseil's own mapping
// (absl::ErrnoToStatus in newer releases), except for socket errors that a
// later attempt may not meet, which are UNAVAILABLE: EADDRINUSE (the port is
// taken now), ECONNREFUSED, ECONNRESET, EPIPE, ENETUNREACH, ...; and
// EADDRNOTAVAIL, which is RESOURCE_EXHAUSTED (out of local ports on connect).
// Unknown values are UNKNOWN.
absl::StatusCode ErrnoToCode(int err);

// Returns a status with ErrnoToCode(err) and the message
// "<what>: <strerror(err)>", e.g. "bind 127.0.0.1:9500: Address already in
// use".
absl::Status ErrnoStatus(int err, absl::string_view what);

}  // namespace fake_tcp

#endif  // SERVER_BASE_ERRNO_STATUS_H_
