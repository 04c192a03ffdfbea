#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "server/script.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace s = ::fake_tcp::script;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::shared_ptr<ScriptedResponder> Make(const Script& script) {
  return ::fake_tcp::testing::MakeResponder(script);
}

constexpr char kKvScript[] = R"pb(
  framing { delimiter: "\n" }
  rules {
    name: "set"
    when { regex: "SET (\\w+) (\\w+)" }
    responses { bytes: "OK\n" }
  }
  rules {
    name: "get"
    when { regex: "GET (\\w+)" }
    responses { rewrite: "VALUE \\1\n" }
  }
  fallback { reply: "ERR unknown command\n" }
)pb";

class ScriptOverSocketsTest : public ::testing::Test {
 protected:
  void Start(const Script& script) {
    responder_ = Make(script);
    ServerOptions options;
    options.port = 0;
    ASSERT_TRUE(responder_->ApplyTo(&options).ok());
    server_ = std::make_unique<FakeTcpServer>(options);
    ASSERT_TRUE(server_->Start().ok());
    absl::StatusOr<TcpClient> c =
        TcpClient::Connect(server_->address(), kTimeout);
    ASSERT_TRUE(c.ok()) << c.status();
    client_.emplace(*std::move(c));
  }

  std::string Line(const std::string& request) {
    if (!client_->SendAll(request, kTimeout).ok()) return "<send failed>";
    absl::StatusOr<std::string> r = client_->ReceiveUntil("\n", kTimeout);
    return r.ok() ? *r : r.status().ToString();
  }

  std::shared_ptr<ScriptedResponder> responder_;
  std::unique_ptr<FakeTcpServer> server_;
  std::optional<TcpClient> client_;
};

TEST_F(ScriptOverSocketsTest, LineProtocolAndTheLogSaysWhichRuleAnswered) {
  absl::StatusOr<Script> script = ParseScript(kKvScript, ScriptFormat::kText);
  ASSERT_TRUE(script.ok()) << script.status();
  Start(*script);
  EXPECT_EQ(Line("SET k v\n"), "OK\n");
  EXPECT_EQ(Line("GET k\n"), "VALUE k\n");
  EXPECT_EQ(Line("DEL k\n"), "ERR unknown command\n");
  const std::vector<Event> received =
      server_->log().EventsOfType(EventType::kReceived);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].detail, "rule \"set\"");
  EXPECT_EQ(received[1].detail, "rule \"get\"");
  EXPECT_THAT(received[2].detail, HasSubstr("no rule matched; nearest rule"));
  EXPECT_THAT(responder_->UnusedRules(), IsEmpty());
}

TEST_F(ScriptOverSocketsTest, SequencesLimitsAndCallbacksAsTheClientSeesThem) {
  Script script;
  script.mutable_framing()->set_delimiter("\n");
  Rule cycle = s::When(s::Equals("next"),
                       {s::Bytes("one\n"), s::Bytes("two\n")}, "cycle");
  cycle.set_after_last(Rule::CYCLE);
  *script.add_rules() = cycle;
  Rule once = s::When(s::Equals("once"), s::Bytes("first time\n"), "once");
  once.set_max_matches(1);
  *script.add_rules() = once;
  *script.add_rules() =
      s::When(s::Regex("ADD (\\d+) (\\d+)"), s::Callback("add"), "add");
  *script.add_rules() = s::When(s::Equals("quiet"), s::NoReply(), "quiet");
  script.mutable_fallback()->set_reply("fallback\n");
  Start(script);
  responder_->SetCallback(
      "add",
      [](const ReceivedMessage&,
         const std::vector<std::string>& g) -> std::optional<Reply> {
        return Reply(absl::StrCat(std::stoi(g[1]) + std::stoi(g[2]), "\n"));
      });
  EXPECT_EQ(Line("next\n"), "one\n");
  EXPECT_EQ(Line("next\n"), "two\n");
  EXPECT_EQ(Line("next\n"), "one\n");
  EXPECT_EQ(Line("once\n"), "first time\n");
  EXPECT_EQ(Line("once\n"), "fallback\n");
  EXPECT_EQ(Line("ADD 40 2\n"), "42\n");
  // No reply to "quiet": the next line's answer is the next thing read.
  EXPECT_EQ(Line("quiet\nnext\n"), "two\n");
  const std::vector<Event> received =
      server_->log().EventsOfType(EventType::kReceived);
  ASSERT_EQ(received.size(), 8u);
  EXPECT_EQ(received[1].detail, "rule \"cycle\" response 2/2");
  EXPECT_THAT(received[4].detail, HasSubstr("used up: max_matches 1 reached"));
  EXPECT_EQ(received[5].detail, "rule \"add\"");
  EXPECT_EQ(received[6].detail, "rule \"quiet\"");
}

TEST_F(ScriptOverSocketsTest, ReplaceWhileServing) {
  Script a;
  a.mutable_framing()->set_delimiter("\n");
  *a.add_rules() = s::When(s::Any(), s::Bytes("a\n"));
  Start(a);
  EXPECT_EQ(Line("x\n"), "a\n");
  Script b;
  *b.add_rules() = s::When(s::Any(), s::Bytes("b\n"));
  ASSERT_TRUE(responder_->Replace(b).ok());
  EXPECT_EQ(Line("x\n"), "b\n");
}

