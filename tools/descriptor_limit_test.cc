// The standalone server under a low descriptor limit (ulimit -n, as `prlimit`
// or a container sets it): the connection cap fits the limit, clients past it
// are closed at once instead of waiting in the backlog, health and the control
// API keep answering, and clients that leave make room for new ones.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/control/control.pb.h"
#include "server/control/control_client.h"
#include "testing/subprocess.h"
#include "tools/tool_test.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;
using testing::Runfile;
using testing::Subprocess;

constexpr absl::Duration kTimeout = kToolTimeout;
constexpr int kLimit = 128;

class DescriptorLimitTest : public ToolTest {
 protected:
  // Starts the server with its soft and hard descriptor limits at `kLimit`.
  void StartLimited(std::vector<std::string> flags) {
    absl::StatusOr<std::string> exec =
        Runfile("fake_tcp_server/tools/descriptor_limit_exec");
    ASSERT_TRUE(exec.ok()) << exec.status();
    std::vector<std::string> argv = {
        *exec,
        absl::StrCat(kLimit),
        server_binary_,
        "--port=0",
        "--address_file=" + dir_ + "/addr",
        "--health_address_file=" + dir_ + "/health",
        "--control_address_file=" + dir_ + "/control.json"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<Subprocess> child = Subprocess::Start(argv);
    ASSERT_TRUE(child.ok()) << child.status();
    server_ = std::make_unique<Subprocess>(*std::move(child));
    for (auto [file, out] : {std::pair{"/addr", &address_},
                             std::pair{"/health", &health_address_}}) {
      absl::StatusOr<std::string> a =
          WaitForAddressFile(dir_ + file, kTimeout, server_->pidfd());
      ASSERT_TRUE(a.ok()) << a.status() << "\n" << server_->Stderr();
      *out = *a;
    }
    ASSERT_TRUE(
        WaitForAddressFile(dir_ + "/control.json", kTimeout, server_->pidfd())
            .ok());
    absl::StatusOr<control::AddressFile> control =
        ReadControlAddressFile(dir_ + "/control.json");
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = std::make_unique<ControlClient>(*control);
  }

  control::Status Status() {
    control::Status status;
    absl::Status s = control_->Call("GET", "/v1/status", nullptr, &status);
    EXPECT_TRUE(s.ok()) << s;
    return status;
  }

  // A client that sends "x": served ("Received"), or closed by the server at
  // once (an error that is not a timeout).
  bool Served(std::vector<TcpClient>* kept) {
    absl::StatusOr<TcpClient> c = TcpClient::Connect(address_, kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return false;
    EXPECT_TRUE(c->SendAll("x", kTimeout).ok());
    absl::StatusOr<std::string> reply = c->ReceiveExactly(8, kTimeout);
    if (reply.ok()) {
      EXPECT_EQ(*reply, "Received");
      kept->push_back(*std::move(c));
      return true;
    }
    EXPECT_NE(reply.status().code(), absl::StatusCode::kDeadlineExceeded)
        << "a client past the cap was left hanging";
    return false;
  }

  void ExpectServing() {
    absl::StatusOr<HealthStatus> health =
        CheckHealth(health_address_, "", kTimeout);
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, ::grpc::health::v1::HealthCheckResponse::SERVING);
  }

  void WaitClosed(uint64_t id) {
    control::WaitRequest wait;
    wait.set_closed(true);
    wait.set_connection(id);
    wait.mutable_timeout()->set_seconds(30);
    control::WaitResult result;
    ASSERT_TRUE(control_->Call("POST", "/v1/wait", &wait, &result).ok());
    ASSERT_TRUE(result.satisfied()) << result.DebugString();
  }

  std::unique_ptr<ControlClient> control_;
};

TEST_F(DescriptorLimitTest, TheCapFitsTheLimitAndClientsPastItAreClosedAtOnce) {
  StartLimited({});
  EXPECT_THAT(server_->Stderr(),
              HasSubstr("--max_connections 1024 lowered to "));
  const control::Status before = Status();
  const uint64_t cap = before.max_connections();
  EXPECT_GT(cap, 0u);
  EXPECT_LE(cap, static_cast<uint64_t>(kLimit));
  EXPECT_FALSE(before.at_capacity());

  std::vector<TcpClient> clients;
  for (uint64_t i = 0; i < cap; ++i) {
    ASSERT_TRUE(Served(&clients)) << "client " << i + 1 << " of " << cap;
  }
  const control::Status full = Status();
  EXPECT_TRUE(full.at_capacity());
  EXPECT_EQ(full.listener(), "accepting");
  ExpectServing();
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(Served(&clients)) << "past the cap, client " << i + 1;
  }
  ExpectServing();

  // Clients that leave make room for new ones.
  clients.erase(clients.begin(), clients.begin() + 3);
  for (uint64_t id = 1; id <= 3; ++id) WaitClosed(id);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Served(&clients));
  EXPECT_TRUE(Status().at_capacity());

  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(server_->Stdout(),
              HasSubstr(absl::StrCat("max_connections ", cap,
                                     " reached; closed at once")));
  EXPECT_THAT(server_->Stdout(),
              HasSubstr(absl::StrCat(
                  "max_connections 1024 lowered to ", cap,
                  " to fit the descriptor limit (RLIMIT_NOFILE ", kLimit)));
}

TEST_F(DescriptorLimitTest,
       OutOfDescriptorsBelowTheCapClientsAreStillClosedAtOnce) {
  StartLimited({});
  const uint64_t cap = Status().max_connections();
  // Idle clients of the control API take more descriptors than the reserve
  // holds for them, so accept() runs out below the cap.
  const std::string control_address =
      absl::StrCat("127.0.0.1:", control_->address().port());
  std::vector<TcpClient> idle;
  for (int i = 0; i < 48; ++i) {
    absl::StatusOr<TcpClient> c = TcpClient::Connect(control_address, kTimeout);
    ASSERT_TRUE(c.ok()) << c.status();
    idle.push_back(*std::move(c));
  }
  Status();  // answered after the idle ones were accepted

  std::vector<TcpClient> clients;
  uint64_t served = 0;
  int refused = 0;
  for (uint64_t i = 0; i < cap + 10; ++i) {
    if (Served(&clients)) {
      ++served;
    } else {
      ++refused;
    }
  }
  EXPECT_LT(served, cap);
  EXPECT_GE(refused, 10);

  // Everyone leaves: the descriptors are back, new clients are served, health
  // answers. Health is asked only once the fake has closed the served clients'
  // descriptors (WaitClosed): gRPC 1.51 (Debian 12) stops accepting on a
  // listener whose accept() fails with EMFILE, for good, so a health check
  // sent while descriptors are still out would end the health endpoint.
  idle.clear();
  clients.clear();
  for (uint64_t id = 1; id <= served; ++id) WaitClosed(id);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Served(&clients));
  ExpectServing();

  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(server_->Stdout(),
              HasSubstr("accept: Too many open files with "));
  EXPECT_THAT(server_->Stdout(), HasSubstr("connections open; closed at once"));
}

}  // namespace
}  // namespace fake_tcp
