#include "server/health/health_sidecar.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"
#include "server/testing/test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;

using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

HealthStatus MustCheck(const HealthSidecar& health,
                       const std::string& service) {
  absl::StatusOr<HealthStatus> status =
      CheckHealth(health.address(), service, kTimeout);
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? *status : HealthCheckResponse::UNKNOWN;
}

TEST(HealthSidecarTest, CheckFollowsTheListener) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  EXPECT_GT(health.port(), 0);
  EXPECT_EQ(health.address(), absl::StrCat("127.0.0.1:", health.port()));
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(MustCheck(health, "fake_tcp_server"),
            HealthCheckResponse::NOT_SERVING);

  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::SERVING);
  EXPECT_EQ(MustCheck(health, "fake_tcp_server"), HealthCheckResponse::SERVING);

  server.Stop();
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(MustCheck(health, "fake_tcp_server"),
            HealthCheckResponse::NOT_SERVING);
}

TEST(HealthSidecarTest, PausedAndRefusingAreNotServing) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(MustCheck(health, "fake_tcp_server"), HealthCheckResponse::SERVING);
  ASSERT_TRUE(server.PauseAccepting().ok());
  EXPECT_EQ(MustCheck(health, "fake_tcp_server"),
            HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(server.ResumeAccepting().ok());
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::SERVING);
  ASSERT_TRUE(server.StopAccepting().ok());
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(server.ResumeAccepting().ok());
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::SERVING);
}

TEST(HealthSidecarTest, SidecarStartedAfterTheServerIsServingAtOnce) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  HealthOptions options;
  options.service = "kv_store";
  HealthSidecar health(&server, options);
  ASSERT_TRUE(health.Start().ok());
  EXPECT_EQ(MustCheck(health, "kv_store"), HealthCheckResponse::SERVING);
}

// Clients that connect to the health port and say nothing (half-open, or not
// gRPC at all) are closed after the handshake timeout instead of holding a
// descriptor each for as long as they like.
TEST(HealthSidecarTest, ConnectionsThatNeverHandshakeAreClosed) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  HealthOptions options;
  options.handshake_timeout = absl::Milliseconds(300);
  HealthSidecar health(&server, options);
  ASSERT_TRUE(health.Start().ok());
  std::vector<TcpClient> silent;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<TcpClient> c =
        TcpClient::Connect(health.address(), kTimeout);
    ASSERT_TRUE(c.ok()) << c.status();
    silent.push_back(*std::move(c));
  }
  for (TcpClient& c : silent) {
    // The server ends the connection (after its HTTP/2 preamble, if any):
    // end of stream or a reset, long before the 120 s gRPC waits by default.
    const absl::Status closed = c.ReceiveEof(kTimeout);
    EXPECT_NE(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  }
  EXPECT_EQ(MustCheck(health, ""), HealthCheckResponse::SERVING);
}

TEST(HealthSidecarTest, WatchStreamsEveryChange) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      health.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("fake_tcp_server");
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(server.PauseAccepting().ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(server.ResumeAccepting().ok());
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  server.Stop();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  context.TryCancel();
  reader->Finish();
}

TEST(HealthSidecarTest, UnknownServiceIsNotFoundOnCheckAndUnknownOnWatch) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  absl::StatusOr<HealthStatus> check =
      CheckHealth(health.address(), "no_such_service", kTimeout);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kNotFound);

  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      health.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("no_such_service");
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  context.TryCancel();
  reader->Finish();

  const absl::Status wait =
      WaitUntilServing(health.address(), "no_such_service", absl::Seconds(2));
  EXPECT_EQ(wait.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(wait.message()), HasSubstr("service unknown"));
}

TEST(HealthSidecarTest, WaiterStartedBeforeTheServerReturnsWhenItServes) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  absl::Status waited = absl::UnknownError("not run");
  std::thread waiter([&] {
    waited = WaitUntilServing(health.address(), "fake_tcp_server", kTimeout);
  });
  ASSERT_TRUE(server.Start().ok());
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited;
}

TEST(HealthSidecarTest, FiftyConcurrentWaiters) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  std::vector<absl::Status> results(50, absl::UnknownError("not run"));
  std::vector<std::thread> waiters;
  for (int i = 0; i < 50; ++i) {
    waiters.emplace_back([&, i] {
      results[i] = WaitUntilServing(health.address(), "", kTimeout);
    });
  }
  ASSERT_TRUE(server.Start().ok());
  for (std::thread& t : waiters) t.join();
  for (int i = 0; i < 50; ++i)
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
}

TEST(HealthSidecarTest, TimedOutWaitSaysNotServing) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  const absl::Status wait =
      WaitUntilServing(health.address(), "fake_tcp_server", absl::Seconds(2));
  EXPECT_EQ(wait.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(wait.message()),
              HasSubstr("last status NOT_SERVING"));
}

TEST(HealthSidecarTest, WaitOnNothingListeningSaysNeverConnected) {
  // A port that was free a moment ago; nothing listens on it now.
  FakeTcpServer probe(AnyPort());
  ASSERT_TRUE(probe.Start().ok());
  const std::string address = probe.address();
  probe.Stop();
  const absl::Status wait =
      WaitUntilServing(address, "", absl::Milliseconds(300));
  EXPECT_EQ(wait.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(wait.message()), HasSubstr("never connected"));
}

TEST(HealthSidecarTest, ServerWithoutHealthServiceIsUnimplemented) {
  testing::GrpcServerWithoutHealth plain;
  ASSERT_TRUE(plain.ok());
  const std::string address = plain.address();
  EXPECT_EQ(CheckHealth(address, "", kTimeout).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(WaitUntilServing(address, "", kTimeout).code(),
            absl::StatusCode::kUnimplemented);
}

TEST(HealthSidecarTest, WritesTheAddressFile) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                   "/health_address");
  FakeTcpServer server(AnyPort());
  HealthOptions options;
  options.address_file = path;
  HealthSidecar health(&server, options);
  ASSERT_TRUE(health.Start().ok());
  EXPECT_EQ(ReadFile(path).value_or(""), health.address());
}

TEST(HealthSidecarTest, StartTwiceAndPortInUse) {
  FakeTcpServer server(AnyPort());
  HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());
  EXPECT_EQ(health.Start().code(), absl::StatusCode::kFailedPrecondition);
  HealthOptions options;
  options.port = health.port();
  HealthSidecar clash(&server, options);
  const absl::Status s = clash.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat("127.0.0.1:", health.port())));
}

TEST(HealthSidecarTest, StopEndsWatchersWithNotServing) {
  FakeTcpServer server(AnyPort());
  ASSERT_TRUE(server.Start().ok());
  auto health = std::make_unique<HealthSidecar>(&server);
  ASSERT_TRUE(health->Start().ok());
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      health->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::health::v1::HealthCheckRequest request;
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  health->Stop();
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  context.TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace fake_tcp
