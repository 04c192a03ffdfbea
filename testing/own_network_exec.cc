// own_network_exec PROGRAM [ARGS...]: runs PROGRAM in a network namespace of
// its own with only loopback, as fake_tcp_server_test() does for a C++ test
// (this binary links //server/testing:own_network, which enters the namespace
// before main()). Used by fake_tcp_py_test(), whose Python test runner starts
// itself again through it, so a pytest session (and every fake it starts) has
// port 9500 to itself on any executor.
//
// Sets FAKE_TCP_SERVER_NETWORK to one sentence saying what happened ("This test
// runs in a network namespace of its own, made at start", or why not), so the
// program knows it was run through here and can say so when a bind collides.
// Exits 2 without a program, 127 when it cannot be run.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "server/testing/network_isolation.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: own_network_exec PROGRAM [ARGS...]\n");
    return 2;
  }
  const std::string described =
      fake_tcp::testing::StartupNetworkIsolation().Describe();
  setenv("FAKE_TCP_SERVER_NETWORK", described.c_str(), 1);
  execvp(argv[1], argv + 1);
  const int error = errno;
  fprintf(stderr, "own_network_exec: cannot run %s: %s\n", argv[1],
          strerror(error));
  return 127;
}
