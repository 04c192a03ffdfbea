#include "tools/event_printer.h"

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/base/deadline.h"
#include "server/base/event_fd.h"

namespace fake_tcp {
namespace {

// Returns a classic hex dump: offset, 16 bytes in hex, then as text.
std::string HexDump(absl::string_view bytes) {
  std::string out;
  for (size_t offset = 0; offset < bytes.size(); offset += 16) {
    const absl::string_view row = bytes.substr(offset, 16);
    absl::StrAppendFormat(&out, "    %08x ", offset);
    for (size_t i = 0; i < 16; ++i) {
      if (i < row.size()) {
        absl::StrAppendFormat(&out, " %02x",
                              static_cast<unsigned char>(row[i]));
      } else {
        out += "   ";
      }
    }
    out += "  |";
    for (char c : row) out += (c >= 0x20 && c < 0x7f) ? c : '.';
    out += "|\n";
  }
  return out;
}

}  // namespace

StdoutWriter::StdoutWriter() : wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

StdoutWriter::~StdoutWriter() { close(wake_); }

void StdoutWriter::StartDraining() { SignalEventFd(wake_); }

absl::Status StdoutWriter::Write(absl::string_view text) {
  while (!text.empty()) {
    pollfd fds[2] = {{STDOUT_FILENO, POLLOUT, 0}, {wake_, POLLIN, 0}};
    const int n =
        poll(fds, draining_ ? 1 : 2,
             PollTimeoutMs(draining_ ? deadline_ : absl::InfiniteFuture()));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("not read within ", absl::FormatDuration(kDrainTimeout),
                       " of shutdown"));
    }
    if (!draining_ && (fds[1].revents & POLLIN)) {
      draining_ = true;
      deadline_ = absl::Now() + kDrainTimeout;
    }
    if (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
      // At most PIPE_BUF at a time: a pipe that polls writable takes it
      // without blocking.
      const ssize_t written = write(STDOUT_FILENO, text.data(),
                                    std::min<size_t>(text.size(), PIPE_BUF));
      if (written < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return absl::UnavailableError(strerror(errno));
      }
      text.remove_prefix(static_cast<size_t>(written));
    }
  }
  return absl::OkStatus();
}

void FollowProgress::Passed(uint64_t sequence) {
  absl::MutexLock lock(&mu_);
  passed_ = sequence;
}

void FollowProgress::Finish() {
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

bool FollowProgress::AwaitPassed(uint64_t sequence,
                                 absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, sequence]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return passed_ >= sequence || finished_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

void FollowEvents(const MessageLog& log, bool quiet, bool verbose,
                  EventStreamWriter* stream, StdoutWriter* out,
                  FollowProgress* progress) {
  const absl::Time origin = log.origin();
  uint64_t last = 0;
  while (true) {
    absl::StatusOr<std::vector<Event>> events =
        log.WaitForEventsAfter(last, absl::InfiniteDuration());
    if (!events.ok()) {  // finished
      if (progress != nullptr) progress->Finish();
      return;
    }
    if (stream != nullptr) {
      if (absl::Status s = stream->Write(*events); !s.ok()) {
        fprintf(stderr, "fake_tcp_server: --event_log: %s\n",
                std::string(s.message()).c_str());
        stream = nullptr;
      }
    }
    for (const Event& e : *events) last = e.sequence;
    if (progress != nullptr) progress->Passed(last);
    if (quiet) continue;
    std::string lines;
    for (const Event& e : *events) {
      absl::StrAppend(&lines, e.ToString(origin), "\n");
      if (verbose && !e.bytes.empty()) lines += HexDump(e.bytes);
    }
    if (absl::Status s = out->Write(lines); !s.ok()) {
      // The reader went away (`| head -1`) or stopped reading at shutdown:
      // keep serving and logging; the transcript and the event log still get
      // everything.
      fprintf(stderr,
              "fake_tcp_server: stdout: %s; events are no longer printed\n",
              std::string(s.message()).c_str());
      quiet = true;
    }
  }
}

}  // namespace fake_tcp
