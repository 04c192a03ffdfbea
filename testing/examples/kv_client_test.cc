// Tests of an example client under test (kv::KvClient) against the fake: happy
// path, ERR replies, timeout and retry against a stalled or resetting server,
// reconnect after the server drops connections.

#include "testing/examples/kv_client.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_tcp_server.h"

namespace {

using ::fake_tcp::Reply;
using ::fake_tcp::testing::ConnectionsAccepted;
using ::fake_tcp::testing::HasSent;
using ::fake_tcp::testing::ReceivedMessagesAre;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The fake plays the key-value service: a map behind the line protocol.
class KvClientTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    // 127.0.0.1:9500: the client's default.
    fake_tcp::testing::FixtureOptions o;
    o.server.framing = fake_tcp::Framing::Delimiter("\n");
    o.server.responder = [this](const fake_tcp::ReceivedMessage& m) {
      return Serve(m);
    };
    return o;
  }

  // The service; tests add faults by setting `fault_`.
  std::optional<Reply> Serve(const fake_tcp::ReceivedMessage& m) const {
    absl::MutexLock lock(&mu_);
    if (fault_) {
      if (std::optional<Reply> r = fault_(m); r.has_value()) return r;
    }
    const std::vector<std::string> words = absl::StrSplit(m.bytes, ' ');
    if (words.size() == 3 && words[0] == "SET") {
      data_[words[1]] = words[2];
      return Reply("OK\n");
    }
    if (words.size() == 2 && words[0] == "GET") {
      auto it = data_.find(words[1]);
      if (it == data_.end()) return Reply("NOT_FOUND\n");
      return Reply(absl::StrCat("VALUE ", it->second, "\n"));
    }
    return Reply("ERR unknown command\n");
  }

  void SetFault(
      std::function<std::optional<Reply>(const fake_tcp::ReceivedMessage&)>
          fault) {
    absl::MutexLock lock(&mu_);
    fault_ = std::move(fault);
  }

  kv::KvClient Client(absl::Duration timeout = absl::Seconds(5)) {
    kv::KvClientOptions options;
    options.timeout = timeout;
    return kv::KvClient(options);
  }

  mutable absl::Mutex mu_;
  mutable std::map<std::string, std::string> data_ ABSL_GUARDED_BY(mu_);
  std::function<std::optional<Reply>(const fake_tcp::ReceivedMessage&)> fault_
      ABSL_GUARDED_BY(mu_);
};

TEST_F(KvClientTest, SetThenGet) {
  kv::KvClient client = Client();
  ASSERT_TRUE(client.Set("color", "blue").ok());
  absl::StatusOr<std::string> value = client.Get("color");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "blue");
  EXPECT_EQ(client.Get("size").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("SET color blue",
                                                     "GET color", "GET size")));
  EXPECT_THAT(log(), ConnectionsAccepted(1));  // one connection for all calls
}

TEST_F(KvClientTest, ErrReplyIsAnErrorAndNotRetried) {
  SetFault([](const fake_tcp::ReceivedMessage& m) -> std::optional<Reply> {
    if (m.bytes == "GET secret") return Reply("ERR permission denied\n");
    return std::nullopt;
  });
  kv::KvClient client = Client();
  const absl::StatusOr<std::string> value = client.Get("secret");
  EXPECT_EQ(value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(value.status().message()),
              HasSubstr("permission denied"));
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("GET secret")));
}

TEST_F(KvClientTest, TimesOutOnAStalledServerAndRetriesOnANewConnection) {
  // The first connection stalls: it reads, and never answers.
  SetFault([](const fake_tcp::ReceivedMessage& m) -> std::optional<Reply> {
    if (m.connection_id != 1) return std::nullopt;
    Reply stall;
    stall.then = Reply::Then::kStall;
    return stall;
  });
  kv::KvClient client = Client(absl::Seconds(1));
  ASSERT_TRUE(client.Set("k", "v").ok());
  EXPECT_EQ(client.connections(), 2);
  ASSERT_TRUE(WaitForConnections(2));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("SET k v", "SET k v")));
  EXPECT_THAT(log(), HasSent("OK\n"));
}

TEST_F(KvClientTest, RetriesAfterAReset) {
  SetFault([](const fake_tcp::ReceivedMessage& m) -> std::optional<Reply> {
    if (m.connection_id != 1) return std::nullopt;
    Reply reset;
    reset.then = Reply::Then::kReset;
    return reset;
  });
  kv::KvClient client = Client();
  ASSERT_TRUE(client.Set("k", "v").ok());
  absl::StatusOr<std::string> value = client.Get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v");
  EXPECT_EQ(client.connections(), 2);
}

TEST_F(KvClientTest, GivesUpAfterEveryAttemptTimesOut) {
  SetFault([](const fake_tcp::ReceivedMessage&) -> std::optional<Reply> {
    Reply slow("OK\n");
    slow.delay = absl::Seconds(30);  // far past the client's timeout
    return slow;
  });
  kv::KvClient client = Client(absl::Milliseconds(200));
  const absl::Status s = client.Set("k", "v");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(s.message()), HasSubstr("3 attempts failed"));
  ASSERT_TRUE(WaitForMessages(3));
  EXPECT_THAT(log(), ConnectionsAccepted(3));
}

TEST_F(KvClientTest, ReconnectsAfterTheServerDropsConnections) {
  kv::KvClient client = Client();
  ASSERT_TRUE(client.Set("k", "v1").ok());
  uint64_t first = 0;
  ASSERT_TRUE(WaitForNextConnection(&first));
  absl::StatusOr<int> dropped = server()->DropConnections();
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1);
  ASSERT_TRUE(WaitForConnectionClosed(first));
  absl::StatusOr<std::string> value = client.Get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "v1");
  EXPECT_EQ(client.connections(), 2);
}

}  // namespace
