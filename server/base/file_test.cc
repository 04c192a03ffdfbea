#include "server/base/file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

TEST(FileTest, WritesAtomicallyAndReadsBack) {
  const std::string path = TempPath("atomic");
  ASSERT_TRUE(WriteFileAtomically(path, std::string("a\0b", 3)).ok());
  absl::StatusOr<std::string> read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string("a\0b", 3));
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(ReadFile(path).value_or(""), "second");
}

TEST(FileTest, ReadErrorsNameThePath) {
  absl::StatusOr<std::string> missing = ReadFile(TempPath("missing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing"));
  const std::string dir = TempPath("a_dir");
  mkdir(dir.c_str(), 0755);
  EXPECT_EQ(ReadFile(dir).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string big = TempPath("big");
  ASSERT_TRUE(WriteFileAtomically(big, std::string(1000, 'x')).ok());
  absl::StatusOr<std::string> too_big = ReadFile(big, 999);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadFile(big, 1000).value_or("").size(), 1000u);
}

TEST(FileTest, WriteIntoAMissingDirectoryIsUnavailable) {
  const absl::Status s = WriteFileAtomically(TempPath("no/such/dir/file"), "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir/file"));
}

TEST(FileTest, WaitsForAnAddressFileWrittenByAnotherThread) {
  const std::string path = TempPath("address");
  absl::Notification waiting;
  std::thread writer([&] {
    waiting.WaitForNotification();
    ASSERT_TRUE(WriteFileAtomically(path, "127.0.0.1:1234\n").ok());
  });
  waiting.Notify();
  absl::StatusOr<std::string> address =
      WaitForAddressFile(path, absl::Seconds(30));
  writer.join();
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, "127.0.0.1:1234");
}

TEST(FileTest, WaitEndsAtTheDeadlineNamingTheFile) {
  absl::StatusOr<std::string> r =
      WaitForAddressFile(TempPath("never"), absl::Milliseconds(50));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("never"));
}

}  // namespace
}  // namespace fake_tcp
