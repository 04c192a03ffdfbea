#include "tools/bench/memory_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "server/base/errno_status.h"
#include "server/base/file.h"
#include "server/base/unique_fd.h"
#include "testing/subprocess.h"
#include "tools/bench/load.h"
#include "tools/bench/measure.h"

namespace fake_tcp {
namespace {

constexpr absl::Duration kTimeout = kBenchTimeout;

absl::StatusOr<std::string> ReadLine(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string line;
  char c = 0;
  while (true) {
    pollfd p = {fd, POLLIN, 0};
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("memory_subject said nothing within ",
                       absl::FormatDuration(timeout), " (so far: ", line, ")"));
    }
    if (read(fd, &c, 1) != 1) {
      return absl::UnavailableError("memory_subject closed its stdout");
    }
    if (c == '\n') return line;
    line.push_back(c);
  }
}

// The standalone fake with one reply of `mib` MiB (--reply_file), sent to
// kLargeReplyClients clients at once: its peak resident memory against the
// reply's size and the log's byte cap.
constexpr int kLargeReplyClients = 4;

absl::Status LargeReply(const Programs& programs, int mib) {
  BENCH_ASSIGN_OR_RETURN(const std::string dir, MakeTempDir("bench_reply"));
  const size_t size = static_cast<size_t>(mib) << 20;
  std::string bytes(size, 'r');
  BENCH_RETURN_IF_ERROR(WriteFileAtomically(dir + "/reply", bytes));
  bytes = std::string();
  BENCH_ASSIGN_OR_RETURN(LaunchedServer fake,
                         LaunchAndConnect({programs.fake, "--port=0", "--quiet",
                                           "--reply_file=" + dir + "/reply",
                                           "--address_file=" + dir + "/addr"},
                                          dir + "/addr", kTimeout));
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus idle,
                         ReadProcessStatus(fake.process->pid()));
  std::vector<TcpClient> clients;
  for (int i = 0; i < kLargeReplyClients; ++i) {
    BENCH_ASSIGN_OR_RETURN(TcpClient c,
                           TcpClient::Connect(fake.address, kTimeout));
    BENCH_RETURN_IF_ERROR(c.SendAll("x", kTimeout));
    clients.push_back(std::move(c));
  }
  // Read round-robin, so every reply is pending at once.
  std::vector<size_t> got(clients.size(), 0);
  for (bool more = true; more;) {
    more = false;
    for (size_t i = 0; i < clients.size(); ++i) {
      if (got[i] >= size) continue;
      BENCH_ASSIGN_OR_RETURN(
          const std::string chunk,
          clients[i].ReceiveAvailable(
              kTimeout, std::min<size_t>(size - got[i], 1 << 20)));
      got[i] += chunk.size();
      more = true;
    }
  }
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus after,
                         ReadProcessStatus(fake.process->pid()));
  printf(
      "| one reply of %d MiB (`--reply_file`) to %d clients at once: peak "
      "(VmHWM) | %s (%s before the replies) | - | %.2f x the reply (the log "
      "keeps at most 16 MiB of an entry, 64 MiB in all) |\n",
      mib, kLargeReplyClients, Mb(after.peak_kb).c_str(),
      Mb(idle.rss_kb).c_str(),
      static_cast<double>(after.peak_kb) / static_cast<double>(size >> 10));
  return absl::OkStatus();
}

}  // namespace

