#ifndef SERVER_TESTING_TEST_UTIL_H_
#define SERVER_TESTING_TEST_UTIL_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/config.h"
#include "gtest/gtest.h"

namespace grpc {
class CallbackGenericService;
class Server;
}  // namespace grpc

namespace fake_tcp::testing {

// Returns the contents of the file at `path` ("" if it cannot be read).
std::string ReadFile(const std::string& path);

// Names the fixture's two modes (FixtureOptions::out_of_process) in
// parameterized tests, so one body runs in both:
//   INSTANTIATE_TEST_SUITE_P(Modes, MyTest, ::testing::Bool(), ModeName);
// runs MyTest.Case/InProcess and MyTest.Case/OutOfProcess.
std::string ModeName(const ::testing::TestParamInfo<bool>& info);

// Returns the resident memory of this process, in bytes.
size_t ResidentBytes();

// True under a sanitizer: its allocator keeps freed memory (ASan's quarantine)
// and shadow memory resident, so resident-size checks mean nothing there.
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || \
    defined(ABSL_HAVE_THREAD_SANITIZER) || defined(ABSL_HAVE_MEMORY_SANITIZER)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

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

#endif  // SERVER_TESTING_TEST_UTIL_H_
