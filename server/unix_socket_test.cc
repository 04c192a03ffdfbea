// FakeTcpServer on a Unix-domain socket (ServerOptions::unix_socket), over
// real sockets: the socket file's life, the peer's credentials in the log,
// pausing and resuming, the abstract namespace, proxying to a socket, and every
// bad path a clear error.

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/net.h"
#include "server/fake_tcp_server.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::ShortSocketPath;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

ServerOptions OnSocket(const std::string& path) {
  ServerOptions options;
  options.unix_socket = path;
  return options;
}

// The file's permission bits, -1 when there is no file.
int ModeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777)
                                       : -1;
}

TEST(UnixSocketTest, ServesAndLogsThePeersProcessAndUser) {
  const std::string path = ShortSocketPath("serve.sock");
  FakeTcpServer server(OnSocket(path));
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.address(), "unix:" + path);
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(ModeOf(path), 0600);

  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("Hello, world", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
  absl::StatusOr<Event> got =
      server.log().WaitForMessage([](const Event&) { return true; }, kTimeout);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, "Hello, world");
  const std::string peer =
      absl::StrCat("unix pid=", getpid(), " uid=", getuid());
  EXPECT_EQ(got->peer, peer);
  const std::vector<Event> accepted =
      server.log().EventsOfType(EventType::kAccepted);
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].peer, peer);

  server.Stop();
  EXPECT_EQ(ModeOf(path), -1) << "the socket file outlived Stop()";
}

TEST(UnixSocketTest, TheModeIsTheOneAskedFor) {
  const std::string path = ShortSocketPath("mode.sock");
  ServerOptions options = OnSocket(path);
  options.unix_socket_mode = 0660;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(ModeOf(path), 0660);
}

TEST(UnixSocketTest, StopAcceptingRemovesTheFileAndResumeBindsItAgain) {
  const std::string path = ShortSocketPath("resume.sock");
  FakeTcpServer server(OnSocket(path));
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(server.StopAccepting().ok());
  EXPECT_EQ(ModeOf(path), -1);
  absl::StatusOr<TcpClient> refused =
      TcpClient::Connect(server.address(), kTimeout);
  EXPECT_FALSE(refused.ok());
  ASSERT_TRUE(server.ResumeAccepting().ok());
  EXPECT_EQ(ModeOf(path), 0600);
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("again", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(UnixSocketTest, AStaleFileIsReplacedALiveServerIsAnError) {
  const std::string path = ShortSocketPath("taken.sock");
  {
    FakeTcpServer first(OnSocket(path));
    ASSERT_TRUE(first.Start().ok());
    FakeTcpServer second(OnSocket(path));
    const absl::Status s = second.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.message(), absl::StrCat("Start: unix_socket bind unix:", path,
                                        ": the path is in use by a running "
                                        "server"));
    // The first one's file and service are untouched.
    TcpClient client = MustConnect(first);
    ASSERT_TRUE(client.SendAll("still here", kTimeout).ok());
    EXPECT_EQ(ReadN(client, 8), "Received");
  }
  // A file left behind by a server that died (bound, never removed).
  {
    absl::StatusOr<BoundListener> dead = ListenUnix("unix:" + path, 1, 0600);
    ASSERT_TRUE(dead.ok()) << dead.status();
  }
  ASSERT_EQ(ModeOf(path), 0600);
  FakeTcpServer third(OnSocket(path));
  ASSERT_TRUE(third.Start().ok());
  TcpClient client = MustConnect(third);
  ASSERT_TRUE(client.SendAll("replaced", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(UnixSocketTest, AbstractNamesWorkWithoutAFile) {
  ServerOptions options =
      OnSocket(absl::StrCat("@fake_tcp_unix_socket_test_", getpid()));
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.address(), "unix:" + options.unix_socket);
  TcpClient client = MustConnect(server);
  ASSERT_TRUE(client.SendAll("abstract", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 8), "Received");
}

TEST(UnixSocketTest, BadPathsAndModesAreClearErrors) {
  const std::string too_long = "/tmp/" + std::string(120, 'x');
  FakeTcpServer long_path(OnSocket(too_long));
  const absl::Status s = long_path.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            absl::StrCat("Start: unix_socket unix:", too_long,
                         ": the path is 125 bytes; a Unix socket path holds "
                         "at most 107"));

  ServerOptions bad_mode = OnSocket(ShortSocketPath("mode"));
  bad_mode.unix_socket_mode = 01777;
  EXPECT_EQ(FakeTcpServer(bad_mode).Start().message(),
            "Start: unix_socket_mode must be 0000..0777, got 1777");

  const std::string no_dir = ShortSocketPath("no/such/dir.sock");
  const absl::Status missing = FakeTcpServer(OnSocket(no_dir)).Start();
  EXPECT_THAT(missing.message(),
              HasSubstr(absl::StrCat("Start: unix_socket bind unix:", no_dir,
                                     ": No such file or directory")));
}

TEST(UnixSocketTest, ProxiesToAServerOnASocket) {
  const std::string path = ShortSocketPath("upstream.sock");
  ServerOptions upstream_options = OnSocket(path);
  upstream_options.reply = "FROM UPSTREAM";
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  ServerOptions proxy_options = AnyPort();
  proxy_options.proxy = ProxyOptions{};
  proxy_options.proxy->upstream = "unix:" + path;
  FakeTcpServer proxy(proxy_options);
  ASSERT_TRUE(proxy.Start().ok());

  TcpClient client = MustConnect(proxy);
  ASSERT_TRUE(client.SendAll("through", kTimeout).ok());
  EXPECT_EQ(ReadN(client, 13), "FROM UPSTREAM");
  absl::StatusOr<Event> got = upstream.log().WaitForMessage(
      [](const Event&) { return true; }, kTimeout);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, "through");

  ServerOptions loop = OnSocket(ShortSocketPath("self.sock"));
  loop.proxy = ProxyOptions{};
  loop.proxy->upstream = "unix:" + loop.unix_socket;
  EXPECT_THAT(FakeTcpServer(loop).Start().message(),
              HasSubstr("is this server's own socket"));
}

}  // namespace
}  // namespace fake_tcp