TEST_F(ScriptOverSocketsTest, ScriptedResetAndGreeting) {
  absl::StatusOr<Script> script = ParseScript(R"pb(
                                                framing { delimiter: "\n" }
                                                greeting { bytes: "HELLO\n" }
                                                rules {
                                                  when { equals: "boom" }
                                                  fault { action: RESET }
                                                }
                                              )pb",
                                              ScriptFormat::kText);
  ASSERT_TRUE(script.ok()) << script.status();
  Start(*script);
  EXPECT_EQ(*client_->ReceiveUntil("\n", kTimeout), "HELLO\n");
  ASSERT_TRUE(client_->SendAll("boom\n", kTimeout).ok());
  EXPECT_EQ(client_->ReceiveExactly(1, kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ScriptOverSocketsTest, GarbageThenClose) {
  absl::StatusOr<Script> script =
      ParseScript(R"pb(
                    framing { delimiter: "\n" }
                    seed: 7
                    rules {
                      when { any: true }
                      fault { action: GARBAGE_THEN_CLOSE garbage_bytes: 32 }
                    }
                  )pb",
                  ScriptFormat::kText);
  ASSERT_TRUE(script.ok()) << script.status();
  Start(*script);
  ASSERT_TRUE(client_->SendAll("x\n", kTimeout).ok());
  absl::StatusOr<std::string> garbage = client_->ReceiveExactly(32, kTimeout);
  ASSERT_TRUE(garbage.ok()) << garbage.status();
  EXPECT_TRUE(client_->ReceiveEof(kTimeout).ok());
}

TEST_F(ScriptOverSocketsTest, ServerFaultLatency) {
  absl::StatusOr<Script> script =
      ParseScript(R"pb(
                    framing { delimiter: "\n" }
                    faults { latency { nanos: 200000000 } }
                    rules {
                      when { any: true }
                      responses { bytes: "late\n" }
                    }
                  )pb",
                  ScriptFormat::kText);
  ASSERT_TRUE(script.ok()) << script.status();
  Start(*script);
  const absl::Time start = absl::Now();
  EXPECT_EQ(Line("x\n"), "late\n");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
}

// Which of each connection's messages got the fault ('1') or not ('0'), when
// kConnections clients (opened one after another, so connection ids are
// 1..kConnections in order) each send kMessages, all at once or one client
// after another in reverse order.
std::map<uint64_t, std::string> FaultPatterns(bool concurrent) {
  constexpr int kConnections = 6;
  constexpr int kMessages = 40;
  Script script;
  script.set_seed(7);
  script.mutable_framing()->set_delimiter("\n");
  Rule rule = s::When(s::Any(), s::Bytes("r\n"));
  rule.mutable_fault()->set_probability(0.5);
  rule.mutable_fault()->set_send_only(1);  // "r": the client sees the fault
  *script.add_rules() = rule;
  std::shared_ptr<ScriptedResponder> responder = Make(script);
  ServerOptions options;
  options.port = 0;
  EXPECT_TRUE(responder->ApplyTo(&options).ok());
  FakeTcpServer server(options);
  EXPECT_TRUE(server.Start().ok());
  std::vector<TcpClient> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(::fake_tcp::testing::MustConnect(server));
    EXPECT_TRUE(server.log().WaitForConnections(i + 1, kTimeout).ok());
  }
  auto talk = [&](TcpClient& client) {
    for (int m = 0; m < kMessages; ++m) {
      ASSERT_TRUE(client.SendAll("m\n", kTimeout).ok());
      // One byte either way: "r" (the fault cut it) or "r" then "\n".
      ASSERT_TRUE(client.ReceiveExactly(1, kTimeout).ok());
    }
  };
  if (concurrent) {
    std::vector<std::thread> threads;
    for (TcpClient& client : clients) {
      threads.emplace_back([&talk, &client] { talk(client); });
    }
    for (std::thread& t : threads) t.join();
  } else {
    for (int i = kConnections - 1; i >= 0; --i) talk(clients[i]);
  }
  EXPECT_TRUE(
      server.log().WaitForMessages(kConnections * kMessages, kTimeout).ok());
  std::map<uint64_t, std::string> patterns;
  for (const Event& e : server.log().EventsOfType(EventType::kReceived)) {
    EXPECT_THAT(e.detail, HasSubstr("seed 7"));
    patterns[e.connection_id] +=
        absl::StrContains(e.detail, "fault skipped") ? '0' : '1';
  }
  return patterns;
}

TEST(ScriptReplayTest, SameSeedSameFaultsOnEachConnectionWhateverTheOrder) {
  const std::map<uint64_t, std::string> concurrent = FaultPatterns(true);
  const std::map<uint64_t, std::string> sequential = FaultPatterns(false);
  ASSERT_EQ(concurrent.size(), 6u);
  EXPECT_EQ(concurrent, sequential);
  // Different connections draw differently; about half of each is faulted.
  EXPECT_NE(concurrent.at(1), concurrent.at(2));
  for (const auto& [id, pattern] : concurrent) {
    const auto faulted = std::count(pattern.begin(), pattern.end(), '1');
    EXPECT_GT(faulted, 5) << id << " " << pattern;
    EXPECT_LT(faulted, 35) << id << " " << pattern;
  }
}

}  // namespace
}  // namespace fake_tcp
