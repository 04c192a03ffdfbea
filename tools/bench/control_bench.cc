#include "tools/bench/control_bench.h"

#include <stdio.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "server/control/control_client.h"
#include "server/control/control_server.h"
#include "server/fake_tcp_server.h"
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

}  // namespace

absl::Status ControlTable(int samples) {
  ServerOptions options;
  options.port = 0;
  FakeTcpServer server(options);
  if (absl::Status s = server.Start(); !s.ok()) return s;
  ControlServer control(&server);
  if (absl::Status s = control.Start(); !s.ok()) return s;
  control::AddressFile address;
  address.set_url(control.url());
  address.set_token(control.token());
  ControlClient client(address);
  absl::StatusOr<TcpClient> tcp =
      TcpClient::Connect(server.address(), kTimeout);
  if (!tcp.ok()) return tcp.status();

  std::vector<absl::Duration> status_rtt;
  std::vector<absl::Duration> send_rtt;
  std::vector<absl::Duration> wake;
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
  printf("## Control API (%d samples each, in process, loopback)\n\n", samples);
  printf("| what | p50 | p90 | p99 |\n|---|---|---|---|\n");
  Row("GET /v1/status round trip", status_rtt);
  Row("POST send round trip (answer and bytes at the client)", send_rtt);
  Row("wait wake-up: a message sent -> its pending wait returns", wake);
  printf("\n");
  fflush(stdout);
  return absl::OkStatus();
}

}  // namespace fake_tcp
