// A load generator for the fake, on loopback only, bounded in clients and time.
//
//   tools/bazel run -c opt //tools/bench:load -- --compare --mode=persistent
//   --clients=16
//
// With --compare it measures, under the same load, the fake server (logging
// every message) and a bare epoll server that records nothing and answers
// "Received" the same way, and prints both rates and their ratio. With
// --address it loads a server that is already running (e.g.
// //tools:fake_tcp_server).
//
// Each client sends "Hello, world" and reads the 8-byte reply, then again: on
// one connection (--mode=persistent) or on a new connection each time
// (--mode=oneshot).

#include <stdio.h>
#include <sys/socket.h>

#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/base/net.h"
#include "server/fake_tcp_server.h"
#include "tools/bench/bare_server.h"
#include "tools/bench/load.h"
#include "tools/flags.h"

ABSL_FLAG(std::string, address, "",
          "Load this running server (host:port, loopback) instead of "
          "in-process ones.");
ABSL_FLAG(bool, compare, true,
          "Measure the fake and a bare epoll server that records nothing.");
ABSL_FLAG(
    std::string, mode, "persistent",
    "persistent: many messages per connection; oneshot: connect, send, read, "
    "close for each message.");
ABSL_FLAG(int, clients, 16, "Client threads (1..256).");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5),
          "How long each measurement runs (at most 60s).");

namespace fake_tcp {
namespace {

constexpr int kUsage = 2;

int Main(int argc, char** argv) {
  ParseFlagsOrExit(argc, argv, kUsage);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const int clients = absl::GetFlag(FLAGS_clients);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if ((mode != "persistent" && mode != "oneshot") || clients < 1 ||
      clients > 256 || duration <= absl::ZeroDuration() ||
      duration > absl::Seconds(60)) {
    fprintf(stderr,
            "load: --mode must be persistent or oneshot, --clients 1..256, "
            "--duration (0, 60s]\n");
    return kUsage;
  }
  LoadOptions load;
  load.persistent = mode == "persistent";
  load.clients = clients;
  load.duration = duration;
  auto report = [&](const char* what, const LoadResult& r) {
    printf(
        "%-36s %10.0f messages/s (%llu in %s, %llu errors); latency p50 %.1f "
        "us, p99 %.1f us, p99.9 %.1f us\n",
        what, r.per_second, static_cast<unsigned long long>(r.messages),
        absl::FormatDuration(duration).c_str(),
        static_cast<unsigned long long>(r.errors),
        absl::ToDoubleMicroseconds(r.p50), absl::ToDoubleMicroseconds(r.p99),
        absl::ToDoubleMicroseconds(r.p999));
    fflush(stdout);
  };
  printf("load: %d clients, %s connections, \"%s\" -> \"Received\"\n", clients,
         mode.c_str(), kLoadMessage);
  const std::string address = absl::GetFlag(FLAGS_address);
  if (!address.empty()) {
    report(address.c_str(), Load(address, load));
    return 0;
  }
  LoadResult fake;
  {
    ServerOptions options;
    options.port = 0;
    FakeTcpServer server(options);
    if (absl::Status s = server.Start(); !s.ok()) {
      fprintf(stderr, "load: %s\n", s.ToString().c_str());
      return 1;
    }
    fake = Load(server.address(), load);
    report("fake_tcp_server (logging everything)", fake);
    const LogCounts counts = server.log().counts();
    printf("%-36s %llu received, %llu sent, %llu oldest entries dropped\n",
           "  its log", static_cast<unsigned long long>(counts.received),
           static_cast<unsigned long long>(counts.sent),
           static_cast<unsigned long long>(counts.dropped));
  }
  if (absl::GetFlag(FLAGS_compare)) {
    absl::StatusOr<BoundListener> listener = Listen("127.0.0.1", 0, SOMAXCONN);
    if (!listener.ok()) {
      fprintf(stderr, "load: %s\n", listener.status().ToString().c_str());
      return 1;
    }
    BareServer bare(listener->fd.release(), listener->address);
    const LoadResult baseline = Load(bare.address(), load);
    report("bare epoll server (records nothing)", baseline);
    printf(
        "ratio fake / bare: %.2f (rate), %.2f (p50 latency)\n",
        baseline.per_second > 0 ? fake.per_second / baseline.per_second : 0.0,
        baseline.p50 > absl::ZeroDuration()
            ? absl::FDivDuration(fake.p50, baseline.p50)
            : 0.0);
  }
  return 0;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
