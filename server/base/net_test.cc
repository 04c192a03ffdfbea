#include "server/base/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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

// Waits up to 10 s for `fd` to be writable; returns its SO_ERROR then.
int ConnectResult(int fd) {
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 10000) != 1) return ETIMEDOUT;
  int error = 0;
  socklen_t len = sizeof(error);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  return error;
}

TEST(NetTest, ResolvesLoopbackLiteralsAndNames) {
  absl::StatusOr<std::vector<SocketAddress>> v4 = Resolve("127.0.0.1", 9500);
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ(FormatSockaddr((*v4)[0].addr), "127.0.0.1:9500");
  absl::StatusOr<std::vector<SocketAddress>> v6 = Resolve("::1", 7);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(FormatSockaddr((*v6)[0].addr), "[::1]:7");
  EXPECT_EQ(Resolve("no.such.host.invalid", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NetTest, StartConnectReachesAListener) {
  absl::StatusOr<BoundListener> l = Listen("127.0.0.1", 0, 8);
  ASSERT_TRUE(l.ok()) << l.status();
  absl::StatusOr<std::vector<SocketAddress>> to = Resolve("127.0.0.1", l->port);
  ASSERT_TRUE(to.ok()) << to.status();
  absl::StatusOr<UniqueFd> fd = StartConnect((*to)[0]);
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(ConnectResult(fd->get()), 0);
  pollfd p{l->fd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);
  UniqueFd accepted(accept(l->fd.get(), nullptr, nullptr));
  EXPECT_TRUE(accepted.ok());
}

TEST(NetTest, StartConnectToAClosedPortIsRefused) {
  int port = 0;
  {
    absl::StatusOr<BoundListener> l = Listen("127.0.0.1", 0, 8);
    ASSERT_TRUE(l.ok()) << l.status();
    port = l->port;
  }  // closed: nothing listens there now
  absl::StatusOr<std::vector<SocketAddress>> to = Resolve("127.0.0.1", port);
  ASSERT_TRUE(to.ok()) << to.status();
  absl::StatusOr<UniqueFd> fd = StartConnect((*to)[0]);
  if (fd.ok()) {
    // Refused later: the socket reports it once the connect completes.
    EXPECT_EQ(ConnectResult(fd->get()), ECONNREFUSED);
  } else {
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(fd.status().message(),
              absl::StrCat("connect 127.0.0.1:", port, ": Connection refused"));
  }
}

}  // namespace
}  // namespace fake_tcp
