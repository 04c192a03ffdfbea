#include "server/base/errno_status.h"

#include <errno.h>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

TEST(ErrnoStatusTest, SocketErrorsThatMayPassAreUnavailable) {
  for (int err : {EADDRINUSE, ECONNREFUSED, ECONNRESET, EPIPE, ENETUNREACH}) {
    EXPECT_EQ(ErrnoToCode(err), absl::StatusCode::kUnavailable) << err;
  }
  EXPECT_EQ(ErrnoToCode(EADDRNOTAVAIL), absl::StatusCode::kResourceExhausted);
}

TEST(ErrnoStatusTest, FileErrorsFollowAbseil) {
  EXPECT_EQ(ErrnoToCode(0), absl::StatusCode::kOk);
  EXPECT_EQ(ErrnoToCode(ENOENT), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToCode(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToCode(EMFILE), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToCode(ETIMEDOUT), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrnoToCode(EINVAL), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoToCode(100000), absl::StatusCode::kUnknown);
}

TEST(ErrnoStatusTest, MessageNamesTheOperationAndTheCause) {
  const absl::Status s = ErrnoStatus(EADDRINUSE, "bind 127.0.0.1:9500");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "bind 127.0.0.1:9500: Address already in use");
  EXPECT_THAT(ErrnoStatus(ENOENT, "read /x").message(),
              HasSubstr("No such file"));
}

}  // namespace
}  // namespace fake_tcp