absl::Status Memory(const Programs& programs, uint64_t messages,
                    int large_reply_mib) {
  LoadOptions load;
  load.persistent = true;
  load.clients = 16;
  load.duration = absl::Minutes(5);
  load.max_messages = messages;

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ErrnoStatus(errno, "memory table: pipe2");
  }
  const UniqueFd from_subject(pipe_fds[0]);
  UniqueFd to_parent(pipe_fds[1]);
  testing::Subprocess::Options options;
  options.stdout_fd = to_parent.get();
  BENCH_ASSIGN_OR_RETURN(
      testing::Subprocess subject,
      testing::Subprocess::Start({programs.memory_subject}, options));
  to_parent.reset();
  BENCH_ASSIGN_OR_RETURN(const std::string first,
                         ReadLine(from_subject.get(), kTimeout));
  const std::vector<std::string> addresses = absl::StrSplit(first, ' ');
  if (addresses.size() != 2) {
    return absl::DataLossError(absl::StrCat(
        "memory_subject: want \"<address> <health address>\", got \"", first,
        "\""));
  }
  BENCH_RETURN_IF_ERROR(WaitUntilServing(addresses[1], kService, kTimeout));
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus fake_idle,
                         ReadProcessStatus(subject.pid()));
  BENCH_ASSIGN_OR_RETURN(const MemoryRollup fake_rollup,
                         ReadMemoryRollup(subject.pid()));
  BENCH_ASSIGN_OR_RETURN(const std::vector<Mapping> fake_mappings,
                         ReadMappings(subject.pid()));
  const LoadResult fake_load = Load(addresses[0], load);
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus fake_after,
                         ReadProcessStatus(subject.pid()));
  subject.Signal(SIGUSR1);
  BENCH_ASSIGN_OR_RETURN(const std::string cleared,
                         ReadLine(from_subject.get(), kTimeout));
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus fake_cleared,
                         ReadProcessStatus(subject.pid()));

  BENCH_ASSIGN_OR_RETURN(LaunchedServer bare, LaunchBare(programs));
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus bare_idle,
                         ReadProcessStatus(bare.process->pid()));
  const LoadResult bare_load = Load(bare.address, load);
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus bare_after,
                         ReadProcessStatus(bare.process->pid()));

  // "cleared <received> <dropped>"
  const std::vector<std::string> counts = absl::StrSplit(cleared, ' ');
  printf(
      "## Memory: resident (RSS; private: RssAnon), the fake library and its "
      "health sidecar in a process of their own (%d threads)\n\n",
      fake_idle.threads);
  printf("| figure | fake_tcp_server | bare server | fake / bare |\n");
  printf("|---|---|---|---|\n");
  auto mb = [](const ProcessStatus& p) {
    return absl::StrCat(Mb(p.rss_kb), " (private ", Mb(p.anon_kb), ")");
  };
  auto row = [&mb](const std::string& what, const ProcessStatus& fake,
                   const std::string& bare, double bare_kb) {
    printf("| %s | %s | %s | %s |\n", what.c_str(), mb(fake).c_str(),
           bare.c_str(),
           Ratio(static_cast<double>(fake.rss_kb), bare_kb).c_str());
  };
  row("idle, SERVING", fake_idle, mb(bare_idle),
      static_cast<double>(bare_idle.rss_kb));
  row(absl::StrFormat("after %d messages (fake: %d, bare: %d; %d errors)",
                      messages, fake_load.messages, bare_load.messages,
                      fake_load.errors + bare_load.errors),
      fake_after, mb(bare_after), static_cast<double>(bare_after.rss_kb));
  row("after the log is cleared (MessageLog::Clear())", fake_cleared, "-", 0);
  if (large_reply_mib > 0) {
    BENCH_RETURN_IF_ERROR(LargeReply(programs, large_reply_mib));
  }
  printf(
      "\nThe log kept its newest entries within its limits (LogLimits: 100,000 "
      "entries, 64 MiB) and dropped the rest: %s messages received, %s "
      "entries dropped (a message, a reply, a connection event: an entry "
      "each). After the clear: %+.1f MB over idle.\n\n",
      counts.size() == 3 ? counts[1].c_str() : "?",
      counts.size() == 3 ? counts[2].c_str() : "?",
      static_cast<double>(fake_cleared.rss_kb - fake_idle.rss_kb) / 1024);
  // Where the idle RSS is: the pages of each file mapped, and the anonymous
  // ones.
  std::vector<std::string> where;
  for (size_t i = 0; i < fake_mappings.size() && i < 8; ++i) {
    const Mapping& m = fake_mappings[i];
    where.push_back(absl::StrFormat("%s %.2f MB (private %.2f)", m.name,
                                    m.rss_kb / 1024.0, m.private_kb / 1024.0));
  }
  printf(
      "Idle, from /proc/PID/smaps_rollup: RSS %s, anonymous %s, private "
      "(Private_Clean + Private_Dirty) %s. By mapping, the largest first: "
      "%s.\n\n",
      Mb(fake_rollup.rss_kb).c_str(), Mb(fake_rollup.anon_kb).c_str(),
      Mb(fake_rollup.private_kb).c_str(), absl::StrJoin(where, "; ").c_str());
  return absl::OkStatus();
}

}  // namespace fake_tcp
