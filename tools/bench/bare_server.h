#ifndef TOOLS_BENCH_BARE_SERVER_H_
#define TOOLS_BENCH_BARE_SERVER_H_

#include <string>
#include <thread>

namespace fake_tcp {

// The baseline of the benchmarks: one epoll thread, non-blocking sockets, a
// "Received" per read, no log, nothing else. Serves `listen_fd` (listening,
// non-blocking; owned from then on) from construction until destruction (which
// wakes and joins the thread). Depends on nothing but the C and C++ runtimes,
// so the bare process (bare_server_main.cc) loads as few libraries as a server
// can.
class BareServer {
 public:
  BareServer(int listen_fd, std::string address);
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

#endif  // TOOLS_BENCH_BARE_SERVER_H_
