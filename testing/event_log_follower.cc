#include "testing/event_log_follower.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/event_fd.h"
#include "server/base/inotify.h"
#include "server/log/event_stream.h"

namespace fake_tcp::testing {

void EventLogFollower::Start(const std::string& path, MessageLog* log) {
  stop_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread(&EventLogFollower::Follow, this, path, log);
}

void EventLogFollower::Stop() {
  if (!thread_.joinable()) return;
  SignalEventFd(stop_.get());
  thread_.join();
  stop_.reset();
}

void EventLogFollower::Follow(const std::string& path, MessageLog* log) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  // Pooled: closing an instance of its own would make Stop() wait for the
  // kernel (server/base/inotify.h).
  PooledInotify notify;
  if (notify.ok() && fd.ok()) notify.AddWatch(path, IN_MODIFY | IN_CLOSE_WRITE);
  EventStreamDecoder decoder;
  bool stopping = false;
  while (fd.ok()) {
    // Read everything there is; then, unless stopping, wait for more.
    char buffer[65536];
    ssize_t n;
    while ((n = read(fd.get(), buffer, sizeof(buffer))) > 0) {
      absl::StatusOr<std::vector<Event>> events =
          decoder.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
      if (!events.ok()) {
        Event error;
        error.type = EventType::kFramingError;
        error.time = absl::Now();
        error.detail =
            absl::StrCat("event log unreadable: ", events.status().message());
        log->Append(std::move(error));
        stopping = true;
        break;
      }
      for (Event& e : *events) log->AppendMirrored(std::move(e));
    }
    if (stopping) break;
    pollfd fds[2] = {{notify.fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents & POLLIN) stopping = true;  // one more read, then done
    notify.Drain();
  }
  log->Finish();
}

}  // namespace fake_tcp::testing
