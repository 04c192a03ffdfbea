#ifndef SERVER_BASE_EVENT_FD_H_
#define SERVER_BASE_EVENT_FD_H_

// Wakes whoever polls an eventfd(2): the I/O loop, a follower, a printer.

#include <errno.h>
#include <unistd.h>

#include <cstdint>

namespace fake_tcp {

// Adds one to the eventfd `fd`. Nothing to report: the only failure, the
// counter at its maximum (EAGAIN on a non-blocking eventfd), means a wake-up is
// pending already; an interrupted write is retried.
inline void SignalEventFd(int fd) {
  const uint64_t one = 1;
  ssize_t written;
  do {
    written = write(fd, &one, sizeof(one));
  } while (written < 0 && errno == EINTR);
}

}  // namespace fake_tcp

#endif  // SERVER_BASE_EVENT_FD_H_
