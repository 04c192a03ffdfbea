#include "client/address_file.h"

#include <limits.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fake_tcp {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

absl::StatusOr<std::string> WaitForFile(
    const std::string& path,
    const std::function<bool(const std::string& contents)>& ready,
    absl::Duration timeout, int abort_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("wait for ", path, ": inotify_init1 failed"));
  }
  // Watch first, then look: a change in between is not missed.
  inotify_add_watch(fd, dir.c_str(),
                    IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_MODIFY);
  absl::StatusOr<std::string> result = absl::DeadlineExceededError(absl::StrCat(
      "file ", path, " not ready within ", absl::FormatDuration(timeout)));
  while (true) {
    std::string contents = ReadAll(path);
    if (ready(contents)) {
      result = std::move(contents);
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd fds[2] = {{fd, POLLIN, 0}, {abort_fd, POLLIN, 0}};
    const int ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1 << 30));
    if (poll(fds, abort_fd >= 0 ? 2 : 1, ms) > 0) {
      if (abort_fd >= 0 && (fds[1].revents & POLLIN)) {
        contents = ReadAll(path);  // it may have been written just before
        if (ready(contents)) {
          result = std::move(contents);
        } else {
          result = absl::AbortedError(
              absl::StrCat("gave up waiting for ", path, ": its writer ended"));
        }
        break;
      }
      char events[sizeof(inotify_event) + NAME_MAX + 1];
      while (read(fd, events, sizeof(events)) > 0) {
      }
    }
  }
  close(fd);
  return result;
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
