#include "server/base/inotify.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"

namespace fake_tcp {
namespace {

bool Readable(int fd) {
  pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

std::string Dir() {
  std::string dir = std::string(getenv("TEST_TMPDIR")) + "/inotify.XXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

TEST(PooledInotifyTest, SeesAChangeInAWatchedDirectory) {
  const std::string dir = Dir();
  PooledInotify notify;
  ASSERT_TRUE(notify.ok());
  ASSERT_GE(notify.AddWatch(dir, IN_CREATE), 0);
  EXPECT_FALSE(Readable(notify.fd()));
  ASSERT_TRUE(WriteFileAtomically(dir + "/a", "x").ok());
  EXPECT_TRUE(Readable(notify.fd()));
  notify.Drain();
  EXPECT_FALSE(Readable(notify.fd()));
}

TEST(PooledInotifyTest, AnInstanceGivenBackIsReusedWithoutItsWatchOrEvents) {
  const std::string dir = Dir();
  int first = -1;
  {
    PooledInotify notify;
    ASSERT_TRUE(notify.ok());
    first = notify.fd();
    ASSERT_GE(notify.AddWatch(dir, IN_CREATE), 0);
    ASSERT_TRUE(WriteFileAtomically(dir + "/a", "x").ok());
    ASSERT_TRUE(Readable(notify.fd()));  // left queued on purpose
  }
  PooledInotify again;
  EXPECT_EQ(again.fd(), first);
  EXPECT_FALSE(Readable(again.fd())) << "the queue was not drained";
  ASSERT_TRUE(WriteFileAtomically(dir + "/b", "x").ok());
  EXPECT_FALSE(Readable(again.fd())) << "the old watch was not removed";
}

TEST(PooledInotifyTest, ThePoolKeepsAtMostMaxIdleAndClosesTheRest) {
  const size_t n = PooledInotify::kMaxIdle + 4;
  std::vector<int> fds;
  {
    std::vector<std::unique_ptr<PooledInotify>> all;
    for (size_t i = 0; i < n; ++i) {
      all.push_back(std::make_unique<PooledInotify>());
      ASSERT_TRUE(all.back()->ok());
      fds.push_back(all.back()->fd());
    }
  }  // given back in order: the last 4 find the pool full
  size_t open = 0;
  for (int fd : fds) open += fcntl(fd, F_GETFD) != -1 ? 1 : 0;
  EXPECT_EQ(open, PooledInotify::kMaxIdle);
  std::set<int> reused;
  std::vector<std::unique_ptr<PooledInotify>> again;
  for (size_t i = 0; i < PooledInotify::kMaxIdle; ++i) {
    again.push_back(std::make_unique<PooledInotify>());
    reused.insert(again.back()->fd());
  }
  EXPECT_EQ(reused.size(), PooledInotify::kMaxIdle);
  for (int fd : reused) {
    EXPECT_NE(std::find(fds.begin(), fds.end(), fd), fds.end());
  }
}

TEST(PooledInotifyTest, WaitsOnReusedInstancesStillSeeTheirFile) {
  const std::string dir = Dir();
  for (int i = 0; i < 3 * static_cast<int>(PooledInotify::kMaxIdle); ++i) {
    const std::string path = dir + "/f" + std::to_string(i);
    std::thread writer(
        [&path] { ASSERT_TRUE(WriteFileAtomically(path, "ready").ok()); });
    absl::StatusOr<std::string> got = WaitForFile(
        path, [](const std::string& c) { return !c.empty(); },
        absl::Seconds(30));
    writer.join();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, "ready");
  }
}

}  // namespace
}  // namespace fake_tcp
