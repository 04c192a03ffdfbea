#include "tools/bench/load.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "client/tcp_client.h"

namespace fake_tcp {
namespace {

// Exchanges timed in all (across clients), to bound the memory of the samples.
constexpr size_t kMaxSamples = size_t{1} << 20;

// Sorts r->samples and sets the percentiles and the rate from them.
void Summarize(LoadResult* r) {
  r->per_second = static_cast<double>(r->messages) /
                  std::max(1e-9, absl::ToDoubleSeconds(r->elapsed));
  std::vector<absl::Duration>& all = r->samples;
  if (all.empty()) return;
  std::sort(all.begin(), all.end());
  auto at = [&all](double q) {
    return all[std::min(
        all.size() - 1,
        static_cast<size_t>(q * static_cast<double>(all.size())))];
  };
  r->p50 = at(0.5);
  r->p99 = at(0.99);
  r->p999 = at(0.999);
}

}  // namespace

LoadResult Combine(const LoadResult& a, const LoadResult& b) {
  LoadResult r;
  r.messages = a.messages + b.messages;
  r.errors = a.errors + b.errors;
  r.elapsed = a.elapsed + b.elapsed;
  r.samples = a.samples;
  r.samples.insert(r.samples.end(), b.samples.begin(), b.samples.end());
  Summarize(&r);
  return r;
}

LoadResult Load(const std::string& address, const LoadOptions& options) {
  const int clients = std::max(1, options.clients);
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> errors{0};
  const absl::Duration timeout = absl::Seconds(10);
  const size_t samples_per_client = kMaxSamples / static_cast<size_t>(clients);
  std::vector<std::vector<absl::Duration>> samples(clients);
  const absl::Time start = absl::Now();
  const absl::Time end = start + options.duration;
  // With a count, each exchange takes a ticket first (and gives it back if it
  // fails), so exactly `max_messages` complete.
  std::atomic<uint64_t> tickets{0};
  auto more = [&] {
    if (absl::Now() >= end) return false;
    return options.max_messages == 0 ||
           tickets.fetch_add(1, std::memory_order_relaxed) <
               options.max_messages;
  };
  auto give_back = [&] {
    if (options.max_messages != 0) {
      tickets.fetch_sub(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<absl::Duration>& mine = samples[t];
      mine.reserve(std::min<size_t>(samples_per_client, 1 << 16));
      std::optional<TcpClient> client;
      while (more()) {
        absl::Time begin = absl::Now();
        if (!client.has_value()) {
          absl::StatusOr<TcpClient> c = TcpClient::Connect(address, timeout);
          if (!c.ok()) {
            ++errors;
            give_back();
            continue;
          }
          client.emplace(*std::move(c));
          // A persistent connection's exchanges are timed without its connect.
          if (options.persistent) begin = absl::Now();
        }
        if (!client->SendAll(kLoadMessage, timeout).ok() ||
            !client->ReceiveExactly(kLoadReplySize, timeout).ok()) {
          ++errors;
          give_back();
          client.reset();
          continue;
        }
        if (mine.size() < samples_per_client) {
          mine.push_back(absl::Now() - begin);
        }
        messages.fetch_add(1, std::memory_order_relaxed);
        if (!options.persistent) client.reset();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  LoadResult r;
  r.messages = messages;
  r.errors = errors;
  r.elapsed = absl::Now() - start;
  for (std::vector<absl::Duration>& mine : samples) {
    r.samples.insert(r.samples.end(), mine.begin(), mine.end());
    mine = {};
  }
  Summarize(&r);
  return r;
}

}  // namespace fake_tcp
