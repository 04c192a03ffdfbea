#include "tools/tool_test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/base/file.h"
#include "server/testing/test_util.h"

namespace fake_tcp {

using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::Subprocess;

namespace {
constexpr absl::Duration kTimeout = kToolTimeout;
}  // namespace

void ToolTest::SetUp() {
  absl::StatusOr<std::string> server =
      Runfile("fake_tcp_server/tools/fake_tcp_server");
  absl::StatusOr<std::string> send = Runfile("fake_tcp_server/tools/send");
  ASSERT_TRUE(server.ok() && send.ok());
  server_binary_ = *server;
  send_binary_ = *send;
  dir_ = absl::StrCat(
      getenv("TEST_TMPDIR"), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  mkdir(dir_.c_str(), 0755);
}

void ToolTest::StartServer(std::vector<std::string> flags,
                           const Subprocess::Options& options) {
  unlink((dir_ + "/addr").c_str());  // from a server started before
  unlink((dir_ + "/health").c_str());
  std::vector<std::string> argv = {server_binary_, "--port=0",
                                   "--address_file=" + dir_ + "/addr",
                                   "--health_address_file=" + dir_ + "/health"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<Subprocess> child = Subprocess::Start(argv, options);
  ASSERT_TRUE(child.ok()) << child.status();
  server_ = std::make_unique<Subprocess>(*std::move(child));
  absl::StatusOr<std::string> addr =
      WaitForAddressFile(dir_ + "/addr", kTimeout, server_->pidfd());
  ASSERT_TRUE(addr.ok()) << addr.status() << "\n" << server_->Stderr();
  address_ = *addr;
  absl::StatusOr<std::string> health =
      WaitForAddressFile(dir_ + "/health", kTimeout, server_->pidfd());
  ASSERT_TRUE(health.ok()) << health.status();
  health_address_ = *health;
}

int ToolTest::Run(std::vector<std::string> argv, std::string* out,
                  std::string* err) {
  absl::StatusOr<Subprocess> child = Subprocess::Start(argv);
  EXPECT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> code = child->Wait(kTimeout);
  EXPECT_TRUE(code.ok()) << code.status();
  if (out != nullptr) *out = child->Stdout();
  if (err != nullptr) *err = child->Stderr();
  return code.ok() ? *code : -1;
}

}  // namespace fake_tcp
