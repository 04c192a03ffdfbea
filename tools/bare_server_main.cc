// The benchmarks' baseline as a process: listens on a free loopback port,
// writes it to the file given as --address_file=PATH, answers "Received" to
// each read and records nothing, until SIGTERM or SIGINT. As small as a server
// gets (no flags library, no gRPC), so //tools:readiness compares the fake's
// launch with the launch of a process that does nothing else.

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include <string>
#include <utility>

#include "tools/bare_server.h"
#include "tools/base/file.h"
#include "tools/base/net.h"

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
  absl::StatusOr<fake_tcp::BoundListener> listener =
      fake_tcp::Listen("127.0.0.1", 0, SOMAXCONN);
  if (!listener.ok()) {
    fprintf(stderr, "bare_server: %s\n", listener.status().ToString().c_str());
    return 1;
  }
  fake_tcp::BareServer bare(*std::move(listener));
  if (absl::Status s =
          fake_tcp::WriteFileAtomically(address_file, bare.address());
      !s.ok()) {
    fprintf(stderr, "bare_server: %s\n", s.ToString().c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return 0;
}
