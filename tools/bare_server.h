#ifndef TOOLS_BARE_SERVER_H_
#define TOOLS_BARE_SERVER_H_

#include <string>
#include <thread>

#include "tools/base/net.h"

namespace fake_tcp {

// The baseline of the benchmarks: one epoll thread, non-blocking sockets, a
// "Received" per read, no log, nothing else. Serves `listener` from
// construction until destruction (which wakes and joins the thread).
class BareServer {
 public:
  explicit BareServer(BoundListener listener);
  ~BareServer();
  BareServer(const BareServer&) = delete;
  BareServer& operator=(const BareServer&) = delete;

  const std::string& address() const { return address_; }

 private:
  void Run();

  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::string address_;
  std::thread thread_;
};

}  // namespace fake_tcp

#endif  // TOOLS_BARE_SERVER_H_
