#ifndef SERVER_BASE_INOTIFY_H_
#define SERVER_BASE_INOTIFY_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fake_tcp {

// An inotify instance borrowed from a process-wide pool, and given back (its
// watches removed, its queue drained) when destroyed.
//
// Why a pool: closing an inotify instance makes the kernel wait for an SRCU
// grace period (fsnotify_destroy_group -> synchronize_srcu), 5 to 15 ms on the
// 2-core machine the benchmarks run on, and every wait for an address file
// closed its own: the out-of-process fixture paid it three times per test.
// Removing a watch is asynchronous in the kernel, so a borrowed instance costs
// nothing on return. The pool keeps at most kMaxIdle instances; more in use at
// once are closed on return.
//
// Not thread-safe itself (one user at a time); borrowing and giving back are.
class PooledInotify {
 public:
  static constexpr size_t kMaxIdle = 16;

  PooledInotify();
  ~PooledInotify();
  PooledInotify(const PooledInotify&) = delete;
  PooledInotify& operator=(const PooledInotify&) = delete;

  // The instance (non-blocking, close-on-exec), or -1 if none could be made
  // (errno says why).
  int fd() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

  // inotify_add_watch(fd(), path, mask), remembered for removal on return.
  // Returns the watch descriptor, or -1 with errno set.
  int AddWatch(const std::string& path, uint32_t mask);

  // Reads and discards every queued event (they only say "look again").
  void Drain();

 private:
  int fd_ = -1;
  std::vector<int> watches_;
};

}  // namespace fake_tcp

#endif  // SERVER_BASE_INOTIFY_H_
