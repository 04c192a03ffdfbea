// Unix-domain sockets in server/base/net: addresses, listening (the socket
// file's mode, a stale file, a live server, a path that is not a socket) and
// connecting.

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/net.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

// A fresh path for a socket file. Not under TEST_TMPDIR: inside Bazel's
// sandbox that path alone is often longer than sun_path's 107 bytes.
std::string SocketPath(const std::string& name) {
  static const std::string* const dir = [] {
    char templ[] = "/tmp/fake_tcp_net.XXXXXX";
    auto* made = new std::string(mkdtemp(templ) != nullptr ? templ : "/tmp");
    if (*made != "/tmp") {
      atexit([] { std::filesystem::remove_all(*dir); });
    }
    return made;
  }();
  return absl::StrCat(*dir, "/", name);
}

int ModeOf(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777)
                                       : -1;
}

TEST(NetUnixTest, ParsesPathsAndAbstractNames) {
  EXPECT_TRUE(IsUnixAddress("unix:/run/x.sock"));
  EXPECT_FALSE(IsUnixAddress("127.0.0.1:9500"));
  absl::StatusOr<SocketAddress> file = ParseUnixAddress("unix:/run/x.sock");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(FormatSockaddr(file->addr), "unix:/run/x.sock");
  absl::StatusOr<SocketAddress> abstract = ParseUnixAddress("unix:@fake");
  ASSERT_TRUE(abstract.ok()) << abstract.status();
  EXPECT_EQ(FormatSockaddr(abstract->addr), "unix:@fake");
  sockaddr_storage unnamed{};
  unnamed.ss_family = AF_UNIX;
  EXPECT_EQ(FormatSockaddr(unnamed), "unix:");
}

TEST(NetUnixTest, RejectsEmptyTooLongAndNonUnixAddresses) {
  EXPECT_EQ(ParseUnixAddress("unix:").status().message(),
            "unix:: the socket path is empty");
  EXPECT_EQ(ParseUnixAddress("unix:@").status().message(),
            "unix:@: the socket path is empty");
  EXPECT_EQ(ParseUnixAddress("/run/x.sock").status().message(),
            "/run/x.sock: expected unix:PATH or unix:@NAME");
  const std::string fits(sizeof(sockaddr_un::sun_path) - 1, 'x');
  EXPECT_TRUE(ParseUnixAddress("unix:" + fits).ok());
  const absl::Status too_long = ParseUnixAddress("unix:" + fits + "x").status();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_long.message(),
              HasSubstr(": the path is 108 bytes; a Unix socket path holds "
                        "at most 107"));
}

TEST(NetUnixTest, ListensWithTheModeAndAcceptsAConnect) {
  const std::string path = SocketPath("listen.sock");
  absl::StatusOr<BoundListener> l = ListenUnix("unix:" + path, 8, 0600);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->address, "unix:" + path);
  EXPECT_EQ(l->port, 0);
  EXPECT_EQ(ModeOf(path), 0600);
  absl::StatusOr<SocketAddress> to = ParseUnixAddress(l->address);
  ASSERT_TRUE(to.ok()) << to.status();
  absl::StatusOr<UniqueFd> fd = StartConnect(*to);
  ASSERT_TRUE(fd.ok()) << fd.status();
  pollfd p{l->fd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1);
  UniqueFd accepted(accept(l->fd.get(), nullptr, nullptr));
  EXPECT_TRUE(accepted.ok());
  RemoveUnixSocketFile(l->address);
  EXPECT_EQ(ModeOf(path), -1);
}

TEST(NetUnixTest, ReplacesAStaleFileAndRefusesALiveOne) {
  const std::string path = SocketPath("stale.sock");
  {
    // Bound and closed without removing its file: a server that died.
    absl::StatusOr<BoundListener> dead = ListenUnix("unix:" + path, 8, 0600);
    ASSERT_TRUE(dead.ok()) << dead.status();
  }
  ASSERT_EQ(ModeOf(path), 0600);
  absl::StatusOr<BoundListener> live = ListenUnix("unix:" + path, 8, 0660);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(ModeOf(path), 0660);

  const absl::Status in_use = ListenUnix("unix:" + path, 8, 0600).status();
  EXPECT_EQ(in_use.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(in_use.message(), absl::StrCat("bind unix:", path,
                                           ": the path is in use by a "
                                           "running server"));
  EXPECT_EQ(ModeOf(path), 0660);  // the live server's file is left alone
  RemoveUnixSocketFile(live->address);
}

TEST(NetUnixTest, NeverRemovesAFileThatIsNotASocket) {
  const std::string path = SocketPath("plain.txt");
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  close(fd);
  const absl::Status s = ListenUnix("unix:" + path, 8, 0600).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), absl::StrCat("bind unix:", path,
                                      ": the path exists and is not a socket"));
  RemoveUnixSocketFile("unix:" + path);
  EXPECT_EQ(ModeOf(path), 0644);
}

TEST(NetUnixTest, AbstractNamesHaveNoFile) {
  const std::string name = absl::StrCat("fake_tcp_net_test_", getpid());
  absl::StatusOr<BoundListener> l = ListenUnix("unix:@" + name, 8, 0600);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(ModeOf(name), -1);
  const absl::Status again = ListenUnix("unix:@" + name, 8, 0600).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kUnavailable) << again;
  EXPECT_THAT(again.message(), HasSubstr("Address already in use"));
}

}  // namespace
}  // namespace fake_tcp
