#ifndef CLIENT_ADDRESS_FILE_H_
#define CLIENT_ADDRESS_FILE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fake_tcp {

// Returns the trimmed contents of `path` ("127.0.0.1:40123") once it exists and
// is not empty, waiting up to `timeout` without polling (inotify on its
// directory; writers such as fake_tcp_server rename a finished file into
// place). Returns DEADLINE_EXCEEDED naming the path if it does not appear in
// time. If `abort_fd` is not -1 and becomes readable first (e.g. the pidfd of
// the process that should write the file, which exited), returns ABORTED.
absl::StatusOr<std::string> WaitForAddressFile(const std::string& path,
                                               absl::Duration timeout,
                                               int abort_fd = -1);

// The mechanism beneath: returns the contents of `path` once `ready(contents)`
// is true, rereading it whenever a file in its directory is created, renamed
// into place, written or closed (inotify, no polling). DEADLINE_EXCEEDED after
// `timeout`; ABORTED if `abort_fd` (not -1) becomes readable first and the file
// is still not ready.
absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    const std::function<bool(const std::string& contents)>& ready,
    absl::Duration timeout, int abort_fd = -1);

}  // namespace fake_tcp

#endif  // CLIENT_ADDRESS_FILE_H_
