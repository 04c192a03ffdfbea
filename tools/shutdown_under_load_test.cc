// SIGTERM while many clients send: every message the transcript holds was
// answered before its connection closed, each connection ends with a FIN (not a
// reset), and the transcript is complete. Proved by counting, client by client.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/net.h"
#include "server/testing/test_util.h"
#include "tools/tool_test.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = kToolTimeout;
constexpr int kClients = 16;
constexpr int kMaxMessages = 2000;  // per client; SIGTERM comes well before
// Messages a client sends before it waits for their replies: at most this many
// replies are pending (each one reply latency after the one before it) when
// SIGTERM comes, well within the drain time.
constexpr int kBurst = 5;
// SIGTERM once this many replies came back in all: the clients are busy.
constexpr int kRepliesBeforeSigterm = 400;

struct ClientRecord {
  std::string peer;  // as the transcript names it
  absl::Mutex mu;
  int replies ABSL_GUARDED_BY(mu) = 0;  // "OK\n" read
  bool ended ABSL_GUARDED_BY(mu) = false;
  bool clean_end = false;  // the stream ended with a FIN
  std::string end;         // what ended it otherwise
};

// Replies in all, and the moment to send SIGTERM.
struct Progress {
  std::atomic<int> replies{0};
  absl::Notification busy;
};

// Sends "m\n" in bursts of kBurst, each once the last is answered, until
// kMaxMessages or the end of the stream, reading the replies on another thread.
// A plain socket: one thread sends while the other reads.
void RunClient(const std::string& address, Progress* progress,
               ClientRecord* record) {
  absl::StatusOr<HostPort> hp = ParseHostPort(address);
  if (!hp.ok()) {
    record->end = std::string(hp.status().message());
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(hp->port));
  inet_pton(AF_INET, hp->host.c_str(), &addr.sin_addr);
  if (fd < 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    record->end = absl::StrCat("connect: ", strerror(errno));
    if (fd >= 0) close(fd);
    return;
  }
  sockaddr_storage local;
  socklen_t len = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  record->peer = FormatSockaddr(local);
  std::thread reader([fd, record, progress] {
    std::string buffered;
    char chunk[4096];
    while (true) {
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        record->clean_end = n == 0;
        if (n < 0) record->end = strerror(errno);
        absl::MutexLock lock(&record->mu);
        record->ended = true;
        return;
      }
      buffered.append(chunk, static_cast<size_t>(n));
      size_t at;
      while ((at = buffered.find("OK\n")) != std::string::npos) {
        buffered.erase(0, at + 3);
        absl::MutexLock lock(&record->mu);
        ++record->replies;
        if (progress->replies.fetch_add(1) + 1 == kRepliesBeforeSigterm) {
          progress->busy.Notify();
        }
      }
    }
  });
  for (int sent = 0; sent < kMaxMessages;) {
    // A send into a connection the server closed fails: the end of this client.
    int i = 0;
    for (; i < kBurst && send(fd, "m\n", 2, MSG_NOSIGNAL) == 2; ++i) {
    }
    sent += i;
    struct Answered {
      const int* replies;
      const bool* ended;
      int sent;
      bool operator()() const { return *ended || *replies >= sent; }
    };
    absl::MutexLock lock(&record->mu);
    Answered answered_all{&record->replies, &record->ended, sent};
    const bool answered = record->mu.AwaitWithTimeout(
        absl::Condition(&answered_all, &Answered::operator()), kTimeout);
    if (i < kBurst || !answered || record->ended) break;
  }
  reader.join();
  close(fd);
}

TEST_F(ToolTest, SigtermUnderLoadAnswersEveryLoggedMessageBeforeClosing) {
  const std::string transcript = dir_ + "/transcript.txt";
  // A reply latency keeps replies pending when SIGTERM comes.
  StartServer({"--framing=line", "--reply=OK\\n", "--reply_latency=20ms",
               "--quiet", "--transcript=" + transcript});
  Progress progress;
  std::vector<ClientRecord> records(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(RunClient, address_, &progress, &records[i]);
  }
  ASSERT_TRUE(progress.busy.WaitForNotificationWithTimeout(kTimeout));
  server_->Signal(SIGTERM);
  for (std::thread& t : clients) t.join();
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->Stderr();

  const std::string text = testing::ReadFile(transcript);
  int received_in_all = 0;
  for (ClientRecord& r : records) {
    absl::MutexLock lock(&r.mu);
    ASSERT_FALSE(r.peer.empty()) << r.end;
    int logged = 0;
    bool closed_clean = false;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!absl::StrContains(line, absl::StrCat(" ", r.peer, " "))) continue;
      if (absl::StrContains(line, " received ")) ++logged;
      if (absl::StrContains(line, "server stopped")) {
        closed_clean = !absl::StrContains(line, "unsent");
      }
    }
    received_in_all += logged;
    EXPECT_EQ(r.replies, logged)
        << r.peer << ": every message in the transcript is answered";
    EXPECT_TRUE(r.clean_end) << r.peer << " ended with: " << r.end;
    EXPECT_TRUE(closed_clean) << r.peer << ": closed by the server, all sent";
  }
  EXPECT_GT(received_in_all, 0);
  EXPECT_THAT(text, HasSubstr(" 0 log entries dropped"));  // complete
}

}  // namespace
}  // namespace fake_tcp
