// Proves the offline toolchain links and runs what the project is built from:
// GoogleTest, Abseil synchronization, and a real gRPC health Check against an
// in-process server over loopback, with the health stubs generated from
// Debian's grpc-proto.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace {

TEST(ToolchainTest, AbslMutexAwaitWithTimeoutSeesWritesFromAnotherThread) {
  absl::Mutex mu;
  int count = 0;  // guarded by mu
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j) {
        absl::MutexLock lock(&mu);
        ++count;
      }
    });
  }
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(
                                +[](int* n) { return *n == 4000; }, &count),
                            absl::Seconds(30)));
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(count, 4000);
}

TEST(ToolchainTest, GrpcHealthCheckAgainstInProcessServer) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::CallbackGenericService
      generic;  // the health service alone cannot start (1.51)
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterCallbackGenericService(&generic);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  server->GetHealthCheckService()->SetServingStatus("toolchain", false);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  auto check = [&](const std::string& service,
                   grpc::health::v1::HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    return stub->Check(&context, request, response);
  };

  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(check("toolchain", &response).ok());
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);

  server->GetHealthCheckService()->SetServingStatus("toolchain", true);
  ASSERT_TRUE(check("toolchain", &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  EXPECT_EQ(check("no_such_service", &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  server->Shutdown();
}

}  // namespace
