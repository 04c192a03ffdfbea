#include "tools/bench/event_load.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/base/errno_status.h"
#include "server/base/net.h"
#include "server/base/unique_fd.h"

namespace fake_tcp {
namespace {

// Descriptors beyond the connections: epoll, stdio, the bench's own files.
constexpr rlim_t kReserve = 64;
constexpr size_t kMaxSamples = size_t{1} << 20;

struct Conn {
  UniqueFd fd;
  bool connected = false;
  // A message is out and its answer not complete.
  bool busy = false;
  absl::Time sent;
  size_t got = 0;
};

// One epoll thread's share of the connections.
class Worker {
 public:
  Worker(const SocketAddress& to, int count, absl::Duration timeout)
      : to_(to), count_(count), timeout_(timeout) {}

  absl::Status Init() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (epoll_.get() < 0) return ErrnoStatus(errno, "epoll_create1");
    conns_.resize(count_);
    return absl::OkStatus();
  }

  // Opens every connection at once; each sends one message on connect. Ends
  // when each is answered or failed.
  void Storm() {
    for (size_t i = 0; i < conns_.size(); ++i) {
      absl::StatusOr<UniqueFd> fd = StartConnect(to_);
      if (!fd.ok()) {
        ++storm_errors_;
        continue;
      }
      conns_[i].fd = *std::move(fd);
      conns_[i].sent = absl::Now();
      conns_[i].busy = true;
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, conns_[i].fd.get(), &ev);
      ++pending_;
    }
    Loop(/*storm=*/true, absl::InfiniteFuture(), nullptr);
  }

