#include "server/base/inotify.h"

#include <errno.h>
#include <limits.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fake_tcp {
namespace {

class Pool {
 public:
  int Take() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        const int fd = idle_.back();
        idle_.pop_back();
        return fd;
      }
    }
    return inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  }

  void Give(int fd) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (idle_.size() < PooledInotify::kMaxIdle) {
        idle_.push_back(fd);
        return;
      }
    }
    close(fd);
  }

 private:
  absl::Mutex mu_;
  std::vector<int> idle_ ABSL_GUARDED_BY(mu_);
};

Pool& ThePool() {
  static Pool* pool = new Pool();  // never destroyed: outlives every user
  return *pool;
}

}  // namespace

PooledInotify::PooledInotify() : fd_(ThePool().Take()) {}

PooledInotify::~PooledInotify() {
  if (fd_ < 0) return;
  for (int wd : watches_) inotify_rm_watch(fd_, wd);
  Drain();
  ThePool().Give(fd_);
}

int PooledInotify::AddWatch(const std::string& path, uint32_t mask) {
  if (fd_ < 0) {
    errno = EBADF;
    return -1;
  }
  const int wd = inotify_add_watch(fd_, path.c_str(), mask);
  if (wd >= 0) watches_.push_back(wd);
  return wd;
}

void PooledInotify::Drain() {
  if (fd_ < 0) return;
  alignas(inotify_event) char events[sizeof(inotify_event) + NAME_MAX + 1];
  while (read(fd_, events, sizeof(events)) > 0) {
  }
}

}  // namespace fake_tcp
