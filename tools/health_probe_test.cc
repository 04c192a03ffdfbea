// Runs //tools:health_probe as a child process against a real health sidecar
// and checks every exit code it can produce here, and its message.

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/health/health_sidecar.h"
#include "server/testing/test_util.h"
#include "testing/subprocess.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::Subprocess;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(60);

struct Result {
  int code = -1;
  std::string stderr_text;
};

Result Probe(std::vector<std::string> args) {
  absl::StatusOr<std::string> probe =
      Runfile("fake_tcp_server/tools/health_probe");
  EXPECT_TRUE(probe.ok()) << probe.status();
  args.insert(args.begin(), *probe);
  absl::StatusOr<Subprocess> child = Subprocess::Start(args);
  EXPECT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> code = child->Wait(kTimeout);
  EXPECT_TRUE(code.ok()) << code.status();
  return {code.ok() ? *code : -1, child->Stderr()};
}

class HealthProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    server_ = std::make_unique<FakeTcpServer>(options);
    health_ = std::make_unique<HealthSidecar>(server_.get());
    ASSERT_TRUE(health_->Start().ok());
    addr_ = absl::StrCat("-addr=", health_->address());
  }

  std::unique_ptr<FakeTcpServer> server_;
  std::unique_ptr<HealthSidecar> health_;
  std::string addr_;
};

TEST_F(HealthProbeTest, ServingExitsZero) {
  ASSERT_TRUE(server_->Start().ok());
  Result r = Probe({addr_});
  EXPECT_EQ(r.code, 0) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("status: SERVING"));
  // grpc_health_probe's spellings, one or two dashes, repeated headers.
  r = Probe({"--addr", health_->address(), "-service=fake_tcp_server",
             "-connect-timeout=5s", "-rpc-timeout=5s", "-user-agent=ci-probe",
             "-rpc-header=x-a:1", "-rpc-header", "x-b: 2", "-v"});
  EXPECT_EQ(r.code, 0) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("establishing connection took"));
}

TEST_F(HealthProbeTest, InvalidArgumentsExitOne) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {addr_, "-no-such-flag"},
           {addr_, "-connect-timeout=soon"},
           {addr_, "-rpc-timeout=0s"},
           {addr_, "-rpc-header=no-colon"},
           {addr_, "-tls-no-verify"},
           {addr_, "-tls", "-tls-no-verify", "-tls-ca-cert=ca.pem"},
           {addr_, "-tls", "-tls-client-cert=c.pem"},
           {addr_, "-tls", "-tls-ca-cert=/no/such.pem"}}) {
    const Result r = Probe(args);
    EXPECT_EQ(r.code, 1) << absl::StrJoin(args, " ") << ": " << r.stderr_text;
  }
  EXPECT_THAT(Probe({}).stderr_text, HasSubstr("-addr not specified"));
}

// The health endpoint over TLS, with the TCP server's generated certificate.
class HealthProbeTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.port = 0;
    options.tls = TlsOptions{};
    server_ = std::make_unique<FakeTcpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    HealthOptions health_options;
    health_options.tls = server_->tls_certificate();
    health_ = std::make_unique<HealthSidecar>(server_.get(), health_options);
    ASSERT_TRUE(health_->Start().ok());
    addr_ = absl::StrCat("-addr=", health_->address());
    ca_ = absl::StrCat(getenv("TEST_TMPDIR"), "/ca.pem");
    std::ofstream(ca_) << server_->tls_ca_pem();
  }

  std::unique_ptr<FakeTcpServer> server_;
  std::unique_ptr<HealthSidecar> health_;
  std::string addr_;
  std::string ca_;
};

TEST_F(HealthProbeTlsTest, VerifiedWithTheCaOrUnverifiedExitsZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {addr_, "-tls", "-tls-ca-cert=" + ca_},
           {addr_, "-tls", "-tls-ca-cert=" + ca_, "-tls-server-name=localhost"},
           {addr_, "-tls", "-tls-no-verify"},
           {addr_, "-tls", "-tls-ca-cert=" + ca_, "-wait=10s"}}) {
    const Result r = Probe(args);
    EXPECT_EQ(r.code, 0) << absl::StrJoin(args, " ") << ": " << r.stderr_text;
    EXPECT_THAT(r.stderr_text, HasSubstr("status: SERVING"));
  }
}

