// A load generator for the fake, on loopback only, bounded in clients and time.
//
//   tools/bazel run -c opt //tools:load -- --compare --mode=persistent
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

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "server/fake_tcp_server.h"
#include "tools/bare_server.h"
#include "tools/base/net.h"
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

constexpr char kMessage[] = "Hello, world";
constexpr size_t kReplySize = 8;  // "Received"
constexpr int kUsage = 2;

// Exchanges timed in all (across clients), to bound the memory of the samples.
constexpr size_t kMaxSamples = size_t{4} << 20;

struct Result {
  uint64_t messages = 0;
  uint64_t errors = 0;
  double per_second = 0;
  // Of one exchange (send, then the whole reply; with --mode=oneshot the
  // connect too), over the timed exchanges.
  absl::Duration p50, p99, p999;
};

// Runs `clients` threads against `address` for `duration`.
Result Load(const std::string& address, bool persistent, int clients,
            absl::Duration duration) {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> errors{0};
  const absl::Duration timeout = absl::Seconds(10);
  const size_t samples_per_client = kMaxSamples / static_cast<size_t>(clients);
  std::vector<std::vector<absl::Duration>> samples(clients);
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<absl::Duration>& mine = samples[t];
      mine.reserve(std::min<size_t>(samples_per_client, 1 << 16));
      uint64_t done = 0;
      std::optional<TcpClient> client;
      while (absl::Now() < end) {
        const absl::Time begin = absl::Now();
        if (!client.has_value()) {
          absl::StatusOr<TcpClient> c = TcpClient::Connect(address, timeout);
          if (!c.ok()) {
            ++errors;
            continue;
          }
          client.emplace(*std::move(c));
        }
        if (!client->SendAll(kMessage, timeout).ok() ||
            !client->ReceiveExactly(kReplySize, timeout).ok()) {
          ++errors;
          client.reset();
          continue;
        }
        if (mine.size() < samples_per_client) {
          mine.push_back(absl::Now() - begin);
        }
        ++done;
        if (!persistent) client.reset();
      }
      messages += done;
    });
  }
  for (std::thread& t : threads) t.join();
  Result r;
  r.messages = messages;
  r.errors = errors;
  r.per_second = static_cast<double>(r.messages) /
                 absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<absl::Duration> all;
  for (const std::vector<absl::Duration>& mine : samples) {
    all.insert(all.end(), mine.begin(), mine.end());
  }
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto at = [&all](double q) {
      return all[std::min(
          all.size() - 1,
          static_cast<size_t>(q * static_cast<double>(all.size())))];
    };
    r.p50 = at(0.5);
    r.p99 = at(0.99);
    r.p999 = at(0.999);
  }
  return r;
}

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
  const bool persistent = mode == "persistent";
  auto report = [&](const char* what, const Result& r) {
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
         mode.c_str(), kMessage);
  const std::string address = absl::GetFlag(FLAGS_address);
  if (!address.empty()) {
    report(address.c_str(), Load(address, persistent, clients, duration));
    return 0;
  }
  Result fake;
  {
    ServerOptions options;
    options.port = 0;
    FakeTcpServer server(options);
    if (absl::Status s = server.Start(); !s.ok()) {
      fprintf(stderr, "load: %s\n", s.ToString().c_str());
      return 1;
    }
    fake = Load(server.address(), persistent, clients, duration);
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
    BareServer bare(*std::move(listener));
    const Result baseline = Load(bare.address(), persistent, clients, duration);
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
