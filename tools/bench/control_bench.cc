#include "tools/bench/control_bench.h"

#include <stdio.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "server/control/control_client.h"
#include "server/control/control_server.h"
#include "server/fake_tcp_server.h"
#include "tools/bench/load.h"
#include "tools/bench/measure.h"

namespace fake_tcp {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::string Us(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Microseconds(d), " µs");
}

void Row(const char* what, const std::vector<absl::Duration>& samples) {
  const Spread spread = SpreadOf(samples);
  printf("| %s | %s | %s | %s |\n", what, Us(spread.median).c_str(),
         Us(spread.p90).c_str(), Us(spread.p99).c_str());
}

// Polls GET /v1/status every `period` (paced on `stop`, which also ends it)
// and counts the answers.
void Poll(const control::AddressFile& address, absl::Duration period,
          const absl::Notification* stop, uint64_t* polls, uint64_t* errors) {
  ControlClient client(address);
  absl::Time next = absl::Now();
  while (!stop->HasBeenNotified()) {
    control::Status status;
    if (client.Call("GET", "/v1/status", nullptr, &status).ok()) {
      ++*polls;
    } else {
      ++*errors;
    }
    next += period;
    stop->WaitForNotificationWithTimeout(next - absl::Now());
  }
}

// What each table measures: an in-process fake on a free port with its
// control API, and the address a client of it needs.
struct Subject {
  absl::Status Start() {
    if (absl::Status s = server.Start(); !s.ok()) return s;
    control = std::make_unique<ControlServer>(&server);
    if (absl::Status s = control->Start(); !s.ok()) return s;
    address.set_url(control->url());
    address.set_token(control->token());
    return absl::OkStatus();
  }

  FakeTcpServer server{[] {
    ServerOptions options;
    options.port = 0;
    return options;
  }()};
  std::unique_ptr<ControlServer> control;
  control::AddressFile address;
};

}  // namespace

absl::Status ControlPollingTable(absl::Duration duration) {
  constexpr absl::Duration kPeriod = absl::Milliseconds(1);
  Subject subject;
  if (absl::Status s = subject.Start(); !s.ok()) return s;
  FakeTcpServer& server = subject.server;
  const control::AddressFile& address = subject.address;
  printf(
      "## Data path while a client polls the control API (persistent, %s "
      "per mode, in process)\n\n",
      absl::FormatDuration(duration).c_str());
  printf(
      "| clients | status polls/s | quiet msg/s | polled msg/s | rate polled "
      "/ quiet | p50 polled / quiet | p99 polled / quiet | errors (load, "
      "polls) |\n"
      "|---|---|---|---|---|---|---|---|\n");
  for (const int clients : {1, 16}) {
    LoadOptions load;
    load.persistent = true;
    load.clients = clients;
    load.duration = duration / 2;
    uint64_t polls = 0, poll_errors = 0;
    absl::Duration polled_time;
    auto polled_run = [&]() {
      absl::Notification stop;
      const absl::Time start = absl::Now();
      std::thread poller(Poll, address, kPeriod, &stop, &polls, &poll_errors);
      LoadResult r = Load(server.address(), load);
      stop.Notify();
      poller.join();
      polled_time += absl::Now() - start;
      return r;
    };
    const LoadResult quiet1 = Load(server.address(), load);
    const LoadResult polled1 = polled_run();
    const LoadResult polled2 = polled_run();
    const LoadResult quiet2 = Load(server.address(), load);
    const LoadResult quiet = Combine(quiet1, quiet2);
    const LoadResult polled = Combine(polled1, polled2);
    printf("| %d | %.0f | %.0f | %.0f | %s | %s | %s | %llu, %llu |\n", clients,
           static_cast<double>(polls) / absl::ToDoubleSeconds(polled_time),
           quiet.per_second, polled.per_second,
           Ratio(polled.per_second, quiet.per_second).c_str(),
           Ratio(absl::ToDoubleMicroseconds(polled.p50),
                 absl::ToDoubleMicroseconds(quiet.p50))
               .c_str(),
           Ratio(absl::ToDoubleMicroseconds(polled.p99),
                 absl::ToDoubleMicroseconds(quiet.p99))
               .c_str(),
           static_cast<unsigned long long>(quiet.errors + polled.errors),
           static_cast<unsigned long long>(poll_errors));
    fflush(stdout);
  }
  printf("\n");
  return absl::OkStatus();
}

