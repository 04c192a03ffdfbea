#include "tools/base/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(NetTest, ParsesHostPortAndBracketedV6) {
  absl::StatusOr<HostPort> v4 = ParseHostPort("127.0.0.1:9500");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9500);
  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  absl::StatusOr<HostPort> name = ParseHostPort("localhost:80");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->host, "localhost");
}

TEST(NetTest, RejectsWhatIsNotHostPort) {
  for (const char* bad : {"", "9500", "host:", ":9500", "host:70000", "host:-1",
                          "host:9x", "::1:9500", "[::1:9500"}) {
    absl::StatusOr<HostPort> r = ParseHostPort(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (*bad != '\0') {
      EXPECT_THAT(std::string(r.status().message()), StartsWith(bad));
    }
  }
}

TEST(NetTest, JoinsAndRoundTrips) {
  EXPECT_EQ(JoinHostPort("127.0.0.1", 9500), "127.0.0.1:9500");
  EXPECT_EQ(JoinHostPort("::1", 9500), "[::1]:9500");
  for (const char* address : {"127.0.0.1:1", "[::1]:65535", "a.b:0"}) {
    absl::StatusOr<HostPort> r = ParseHostPort(address);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(JoinHostPort(r->host, r->port), address);
  }
}

TEST(NetTest, ListensOnAFreePortAndReportsIt) {
  absl::StatusOr<BoundListener> l = Listen("127.0.0.1", 0, 8);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->fd.ok());
  EXPECT_GT(l->port, 0);
  EXPECT_EQ(l->address, absl::StrCat("127.0.0.1:", l->port));
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(l->fd.get(), reinterpret_cast<sockaddr*>(&addr), &len),
            0);
  EXPECT_EQ(FormatSockaddr(addr), l->address);
}

TEST(NetTest, PortInUseIsUnavailableNamingTheAddress) {
  absl::StatusOr<BoundListener> first = Listen("127.0.0.1", 0, 8);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<BoundListener> second = Listen("127.0.0.1", first->port, 8);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(),
            absl::StrCat("bind ", first->address, ": Address already in use"));
}

TEST(NetTest, BadHostIsInvalidArgument) {
  absl::StatusOr<BoundListener> l = Listen("no.such.host.invalid", 0, 8);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(l.status().message(), HasSubstr("resolve no.such.host.invalid"));
}

}  // namespace
}  // namespace fake_tcp
