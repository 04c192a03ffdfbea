// Every tool's --help lists its own flags, whatever the binary is called: a
// copied or renamed binary (e.g. vendored as bin/fake) is as usable as the
// original.

#include <stdlib.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "testing/subprocess.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::Subprocess;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Copies the runfile `tool` to $TEST_TMPDIR/<name>, executable.
std::string CopyAs(const std::string& tool, const std::string& name) {
  absl::StatusOr<std::string> path =
      Runfile(absl::StrCat("fake_tcp_server/tools/", tool));
  EXPECT_TRUE(path.ok()) << path.status();
  absl::StatusOr<std::string> bytes = ReadFile(*path, size_t{1} << 30);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  const std::string copy = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  EXPECT_TRUE(WriteFileAtomically(copy, bytes.value_or("")).ok());
  chmod(copy.c_str(), 0755);
  return copy;
}

// "bench/load" -> "load".
std::string BaseName(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

// Returns what `binary --help` printed (absl prints usage to stdout).
std::string Help(const std::string& binary) {
  absl::StatusOr<Subprocess> child = Subprocess::Start({binary, "--help"});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return "";
  absl::StatusOr<int> code = child->Wait(absl::Seconds(30));
  EXPECT_TRUE(code.ok()) << code.status();
  return child->Stdout() + child->Stderr();
}

TEST(HelpTest, ARenamedServerStillListsItsFlags) {
  const std::string help = Help(CopyAs("fake_tcp_server", "my_fake"));
  // Its own flags, the ServerOptions ones and the control API's.
  EXPECT_THAT(help, AllOf(HasSubstr("--port"), HasSubstr("--framing"),
                          HasSubstr("--close_after_bytes"),
                          HasSubstr("--unix_socket"), HasSubstr("--transcript"),
                          HasSubstr("--control_address_file"),
                          Not(HasSubstr("No flags matched"))));
}

TEST(HelpTest, EveryToolListsItsFlagsUnderAnotherName) {
  struct Tool {
    const char* name;
    const char* flag;
  };
  for (const Tool& tool :
       {Tool{"send", "--wait"}, Tool{"health_probe", "--addr"},
        Tool{"bench/load", "--clients"}, Tool{"bench/bench", "--launches"}}) {
    const std::string help = Help(
        CopyAs(tool.name, absl::StrCat("renamed_", BaseName(tool.name), "_x")));
    EXPECT_THAT(help, HasSubstr(tool.flag)) << tool.name;
    EXPECT_THAT(help, Not(HasSubstr("No flags matched"))) << tool.name;
  }
}

}  // namespace
}  // namespace fake_tcp
