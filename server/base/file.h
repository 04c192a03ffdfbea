#ifndef SERVER_BASE_FILE_H_
#define SERVER_BASE_FILE_H_

#include <cstddef>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fake_tcp {

// Files larger than this are not read whole (ReadFile's default bound).
inline constexpr size_t kMaxReadFileBytes = size_t{64} << 20;

// Returns the whole contents of the regular file at `path`. Errors name the
// path: NOT_FOUND "read /x: No such file or directory" (and the other errno
// codes of ErrnoToCode), INVALID_ARGUMENT for a directory or device,
// RESOURCE_EXHAUSTED past `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes = kMaxReadFileBytes);

// Writes `contents` to `path` atomically: to a new temporary file in the same
// directory, then rename(), so a reader sees the old file or the whole new one,
// never half of it. Returns UNAVAILABLE naming the path and the failing step.
// The file gets `mode` (less the umask): 0600 for a secret.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode = 0644);

// Returns the contents of `path` once `ready(contents)` is true (a missing file
// reads as ""), rereading it whenever a file in its directory is created,
// renamed into place, written or closed (inotify, no polling).
// DEADLINE_EXCEEDED naming the path after `timeout`; ABORTED if `abort_fd`
// (not -1; e.g. the pidfd of the writer) becomes readable first and the file is
// still not ready.
absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    absl::FunctionRef<bool(const std::string& contents)> ready,
    absl::Duration timeout, int abort_fd = -1);

// Returns the trimmed contents of `path` ("127.0.0.1:40123") once it exists and
// is not empty: WaitForFile for the address files that fake_tcp_server and the
// health sidecar write (atomically). DEADLINE_EXCEEDED "address file <path> did
// not appear within <timeout>"; ABORTED as WaitForFile.
absl::StatusOr<std::string> WaitForAddressFile(const std::string& path,
                                               absl::Duration timeout,
                                               int abort_fd = -1);

}  // namespace fake_tcp

#endif  // SERVER_BASE_FILE_H_
