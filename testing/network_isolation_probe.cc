// Used by network_isolation_test: reports how this process's network came to
// be, optionally enters a namespace of its own, then tries to bind a port.
//
//   network_isolation_probe isolate|thread_then_isolate|stay PORT
//
// Prints one line per step: "startup: <kind>", "isolate: <status>", and
// "bind 127.0.0.1:PORT: ok" or "... <strerror>". Exits 0 if it printed them.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "server/testing/network_isolation.h"

namespace {

const char* KindName(fake_tcp::testing::NetworkIsolation::Kind kind) {
  using Kind = fake_tcp::testing::NetworkIsolation::Kind;
  switch (kind) {
    case Kind::kIsolated:
      return "isolated";
    case Kind::kOptedOut:
      return "opted out";
    case Kind::kUnavailable:
      return "unavailable";
    case Kind::kNotAttempted:
      break;
  }
  return "not attempted";
}

std::string Bind(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  const std::string result = ok ? "ok" : strerror(errno);
  close(fd);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s isolate|thread_then_isolate|stay PORT\n",
            argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const int port = atoi(argv[2]);
  printf("startup: %s\n",
         KindName(fake_tcp::testing::StartupNetworkIsolation().kind));
  absl::Notification done;
  std::thread thread;
  if (mode == "thread_then_isolate") {
    thread = std::thread([&done] { done.WaitForNotification(); });
  }
  if (mode != "stay") {
    const absl::Status s = fake_tcp::testing::EnterOwnNetworkNamespace();
    printf("isolate: %s\n", s.ToString().c_str());
  }
  printf("bind 127.0.0.1:%d: %s\n", port, Bind(port).c_str());
  done.Notify();
  if (thread.joinable()) thread.join();
  return 0;
}
