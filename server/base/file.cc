#include "server/base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/base/deadline.h"
#include "server/base/errno_status.h"
#include "server/base/inotify.h"
#include "server/base/unique_fd.h"

namespace fake_tcp {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.ok()) return ErrnoStatus(errno, absl::StrCat("read ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("read ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("read ", path, ": not a regular file"));
  }
  std::string contents;
  // Its size now, so a big file is one allocation (growing by doubling held
  // up to three times its size for a moment).
  if (static_cast<size_t>(st.st_size) <= max_bytes) {
    contents.reserve(static_cast<size_t>(st.st_size));
  }
  char buffer[64 << 10];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("read ", path, ": larger than ", max_bytes, " bytes"));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode) {
  // Not the pid: every sandboxed process may see the same small one.
  absl::BitGen gen;
  const std::string tmp =
      absl::StrFormat("%s.tmp.%016x", path, absl::Uniform<uint64_t>(gen));
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
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

absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    absl::FunctionRef<bool(const std::string& contents)> ready,
    absl::Duration timeout, int abort_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash + 1);
  PooledInotify watch;
  if (!watch.ok()) {
    return ErrnoStatus(errno, absl::StrCat("wait for ", path, ": inotify"));
  }
  // Watch first, then look: a change in between is not missed.
  watch.AddWatch(dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_MODIFY);
  auto contents_now = [&path] { return ReadFile(path).value_or(""); };
  while (true) {
    std::string contents = contents_now();
    if (ready(contents)) return contents;
    if (absl::Now() >= deadline) break;
    pollfd fds[2] = {{watch.fd(), POLLIN, 0}, {abort_fd, POLLIN, 0}};
    if (poll(fds, abort_fd >= 0 ? 2 : 1, PollTimeoutMs(deadline)) > 0) {
      if (abort_fd >= 0 && (fds[1].revents & POLLIN)) {
        contents = contents_now();  // it may have been written just before
        if (ready(contents)) return contents;
        return absl::AbortedError(
            absl::StrCat("gave up waiting for ", path, ": its writer ended"));
      }
      watch.Drain();
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "file ", path, " not ready within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<std::string> WaitForAddressFile(const std::string& path,
                                               absl::Duration timeout,
                                               int abort_fd) {
  auto trimmed = [](const std::string& contents) {
    return std::string(absl::StripAsciiWhitespace(contents));
  };
  absl::StatusOr<std::string> contents = WaitForFile(
      path, [&](const std::string& c) { return !trimmed(c).empty(); }, timeout,
      abort_fd);
  if (absl::IsDeadlineExceeded(contents.status())) {
    return absl::DeadlineExceededError(
        absl::StrCat("address file ", path, " did not appear within ",
                     absl::FormatDuration(timeout)));
  }
  if (!contents.ok()) return contents.status();
  return trimmed(*contents);
}

}  // namespace fake_tcp
