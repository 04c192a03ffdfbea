#ifndef TOOLS_TOOL_TEST_H_
#define TOOLS_TOOL_TEST_H_

// ToolTest: a fixture that runs the standalone programs
// (//tools:fake_tcp_server,
// //tools:send) as a user would, as child processes from the test's runfiles.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"

namespace fake_tcp {

inline constexpr absl::Duration kToolTimeout = absl::Seconds(30);

class ToolTest : public ::testing::Test {
 protected:
  // Finds the programs and makes a directory for this test's files.
  void SetUp() override;

  // Runs the server with `flags` plus address files; waits until it serves.
  void StartServer(std::vector<std::string> flags,
                   const testing::Subprocess::Options& options = {});

  // Runs a program to completion; returns its exit code.
  int Run(std::vector<std::string> argv, std::string* out = nullptr,
          std::string* err = nullptr);

  std::string server_binary_;
  std::string send_binary_;
  std::string dir_;
  std::unique_ptr<testing::Subprocess> server_;
  std::string address_;
  std::string health_address_;
};

}  // namespace fake_tcp

#endif  // TOOLS_TOOL_TEST_H_
