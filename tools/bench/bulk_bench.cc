#include "tools/bench/bulk_bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/base/errno_status.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/base/unique_fd.h"
#include "server/control/control_client.h"
#include "tools/bench/measure.h"

namespace fake_tcp {
namespace {

constexpr absl::Duration kBulkTimeout = absl::Seconds(120);
constexpr size_t kChunk = size_t{1} << 20;

absl::StatusOr<UniqueFd> ConnectTo(const std::string& address) {
  absl::StatusOr<HostPort> hp = ParseHostPort(address);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<std::vector<SocketAddress>> to = Resolve(hp->host, hp->port);
  if (!to.ok()) return to.status();
  absl::StatusOr<UniqueFd> fd = StartConnect(to->front());
  if (!fd.ok()) return fd.status();
  pollfd p = {fd->get(), POLLOUT, 0};
  int error = 0;
  socklen_t len = sizeof(error);
  if (poll(&p, 1, 30000) != 1 ||
      getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0 ||
      error != 0) {
    return absl::UnavailableError(
        absl::StrCat("bulk: connect ", address, " failed: ", strerror(error)));
  }
  return fd;
}

// Sends `bytes` to `address`, reading (and dropping) its answers meanwhile,
// half-closes, and reads until the server closes: the time from the connect
// until then.
absl::StatusOr<absl::Duration> Upload(const std::string& address,
                                      size_t bytes) {
  BENCH_ASSIGN_OR_RETURN(UniqueFd fd, ConnectTo(address));
  static const std::string* const chunk = new std::string(kChunk, 'u');
  std::vector<char> sink(1 << 16);
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + kBulkTimeout;
  size_t sent = 0;
  while (true) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("bulk upload to ", address, ": ", sent,
                       " bytes sent in ", absl::FormatDuration(kBulkTimeout)));
    }
    pollfd p = {fd.get(),
                static_cast<short>(POLLIN | (sent < bytes ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 1000) < 0 && errno != EINTR) {
      return ErrnoStatus(errno, "bulk upload: poll");
    }
    if (p.revents & POLLOUT) {
      const ssize_t n = send(fd.get(), chunk->data(),
                             std::min(kChunk, bytes - sent), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return ErrnoStatus(errno, "bulk upload: send");
      }
      if (n > 0) sent += static_cast<size_t>(n);
      if (sent == bytes) shutdown(fd.get(), SHUT_WR);
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = recv(fd.get(), sink.data(), sink.size(), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (sent < bytes) {
          return absl::UnavailableError(absl::StrCat("bulk upload to ", address,
                                                     ": closed after ", sent,
                                                     " of ", bytes, " bytes"));
        }
        return absl::Now() - start;
      }
    }
  }
}

