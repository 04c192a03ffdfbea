// Pending control waits over real sockets: they hold no thread (many pend at
// once, the process's thread count stays put), and one logged message answers
// every wait and log read it meets, from the evhttp thread.

#include <dirent.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control_server.h"
#include "server/fake_tcp_server.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);
constexpr int kWaits = 40;

int Threads() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

// Sends one raw HTTP request on a connection of its own; the answer is read
// later, so the request stays pending on the server meanwhile.
TcpClient Ask(const ControlServer& control, const std::string& method,
              const std::string& path, const std::string& body) {
  absl::StatusOr<TcpClient> c =
      TcpClient::Connect(control.url().substr(7), kTimeout);
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->SendAll(absl::StrCat(method, " ", path,
                                      " HTTP/1.1\r\nHost: x\r\n"
                                      "Authorization: Bearer ",
                                      control.token(), "\r\nContent-Length: ",
                                      body.size(), "\r\n\r\n", body),
                         kTimeout)
                  .ok());
  return *std::move(c);
}

// The status line, headers and body of one HTTP answer on `c`.
std::string ReadAnswer(TcpClient& c) {
  absl::StatusOr<std::string> head = c.ReceiveUntil("\r\n\r\n", kTimeout);
  if (!head.ok()) return head.status().ToString();
  size_t length = 0;
  const size_t at = head->find("Content-Length: ");
  if (at == std::string::npos ||
      !absl::SimpleAtoi(head->substr(at + 16, head->find('\r', at) - at - 16),
                        &length)) {
    return *head;
  }
  absl::StatusOr<std::string> body = c.ReceiveExactly(length, kTimeout);
  return *head + (body.ok() ? *body : body.status().ToString());
}

TEST(ControlWaitsTest, ManyPendingWaitsHoldNoThreadAndOneMessageAnswersThem) {
  ServerOptions server_options;
  server_options.port = 0;
  FakeTcpServer server(server_options);
  ASSERT_TRUE(server.Start().ok());
  ControlServer control(&server);
  ASSERT_TRUE(control.Start().ok());
  const int threads_before = Threads();
  ASSERT_GT(threads_before, 0);

  std::vector<TcpClient> waits;
  std::vector<TcpClient> reads;
  for (int i = 0; i < kWaits / 2; ++i) {
    waits.push_back(Ask(control, "POST", "/v1/wait",
                        R"({"matching": {"regex": "PING"},
                            "timeout": "30s"})"));
    reads.push_back(Ask(control, "GET", "/v1/log?wait=30s&kind=received", ""));
  }
  ASSERT_TRUE(control.AwaitPendingWaits(kWaits, kTimeout));
  // One thread for evhttp, one for the I/O loop, whatever the number pending.
  EXPECT_EQ(Threads(), threads_before);

  // Entries that meet none of them leave them pending.
  absl::StatusOr<TcpClient> tcp =
      TcpClient::Connect(server.address(), kTimeout);
  ASSERT_TRUE(tcp.ok()) << tcp.status();
  ASSERT_TRUE(tcp->SendAll("NOPE", kTimeout).ok());
  ASSERT_TRUE(tcp->ReceiveExactly(8, kTimeout).ok());
  // The log reads were met by "NOPE" (any received entry); the waits were not.
  ASSERT_TRUE(control.AwaitPendingWaits(kWaits / 2, kTimeout));
  for (TcpClient& read : reads) {
    const std::string answer = ReadAnswer(read);
    EXPECT_THAT(answer, HasSubstr("200 OK"));
    EXPECT_THAT(answer, HasSubstr("NOPE"));
  }

  ASSERT_TRUE(tcp->SendAll("PING", kTimeout).ok());
  for (TcpClient& wait : waits) {
    const std::string answer = ReadAnswer(wait);
    EXPECT_THAT(answer, HasSubstr("200 OK"));
    EXPECT_THAT(answer, HasSubstr("\"satisfied\":true"));
  }
  EXPECT_TRUE(control.AwaitPendingWaits(0, kTimeout));
}

}  // namespace
}  // namespace fake_tcp
