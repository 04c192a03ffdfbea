// The subject of //tools/bench's "after Clear()" memory figure: the fake
// library as the standalone server composes it (FakeTcpServer with default
// options and its health sidecar), in a process of its own so its resident
// memory is only the server's.
//
// Prints "<address> <health address>\n" on stdout once both listen. On
// SIGUSR1 it clears the log (MessageLog::Clear(), as a test between phases
// would) and prints "cleared <messages received> <entries dropped>\n" (the
// counts before the clear); SIGTERM or SIGINT stops it.

#include <signal.h>
#include <stdio.h>

#include "server/fake_tcp_server.h"
#include "server/health/health_sidecar.h"

int main() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  fake_tcp::ServerOptions options;
  options.port = 0;
  fake_tcp::FakeTcpServer server(options);
  fake_tcp::HealthSidecar health(&server);
  for (const absl::Status& s : {server.Start(), health.Start()}) {
    if (!s.ok()) {
      fprintf(stderr, "memory_subject: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  printf("%s %s\n", server.address().c_str(), health.address().c_str());
  fflush(stdout);
  while (true) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    if (signal_number != SIGUSR1) break;
    const fake_tcp::LogCounts counts = server.log().counts();
    server.log().Clear();
    printf("cleared %llu %llu\n",
           static_cast<unsigned long long>(counts.received),
           static_cast<unsigned long long>(counts.dropped));
    fflush(stdout);
  }
  health.Stop();
  server.Stop();
  return 0;
}
