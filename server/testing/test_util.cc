#include "server/testing/test_util.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/base/file.h"

namespace fake_tcp::testing {

std::string ModeName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "OutOfProcess" : "InProcess";
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

std::string ReadFile(const std::string& path) {
  return fake_tcp::ReadFile(path).value_or("");
}

GrpcServerWithoutHealth::GrpcServerWithoutHealth()
    : generic_(std::make_unique<grpc::CallbackGenericService>()) {
  // The default health service is a process-wide switch: off for this server
  // only.
  grpc::EnableDefaultHealthCheckService(false);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterCallbackGenericService(generic_.get());
  server_ = builder.BuildAndStart();
  grpc::EnableDefaultHealthCheckService(true);
  address_ = absl::StrCat("127.0.0.1:", port);
}

GrpcServerWithoutHealth::~GrpcServerWithoutHealth() {
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace fake_tcp::testing