// Sends one byte to `address` and reads `bytes` back: the time until the
// last arrived.
absl::StatusOr<absl::Duration> Download(const std::string& address,
                                        size_t bytes, bool send_first) {
  BENCH_ASSIGN_OR_RETURN(UniqueFd fd, ConnectTo(address));
  const int flags = fcntl(fd.get(), F_GETFL);
  fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  timeval tv{static_cast<time_t>(absl::ToInt64Seconds(kBulkTimeout)), 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::vector<char> sink(kChunk);
  const absl::Time start = absl::Now();
  if (send_first && send(fd.get(), "x", 1, MSG_NOSIGNAL) != 1) {
    return ErrnoStatus(errno, "bulk download: send");
  }
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = recv(fd.get(), sink.data(), sink.size(), 0);
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("bulk download from ", address, ": ", got, " of ", bytes,
                       " bytes, then ", n == 0 ? "EOF" : strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::Now() - start;
}

// Loopback with nothing in between: a thread writes `bytes` from memory to
// the one client, which reads them.
absl::StatusOr<absl::Duration> LoopbackDownload(size_t bytes) {
  BENCH_ASSIGN_OR_RETURN(BoundListener listener, Listen("127.0.0.1", 0, 1));
  std::thread sender([&listener, bytes] {
    pollfd p = {listener.fd.get(), POLLIN, 0};
    if (poll(&p, 1, 30000) != 1) return;
    UniqueFd c(accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    const std::string chunk(kChunk, 'd');
    for (size_t sent = 0; c.get() >= 0 && sent < bytes;) {
      const ssize_t n = send(c.get(), chunk.data(),
                             std::min(kChunk, bytes - sent), MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  });
  absl::StatusOr<absl::Duration> took =
      Download(listener.address, bytes, /*send_first=*/false);
  sender.join();
  return took;
}

std::string Rate(size_t bytes, absl::Duration d) {
  return absl::StrFormat(
      "%.0f MB/s", static_cast<double>(bytes) / 1e6 / absl::ToDoubleSeconds(d));
}

double PerSecond(size_t bytes, absl::Duration d) {
  return static_cast<double>(bytes) / absl::ToDoubleSeconds(d);
}

}  // namespace

absl::Status BulkTable(const Programs& programs, int mib) {
  const size_t bytes = static_cast<size_t>(mib) << 20;
  BENCH_ASSIGN_OR_RETURN(const std::string dir, MakeTempDir("bench_bulk"));
  printf(
      "## Bulk: %d MiB through one connection (raw framing, 64 KiB reads)\n\n",
      mib);
  printf(
      "| direction | fake | baseline | fake / baseline | fake peak RSS "
      "(VmHWM) | fake RSS after the log is cleared |\n");
  printf("|---|---|---|---|---|---|\n");
  fflush(stdout);

  BENCH_ASSIGN_OR_RETURN(LaunchedServer bare, LaunchBare(programs));
  BENCH_ASSIGN_OR_RETURN(const absl::Duration bare_up,
                         Upload(bare.address, bytes));
  BENCH_RETURN_IF_ERROR(StopLaunched(bare));
  struct Variant {
    const char* name;
    std::vector<std::string> flags;
  };
  const std::string hold_all =
      absl::StrCat("--log_max_bytes=", bytes * 4 + (64 << 20));
  for (const Variant& v :
       {Variant{"client -> fake, log at its default caps (64 MiB)", {}},
        Variant{"client -> fake, the log holds it all",
                {hold_all, "--log_max_events=10000000"}}}) {
    const std::string addr = absl::StrCat(dir, "/addr_", v.flags.size());
    const std::string control = absl::StrCat(dir, "/control_", v.flags.size());
    std::vector<std::string> argv = {programs.fake, "--port=0", "--quiet",
                                     "--address_file=" + addr,
                                     "--control_address_file=" + control};
    argv.insert(argv.end(), v.flags.begin(), v.flags.end());
    BENCH_ASSIGN_OR_RETURN(LaunchedServer fake,
                           LaunchAndConnect(argv, addr, kBenchTimeout));
    BENCH_ASSIGN_OR_RETURN(const absl::Duration up,
                           Upload(fake.address, bytes));
    BENCH_ASSIGN_OR_RETURN(const ProcessStatus peak,
                           ReadProcessStatus(fake.process->pid()));
    BENCH_RETURN_IF_ERROR(WaitForAddressFile(control, kBenchTimeout).status());
    BENCH_ASSIGN_OR_RETURN(control::AddressFile address,
                           ReadControlAddressFile(control));
    ControlClient client(address);
    BENCH_RETURN_IF_ERROR(
        client.Call("POST", "/v1/log:clear", nullptr, nullptr));
    BENCH_ASSIGN_OR_RETURN(const ProcessStatus cleared,
                           ReadProcessStatus(fake.process->pid()));
    BENCH_RETURN_IF_ERROR(StopLaunched(fake));
    printf("| %s | %s | %s (bare server) | %s | %s | %s |\n", v.name,
           Rate(bytes, up).c_str(), Rate(bytes, bare_up).c_str(),
           Ratio(PerSecond(bytes, up), PerSecond(bytes, bare_up)).c_str(),
           Mb(peak.peak_kb).c_str(), Mb(cleared.rss_kb).c_str());
    fflush(stdout);
  }

  // One reply of `mib` MiB, from a file.
  const std::string reply = dir + "/reply";
  BENCH_RETURN_IF_ERROR(WriteFileAtomically(reply, std::string(bytes, 'r')));
  BENCH_ASSIGN_OR_RETURN(
      LaunchedServer fake,
      LaunchAndConnect(
          {programs.fake, "--port=0", "--quiet", "--reply_file=" + reply,
           "--address_file=" + dir + "/addr_down"},
          dir + "/addr_down", kBenchTimeout));
  BENCH_ASSIGN_OR_RETURN(const absl::Duration down,
                         Download(fake.address, bytes, /*send_first=*/true));
  BENCH_ASSIGN_OR_RETURN(const ProcessStatus peak,
                         ReadProcessStatus(fake.process->pid()));
  BENCH_RETURN_IF_ERROR(StopLaunched(fake));
  BENCH_ASSIGN_OR_RETURN(const absl::Duration loopback,
                         LoopbackDownload(bytes));
  printf(
      "| fake -> client, one reply (`--reply_file`) | %s | %s (a loopback "
      "sender, no server) | %s | %s | - |\n\n",
      Rate(bytes, down).c_str(), Rate(bytes, loopback).c_str(),
      Ratio(PerSecond(bytes, down), PerSecond(bytes, loopback)).c_str(),
      Mb(peak.peak_kb).c_str());
  return absl::OkStatus();
}

}  // namespace fake_tcp
