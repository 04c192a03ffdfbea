#include "server/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fake_tcp {

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents) {
  // Not the pid: every sandboxed process may see the same small one.
  absl::BitGen gen;
  const std::string tmp =
      absl::StrFormat("%s.tmp.%016x", path, absl::Uniform<uint64_t>(gen));
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("write ", path, ": create ", tmp, ": ", strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrCat("write ", path, ": ", strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("write ", path, ": rename: ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace fake_tcp