TEST_F(HealthProbeTlsTest, UntrustedMisnamedOrPlaintextFailsToConnect) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {addr_, "-tls", "-connect-timeout=1s"},  // the system's roots
           {addr_, "-tls", "-tls-ca-cert=" + ca_,
            "-tls-server-name=example.com", "-connect-timeout=1s"},
           {addr_, "-connect-timeout=1s"}}) {
    const Result r = Probe(args);
    EXPECT_EQ(r.code, 2) << absl::StrJoin(args, " ") << ": " << r.stderr_text;
  }
}

TEST_F(HealthProbeTest, NothingListeningExitsTwo) {
  const std::string address = health_->address();
  health_->Stop();
  const Result r = Probe({"-addr=" + address, "-connect-timeout=300ms"});
  EXPECT_EQ(r.code, 2) << r.stderr_text;
  EXPECT_THAT(r.stderr_text,
              HasSubstr(absl::StrCat("timeout: failed to connect service \"",
                                     address, "\" within 300ms")));
}

TEST_F(HealthProbeTest, UnknownServiceExitsThree) {
  ASSERT_TRUE(server_->Start().ok());
  const Result r = Probe({addr_, "-service=no_such_service"});
  EXPECT_EQ(r.code, 3) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("NOT_FOUND"));
}

TEST(HealthProbeNoHealthTest, ServerWithoutHealthServiceExitsThree) {
  testing::GrpcServerWithoutHealth plain;
  ASSERT_TRUE(plain.ok());
  const Result r = Probe({"-addr=" + plain.address()});
  EXPECT_EQ(r.code, 3) << r.stderr_text;
  EXPECT_THAT(r.stderr_text,
              HasSubstr("does not implement the grpc health protocol"));
}

TEST_F(HealthProbeTest, NotServingExitsFour) {
  // The sidecar is up, the TCP listener is not: NOT_SERVING.
  const Result r = Probe({addr_});
  EXPECT_EQ(r.code, 4) << r.stderr_text;
  EXPECT_THAT(r.stderr_text,
              HasSubstr("service unhealthy (responded with \"NOT_SERVING\")"));
}

TEST_F(HealthProbeTest, WaitReturnsOnceServing) {
  absl::StatusOr<std::string> probe =
      Runfile("fake_tcp_server/tools/health_probe");
  ASSERT_TRUE(probe.ok());
  absl::StatusOr<Subprocess> child =
      Subprocess::Start({*probe, addr_, "-wait=60s"});
  ASSERT_TRUE(child.ok()) << child.status();
  // Still NOT_SERVING: the probe keeps waiting.
  EXPECT_EQ(child->Wait(absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(server_->Start().ok());
  absl::StatusOr<int> code = child->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << child->Stderr();
}

TEST_F(HealthProbeTest, WaitTimesOutWithTheRightCode) {
  Result r = Probe({addr_, "-wait=2s"});
  EXPECT_EQ(r.code, 4) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("last status NOT_SERVING"));
  const std::string address = health_->address();
  health_->Stop();
  r = Probe({"-addr=" + address, "-wait=300ms"});
  EXPECT_EQ(r.code, 2) << r.stderr_text;
  EXPECT_THAT(r.stderr_text, HasSubstr("never connected"));
}

TEST_F(HealthProbeTest, AddrFileIsAwaitedThenUsed) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/health_addr");
  absl::StatusOr<std::string> probe =
      Runfile("fake_tcp_server/tools/health_probe");
  ASSERT_TRUE(probe.ok());
  absl::StatusOr<Subprocess> child =
      Subprocess::Start({*probe, "-addr_file=" + path, "-wait=60s"});
  ASSERT_TRUE(child.ok()) << child.status();
  // The file does not exist yet; the probe waits for it.
  EXPECT_EQ(child->Wait(absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  HealthOptions options;
  options.address_file = path;
  HealthSidecar health(server_.get(), options);
  ASSERT_TRUE(health.Start().ok());
  ASSERT_TRUE(server_->Start().ok());
  absl::StatusOr<int> code = child->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << child->Stderr();

  const Result missing =
      Probe({"-addr_file=" + path + ".missing", "-connect-timeout=200ms"});
  EXPECT_EQ(missing.code, 2) << missing.stderr_text;
  EXPECT_THAT(missing.stderr_text, HasSubstr("did not appear within 200ms"));
}

}  // namespace
}  // namespace fake_tcp
