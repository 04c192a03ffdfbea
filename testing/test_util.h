#ifndef TESTING_TEST_UTIL_H_
#define TESTING_TEST_UTIL_H_

#include <memory>
#include <string>

namespace grpc {
class CallbackGenericService;
class Server;
}  // namespace grpc

namespace fake_tcp::testing {

// Returns the contents of the file at `path` ("" if it cannot be read).
std::string ReadFile(const std::string& path);

// A gRPC server on a free loopback port that serves no health service (every
// call is UNIMPLEMENTED): what a health client meets at a plain gRPC server.
// Stops when destroyed.
class GrpcServerWithoutHealth {
 public:
  GrpcServerWithoutHealth();
  ~GrpcServerWithoutHealth();
  GrpcServerWithoutHealth(const GrpcServerWithoutHealth&) = delete;
  GrpcServerWithoutHealth& operator=(const GrpcServerWithoutHealth&) = delete;

  // Returns false if it could not start.
  bool ok() const { return server_ != nullptr; }
  // "127.0.0.1:port".
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<grpc::CallbackGenericService> generic_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace fake_tcp::testing

#endif  // TESTING_TEST_UTIL_H_