absl::Status ControlTable(int samples) {
  Subject subject;
  if (absl::Status s = subject.Start(); !s.ok()) return s;
  FakeTcpServer& server = subject.server;
  ControlServer& control = *subject.control;
  const control::AddressFile& address = subject.address;
  ControlClient client(address);
  absl::StatusOr<TcpClient> tcp =
      TcpClient::Connect(server.address(), kTimeout);
  if (!tcp.ok()) return tcp.status();

  std::vector<absl::Duration> status_rtt;
  std::vector<absl::Duration> send_rtt;
  std::vector<absl::Duration> wake;
  std::vector<absl::Duration> hop;
  control::SendRequest push;
  push.set_text("PUSH");
  const std::string send_path = "/v1/connections/1/send";
  for (int i = 0; i < samples; ++i) {
    absl::Time start = absl::Now();
    control::Status status;
    if (absl::Status s = client.Call("GET", "/v1/status", nullptr, &status);
        !s.ok()) {
      return s;
    }
    status_rtt.push_back(absl::Now() - start);

    start = absl::Now();
    if (absl::Status s = client.Call("POST", send_path, &push, nullptr);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::string> pushed = tcp->ReceiveExactly(4, kTimeout);
    if (!pushed.ok()) return pushed.status();
    send_rtt.push_back(absl::Now() - start);

    // A wait for the next message, pending on the server before it is sent.
    control::WaitRequest request;
    request.set_messages(static_cast<uint64_t>(i) + 1);
    request.mutable_timeout()->set_seconds(30);
    absl::Status waited;
    absl::Time returned;
    ControlClient waiter(address);
    std::thread thread([&] {
      control::WaitResult result;
      waited = waiter.Call("POST", "/v1/wait", &request, &result);
      returned = absl::Now();
      if (waited.ok() && !result.satisfied()) {
        waited = absl::DeadlineExceededError("the wait was not satisfied");
      }
    });
    if (!control.AwaitPendingWaits(1, kTimeout)) {
      thread.join();
      return absl::DeadlineExceededError("the wait never became pending");
    }
    start = absl::Now();
    absl::Status sent = tcp->SendAll("ping", kTimeout);
    thread.join();
    if (!sent.ok()) return sent;
    if (!waited.ok()) return waited;
    wake.push_back(returned - start);
    absl::StatusOr<std::string> reply = tcp->ReceiveExactly(8, kTimeout);
    if (!reply.ok()) return reply.status();
  }
  // What an action's trip through the I/O thread costs without HTTP: a send
  // to a connection id never used runs there and comes back. A loop of its
  // own: each sample above starts from the state the one before it left the
  // threads in.
  for (int i = 0; i < samples; ++i) {
    const absl::Time start = absl::Now();
    if (absl::Status s = server.Send(uint64_t{1} << 40, Reply("x"));
        s.code() != absl::StatusCode::kNotFound) {
      return absl::InternalError(
          absl::StrCat("a send to an unused connection id: ", s.ToString()));
    }
    hop.push_back(absl::Now() - start);
  }
  printf("## Control API (%d samples each, in process, loopback)\n\n", samples);
  printf("| what | p50 | p90 | p99 |\n|---|---|---|---|\n");
  Row("GET /v1/status round trip", status_rtt);
  Row("POST send round trip (answer and bytes at the client)", send_rtt);
  Row("wait wake-up: a message sent -> its pending wait returns", wake);
  Row("one hop to the I/O thread and back (FakeTcpServer::Send, no HTTP)", hop);
  printf("\n");
  fflush(stdout);
  return absl::OkStatus();
}

}  // namespace fake_tcp
