// The benchmarks' baseline as a process: listens on a free loopback port,
// writes it to the file given as --address_file=PATH (written whole, then
// renamed into place, as the fake writes its own), answers "Received" to each
// read and records nothing, until SIGTERM or SIGINT. As small as a server gets:
// no flags library, no Abseil, no gRPC, only the C and C++ runtimes to load,
// so //tools/bench compares the fake's launch with the launch of a process
// that does nothing else.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "tools/bench/bare_server.h"

namespace {

int Fail(const char* what) {
  fprintf(stderr, "bare_server: %s: %s\n", what, strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string prefix = "--address_file=";
  std::string address_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) address_file = arg.substr(prefix.size());
  }
  if (address_file.empty()) {
    fprintf(stderr, "bare_server: usage: bare_server --address_file=PATH\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Fail("bind 127.0.0.1:0");
  }
  if (listen(fd, SOMAXCONN) != 0) return Fail("listen");
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Fail("getsockname");
  }
  const std::string address =
      "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  fake_tcp::BareServer bare(fd, address);

  const std::string tmp = address_file + ".tmp";
  const int out =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return Fail(("create " + tmp).c_str());
  const bool written = write(out, address.data(), address.size()) ==
                       static_cast<ssize_t>(address.size());
  if (close(out) != 0 || !written ||
      rename(tmp.c_str(), address_file.c_str()) != 0) {
    return Fail(("write " + address_file).c_str());
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return 0;
}
