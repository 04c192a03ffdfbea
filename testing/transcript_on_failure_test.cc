// Runs a test binary that fails, and checks what a failed test leaves behind: a
// transcript (text and HTML) named after it, and nothing for the test that
// passed.

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/testing/test_util.h"
#include "testing/subprocess.h"

namespace fake_tcp::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') out.insert(e->d_name);
    }
    closedir(d);
  }
  return out;
}

TEST(TranscriptOnFailureTest, AFailedTestLeavesItsTranscript) {
  absl::StatusOr<std::string> binary =
      Runfile("fake_tcp_server/testing/failing_example");
  ASSERT_TRUE(binary.ok()) << binary.status();
  const std::string outputs = absl::StrCat(getenv("TEST_TMPDIR"), "/outputs_",
                                           absl::ToUnixNanos(absl::Now()));
  mkdir(outputs.c_str(), 0755);
  setenv("TEST_UNDECLARED_OUTPUTS_DIR", outputs.c_str(), 1);
  setenv("TEST_TARGET", "//testing:failing_example", 1);
  // The child is a test binary of its own: it must not touch this test's files.
  for (const char* var :
       {"TEST_PREMATURE_EXIT_FILE", "XML_OUTPUT_FILE", "GTEST_OUTPUT",
        "TEST_SHARD_STATUS_FILE", "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS"}) {
    unsetenv(var);
  }
  absl::StatusOr<Subprocess> child = Subprocess::Start({*binary});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> code = child->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 1) << child->Stdout();  // tests failed; nothing crashed
  EXPECT_THAT(
      child->Stderr(),
      HasSubstr("transcript of FailingTest.WaitsForAMessageThatNeverComes "
                "written to"));
  // Where it is once the sandbox is gone, and how to get it out.
  EXPECT_THAT(
      child->Stderr(),
      HasSubstr("after the test: unzip -o "
                "bazel-testlogs/testing/failing_example/test.outputs/"
                "outputs.zip 'FailingTest.WaitsForAMessageThatNeverComes"
                ".transcript.*'"));

  EXPECT_THAT(Files(outputs),
              UnorderedElementsAre(
                  "FailingTest.WaitsForAMessageThatNeverComes.transcript.txt",
                  "FailingTest.WaitsForAMessageThatNeverComes.transcript.html",
                  "FailingSetUpTest.NeverRuns.transcript.txt",
                  "FailingSetUpTest.NeverRuns.transcript.html"));
  // A SetUp that failed says why, and the body never ran.
  EXPECT_THAT(child->Stdout(),
              HasSubstr("options.server.responder: C++ code has no flag"));
  EXPECT_THAT(child->Stdout(), ::testing::Not(HasSubstr("the body ran")));
  const std::string html = ReadFile(
      outputs + "/FailingTest.WaitsForAMessageThatNeverComes.transcript.html");
  EXPECT_THAT(
      html,
      HasSubstr(
          "wait failed: a message that is equal to &quot;never sent&quot;"));
  // Both connections have lanes; the messages and the reset are there.
  EXPECT_THAT(html, HasSubstr("connection 1"));
  EXPECT_THAT(html, HasSubstr("connection 2"));
  EXPECT_THAT(html, HasSubstr("server reset (RST)"));
  EXPECT_THAT(html, HasSubstr("&quot;GET k&quot;"));
  EXPECT_THAT(html, HasSubstr("&quot;\\x01\\x02 binary&quot;"));
}

}  // namespace
}  // namespace fake_tcp::testing
