#ifndef SERVER_ATOMIC_FILE_H_
#define SERVER_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"

namespace fake_tcp {

// Writes `contents` to `path` atomically: to a new temporary file in the same
// directory, then rename(), so a reader sees the old file or the whole new one,
// never half of it. Returns UNAVAILABLE naming the path and the failing step.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents);

}  // namespace fake_tcp

#endif  // SERVER_ATOMIC_FILE_H_