  // Exchanges on every live connection until `end` or no ticket is left.
  void Exchange(absl::Time end, const std::function<bool()>& ticket) {
    samples_.reserve(std::min<size_t>(max_samples_, 1 << 16));
    for (size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].fd.get() >= 0 && ticket()) Send(i);
    }
    Loop(/*storm=*/false, end, &ticket);
  }

  void set_max_samples(size_t n) { max_samples_ = n; }
  int answered() const { return answered_; }
  uint64_t storm_errors() const { return storm_errors_; }
  uint64_t messages() const { return messages_; }
  uint64_t errors() const { return errors_; }
  std::vector<absl::Duration>& samples() { return samples_; }

 private:
  void Fail(size_t i, bool storm) {
    Conn& c = conns_[i];
    if (c.busy) --pending_;
    c.busy = false;
    c.fd.reset();
    ++(storm ? storm_errors_ : errors_);
  }

  void Send(size_t i) {
    Conn& c = conns_[i];
    c.sent = absl::Now();
    c.got = 0;
    const ssize_t n =
        send(c.fd.get(), kLoadMessage, sizeof(kLoadMessage) - 1, MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(sizeof(kLoadMessage) - 1)) {
      c.busy = true;
      ++pending_;
      Fail(i, false);
      return;
    }
    c.busy = true;
    ++pending_;
  }

  // Runs until nothing is pending and (exchange) `end` has passed.
  void Loop(bool storm, absl::Time end, const std::function<bool()>* ticket) {
    std::vector<epoll_event> events(1024);
    absl::Time next_scan = absl::Now() + absl::Milliseconds(100);
    while (pending_ > 0) {
      const int n = epoll_wait(epoll_.get(), events.data(),
                               static_cast<int>(events.size()), 100);
      const absl::Time now = absl::Now();
      for (int k = 0; k < n; ++k) {
        const size_t i = events[k].data.u64;
        Conn& c = conns_[i];
        if (c.fd.get() < 0) continue;
        if (!c.connected && (events[k].events & (EPOLLOUT | EPOLLERR))) {
          int error = 0;
          socklen_t len = sizeof(error);
          getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
          if (error != 0) {
            Fail(i, storm);
            continue;
          }
          c.connected = true;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = i;
          epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
          --pending_;  // Send() counts it again
          Send(i);
          continue;
        }
        if (!(events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
        char buf[4096];
        const ssize_t got = recv(c.fd.get(), buf, sizeof(buf), 0);
        if (got <= 0) {
          if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          Fail(i, storm);
          continue;
        }
        c.got += static_cast<size_t>(got);
        if (!c.busy || c.got < kLoadReplySize) continue;
        c.busy = false;
        --pending_;
        if (storm) {
          ++answered_;
          continue;
        }
        ++messages_;
        if (samples_.size() < max_samples_) samples_.push_back(now - c.sent);
        if (now < end && (*ticket)()) Send(i);
      }
      if (now >= next_scan) {  // answers that never come are errors
        next_scan = now + absl::Milliseconds(100);
        for (size_t i = 0; i < conns_.size(); ++i) {
          if (conns_[i].busy && now - conns_[i].sent > timeout_) Fail(i, storm);
        }
      }
    }
  }

  const SocketAddress to_;
  const int count_;
  const absl::Duration timeout_;
  UniqueFd epoll_;
  std::vector<Conn> conns_;
  int pending_ = 0;
  int answered_ = 0;
  uint64_t storm_errors_ = 0;
  uint64_t messages_ = 0;
  uint64_t errors_ = 0;
  size_t max_samples_ = kMaxSamples;
  std::vector<absl::Duration> samples_;
};

absl::Status RaiseDescriptorLimit(int connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return ErrnoStatus(errno, "event load: getrlimit(RLIMIT_NOFILE)");
  }
  const rlim_t need = static_cast<rlim_t>(connections) + kReserve;
  if (limit.rlim_cur >= need) return absl::OkStatus();
  if (limit.rlim_max < need) {
    return absl::FailedPreconditionError(absl::StrCat(
        "event load: ", connections, " connections need ", need,
        " descriptors; the hard limit is ", limit.rlim_max,
        " (raise it: ulimit -Hn, or prlimit --nofile=", need, ":", need, ")"));
  }
  limit.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return ErrnoStatus(errno, "event load: setrlimit(RLIMIT_NOFILE)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EventLoadResult> EventLoad(const std::string& address,
                                          const EventLoadOptions& options,
                                          const std::function<void()>& idle) {
  if (options.connections < 1 || options.connections > 100000 ||
      options.threads < 1 || options.threads > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("event load: connections must be 1..100000 and threads "
                     "1..16, got ",
                     options.connections, " and ", options.threads));
  }
  absl::StatusOr<HostPort> hp = ParseHostPort(address);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<std::vector<SocketAddress>> to = Resolve(hp->host, hp->port);
  if (!to.ok()) return to.status();
  if (absl::Status s = RaiseDescriptorLimit(options.connections); !s.ok()) {
    return s;
  }
  const int threads = std::min(options.threads, options.connections);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < threads; ++t) {
    const int share = options.connections / threads +
                      (t < options.connections % threads ? 1 : 0);
    workers.push_back(
        std::make_unique<Worker>(to->front(), share, options.timeout));
    if (absl::Status s = workers.back()->Init(); !s.ok()) return s;
    workers.back()->set_max_samples(kMaxSamples / threads);
  }
  auto run = [&workers](const std::function<void(Worker&)>& phase) {
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&phase, &w] { phase(*w); });
    for (std::thread& t : running) t.join();
  };

  EventLoadResult result;
  const absl::Time storm_start = absl::Now();
  run([](Worker& w) { w.Storm(); });
  result.storm = absl::Now() - storm_start;
  for (auto& w : workers) {
    result.answered += w->answered();
    result.storm_errors += w->storm_errors();
  }
  if (idle) idle();
  if (options.duration <= absl::ZeroDuration()) return result;

  std::atomic<uint64_t> tickets{0};
  const uint64_t max = options.max_messages;
  const std::function<bool()> ticket = [&tickets, max] {
    return max == 0 || tickets.fetch_add(1, std::memory_order_relaxed) < max;
  };
  const absl::Time start = absl::Now();
  const absl::Time end = start + options.duration;
  run([&](Worker& w) { w.Exchange(end, ticket); });
  LoadResult& r = result.exchange;
  r.elapsed = absl::Now() - start;
  std::vector<LoadResult> parts;
  for (auto& w : workers) {
    LoadResult part;
    part.messages = w->messages();
    part.errors = w->errors();
    part.samples = std::move(w->samples());
    parts.push_back(std::move(part));
  }
  for (LoadResult& part : parts) {
    r.messages += part.messages;
    r.errors += part.errors;
    r.samples.insert(r.samples.end(), part.samples.begin(), part.samples.end());
  }
  const absl::Duration elapsed = r.elapsed;
  r = Combine(r, LoadResult());  // sorts the samples, sets the percentiles
  r.elapsed = elapsed;
  r.per_second = static_cast<double>(r.messages) /
                 std::max(1e-9, absl::ToDoubleSeconds(elapsed));
  return result;
}

}  // namespace fake_tcp
