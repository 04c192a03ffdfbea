#ifndef SERVER_BASE_UNIQUE_FD_H_
#define SERVER_BASE_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace fake_tcp {

// Owns a file descriptor: closes it when destroyed or reset. Move-only.
//
//   UniqueFd fd(socket(AF_INET, SOCK_STREAM, 0));
//   if (!fd.ok()) return ErrnoStatus(errno, "socket");
//   return fd.release();  // the caller owns it now
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // Returns the descriptor (still owned), -1 if none.
  int get() const { return fd_; }
  // True iff it holds a descriptor.
  bool ok() const { return fd_ >= 0; }
  // Returns the descriptor and gives up owning it.
  int release() { return std::exchange(fd_, -1); }
  // Closes the held descriptor, if any, and holds `fd` instead.
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace fake_tcp

#endif  // SERVER_BASE_UNIQUE_FD_H_
