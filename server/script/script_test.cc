#include "server/script.h"

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace s = ::fake_tcp::script;
using ::fake_tcp::testing::Ask;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::shared_ptr<ScriptedResponder> Make(const Script& script) {
  return ::fake_tcp::testing::MakeResponder(script);
}

Script OneRule(Matcher m) {
  Script script;
  *script.add_rules() = s::When(std::move(m), s::Bytes("yes"));
  script.mutable_fallback()->set_reply("no");
  return script;
}

TEST(ScriptTest, EachMatcher) {
  struct Case {
    Matcher matcher;
    std::vector<std::string> match;
    std::vector<std::string> miss;
  };
  const std::vector<Case> cases = {
      {s::Equals("GET k"), {"GET k"}, {"GET kk", "get k", "GET "}},
      {s::Prefix("SET "), {"SET k v", "SET "}, {"SE", "xSET "}},
      {s::Suffix("\r"), {"a\r", "\r"}, {"\ra"}},
      {s::Contains("err"), {"an error", "err"}, {"ERR", "e rr"}},
      {s::Regex("GET (\\w+)"),
       {"GET k", "GET key_1"},
       {"GET k v", "xGET k", "GET "}},
      {s::Regex("\\x00\\xff.*"),
       {std::string("\0\xff", 2), std::string("\0\xffzz", 4)},
       {std::string("\xff\0", 2)}},
      {s::BytePattern("01 ?? ff"),
       {"\x01\x02\xff", "\x01\xaa\xff"},
       {"\x01\x02\xfe", std::string("\x01\x02\xff\x00", 4)}},
      {s::BytePattern("01 02 *"),
       {"\x01\x02", "\x01\x02zzz"},
       {"\x01", "\x02\x01"}},
      {s::Any(), {"", "anything"}, {}},
      {s::AllOf({s::Prefix("SET "), s::Suffix(" v")}),
       {"SET k v"},
       {"SET k w", "GET k v"}},
      {s::AnyOf({s::Equals("PING"), s::Equals("HELLO")}),
       {"PING", "HELLO"},
       {"PONG"}},
      {s::Not(s::Prefix("GET")), {"SET k", ""}, {"GET k"}},
      {s::IgnoreCase(s::Equals("Get K")), {"GET K", "get k"}, {"get kk"}},
      {s::IgnoreCase(s::Prefix("set")), {"SET k", "Set"}, {"SE"}},
      {s::IgnoreCase(s::Contains("ERR")), {"an error"}, {"e r r"}},
      {s::IgnoreCase(s::Regex("get (\\w+)")), {"GET k", "Get x"}, {"GOT k"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.matcher.ShortDebugString());
    auto r = Make(OneRule(c.matcher));
    ASSERT_NE(r, nullptr);
    for (const std::string& m : c.match) EXPECT_EQ(Ask(*r, m), "yes") << m;
    for (const std::string& m : c.miss) EXPECT_EQ(Ask(*r, m), "no") << m;
  }
}

// The same table over real sockets: each message is sent length-prefixed
// (binary safe), the client sees "yes" or "no", and the log says which rule
// answered.
TEST(ScriptTest, EachMatcherOverRealSockets) {
  const std::vector<
      std::pair<Matcher, std::vector<std::pair<std::string, bool>>>>
      cases = {
          {s::Equals("GET k"), {{"GET k", true}, {"GET kk", false}}},
          {s::Prefix("SET "), {{"SET k v", true}, {"SE", false}}},
          {s::Suffix("\r"), {{"a\r", true}, {"\ra", false}}},
          {s::Contains("err"), {{"an error", true}, {"ERR", false}}},
          {s::Regex("GET (\\w+)"), {{"GET key_1", true}, {"GET k v", false}}},
          {s::BytePattern("01 ?? ff *"),
           {{std::string("\x01\x00\xff\x07", 4), true},
            {std::string("\x01\x00\xfe", 3), false}}},
          {s::Any(), {{"", true}, {"x", true}}},
          {s::AllOf({s::Prefix("SET "), s::Suffix(" v")}),
           {{"SET k v", true}, {"SET k w", false}}},
          {s::AnyOf({s::Equals("PING"), s::Equals("HELLO")}),
           {{"HELLO", true}, {"PONG", false}}},
          {s::Not(s::Prefix("GET")), {{"SET k", true}, {"GET k", false}}},
          {s::IgnoreCase(s::Equals("Get K")),
           {{"gEt k", true}, {"get", false}}},
      };
  for (const auto& [matcher, messages] : cases) {
    SCOPED_TRACE(matcher.ShortDebugString());
    Script script;
    script.mutable_framing()->mutable_length_prefix()->set_header_bytes(2);
    *script.add_rules() = s::When(matcher, s::Bytes("yes\n"), "rule");
    script.mutable_fallback()->set_reply("no\n");
    auto responder = Make(script);
    ServerOptions options;
    options.port = 0;
    ASSERT_TRUE(responder->ApplyTo(&options).ok());
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok());
    absl::StatusOr<TcpClient> client =
        TcpClient::Connect(server.address(), kTimeout);
    ASSERT_TRUE(client.ok());
    for (const auto& [message, match] : messages) {
      ASSERT_TRUE(
          client->SendAll(*EncodeFrame(options.framing, message), kTimeout)
              .ok());
      absl::StatusOr<std::string> reply = client->ReceiveUntil("\n", kTimeout);
      ASSERT_TRUE(reply.ok()) << reply.status();
      EXPECT_EQ(*reply, match ? "yes\n" : "no\n") << FormatBytes(message);
    }
    const std::vector<Event> received =
        server.log().EventsOfType(EventType::kReceived);
    ASSERT_EQ(received.size(), messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      EXPECT_EQ(received[i].bytes, messages[i].first);
      if (messages[i].second) {
        EXPECT_EQ(received[i].detail, "rule \"rule\"");
      } else {
        EXPECT_THAT(received[i].detail, HasSubstr("no rule matched"));
      }
    }
  }
}

TEST(ScriptTest, FirstMatchWinsInOrder) {
  Script script;
  *script.add_rules() = s::When(s::Equals("GET special"), s::Bytes("special"));
  *script.add_rules() = s::When(s::Prefix("GET "), s::Bytes("general"));
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "GET special"), "special");
  EXPECT_EQ(Ask(*r, "GET other"), "general");
  EXPECT_EQ(Ask(*r, "PUT x"), "Received");  // the default fallback
}

// Case-sensitive `equals` rules are looked up by the message's bytes; the
// other rules are still tried in between, in rule order.
TEST(ScriptTest, ExactRulesAndOtherRulesKeepRuleOrder) {
  Script script;
  Rule first_a = s::When(s::Equals("a"), s::Bytes("exact a"));
  first_a.set_max_matches(1);
  *script.add_rules() = first_a;
  *script.add_rules() = s::When(s::Prefix("a"), s::Bytes("prefix a"));
  *script.add_rules() = s::When(s::Equals("a"), s::Bytes("shadowed"));
  *script.add_rules() = s::When(s::Equals("b"), s::Bytes("exact b"));
  Matcher ignoring_case = s::Equals("C");
  ignoring_case.set_ignore_case(true);
  *script.add_rules() = s::When(ignoring_case, s::Bytes("any case c"));
  *script.add_rules() = s::When(s::Equals("c"), s::Bytes("exact c"));
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "a"), "exact a");
  EXPECT_EQ(Ask(*r, "a"), "prefix a");  // the first is used up
  EXPECT_EQ(Ask(*r, "ab"), "prefix a");
  EXPECT_EQ(Ask(*r, "b"), "exact b");
  EXPECT_EQ(Ask(*r, "c"), "any case c");
  EXPECT_EQ(Ask(*r, "d"), "Received");
  EXPECT_THAT(r->UnusedRules(), ElementsAre("rules[2]", "rules[5]"));
}

// 150,000 exact rules: every message finds its own (the index makes this one
// lookup; a miss is compared with the first 1,000 rules for the report).
TEST(ScriptTest, ManyExactRulesEachFindTheirMessage) {
  Script script;
  constexpr int kRules = 150000;
  for (int i = 0; i < kRules; ++i) {
    *script.add_rules() = s::When(s::Equals(absl::StrCat("key", i)),
                                  s::Bytes(absl::StrCat("value", i)));
  }
  auto r = Make(script);
  for (int i : {0, 1, 74999, kRules - 1}) {
    EXPECT_EQ(Ask(*r, absl::StrCat("key", i)), absl::StrCat("value", i));
  }
  EXPECT_EQ(Ask(*r, "nokey"), "Received");
  ASSERT_EQ(r->UnmatchedMessages().size(), 1u);
  EXPECT_FALSE(r->UnmatchedMessages()[0].nearest_rule.empty());
}

TEST(ScriptTest, SequencesRepeatTheLastOrCycle) {
  Script script;
  *script.add_rules() =
      s::When(s::Equals("a"), {s::Bytes("1"), s::Bytes("2")}, "repeat");
  Rule cycle = s::When(s::Equals("b"), {s::Bytes("x"), s::Bytes("y")}, "cycle");
  cycle.set_after_last(Rule::CYCLE);
  *script.add_rules() = cycle;
  auto r = Make(script);
  std::vector<std::string> a, b;
  for (int i = 0; i < 4; ++i) {
    a.push_back(Ask(*r, "a"));
    b.push_back(Ask(*r, "b"));
  }
  EXPECT_THAT(a, ElementsAre("1", "2", "2", "2"));
  EXPECT_THAT(b, ElementsAre("x", "y", "x", "y"));
}

TEST(ScriptTest, MaxMatchesHandsOverToTheNextRule) {
  Script script;
  Rule first = s::When(s::Any(), s::Bytes("first"), "limited");
  first.set_max_matches(2);
  *script.add_rules() = first;
  *script.add_rules() = s::When(s::Any(), s::Bytes("then"), "after");
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "m"), "first");
  EXPECT_EQ(Ask(*r, "m"), "first");
  EXPECT_EQ(Ask(*r, "m"), "then");
}

TEST(ScriptTest, RewriteUsesRegexGroups) {
  Script script;
  *script.add_rules() =
      s::When(s::Regex("GET (\\w+) (\\w+)"), s::Rewrite("VALUE \\2 \\1\n"));
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "GET a b"), "VALUE b a\n");
}

TEST(ScriptTest, CallbackBuildsTheReplyFromTheGroups) {
  Script script;
  *script.add_rules() =
      s::When(s::Regex("ADD (\\d+) (\\d+)"), s::Callback("add"));
  *script.add_rules() = s::When(s::Equals("missing"), s::Callback("nobody"));
  auto r = Make(script);
  r->SetCallback(
      "add",
      [](const ReceivedMessage& m,
         const std::vector<std::string>& groups) -> std::optional<Reply> {
        EXPECT_EQ(groups[0], m.bytes);
        return Reply(
            std::to_string(std::stoi(groups[1]) + std::stoi(groups[2])));
      });
  EXPECT_EQ(Ask(*r, "ADD 2 40"), "42");
  std::optional<Reply> missing =
      r->Respond(ReceivedMessage{1, "p", "missing", 0});
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->bytes, "");
  EXPECT_THAT(missing->note,
              HasSubstr("callback \"nobody\" is not registered"));
}

TEST(ScriptTest, NoReplyAndFallbacks) {
  Script script;
  *script.add_rules() = s::When(s::Equals("quiet"), s::NoReply(), "quiet");
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "quiet"), "<none>");
  EXPECT_EQ(Ask(*r, "other"), "Received");
  script.mutable_fallback()->set_none(true);
  ASSERT_TRUE(r->Replace(script).ok());
  EXPECT_EQ(Ask(*r, "other"), "<none>");
  script.mutable_fallback()->set_reply("ERR unknown\n");
  ASSERT_TRUE(r->Replace(script).ok());
  EXPECT_EQ(Ask(*r, "other"), "ERR unknown\n");
}

TEST(ScriptTest, UnusedRulesAndUnmatchedMessagesWithTheNearestRule) {
  Script script;
  *script.add_rules() = s::When(s::Equals("GET key"), s::Bytes("v"), "get");
  *script.add_rules() = s::When(s::Prefix("SET "), s::Bytes("OK"), "set");
  *script.add_rules() = s::When(s::Equals("PING"), s::Bytes("PONG"), "ping");
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "PING"), "PONG");
  std::optional<Reply> miss = r->Respond(ReceivedMessage{7, "p", "GET kex", 0});
  EXPECT_THAT(miss->note, HasSubstr("no rule matched; nearest rule \"get\""));
  EXPECT_THAT(r->UnusedRules(), ElementsAre("get", "set"));
  const std::vector<UnmatchedMessage> unmatched = r->UnmatchedMessages();
  ASSERT_EQ(unmatched.size(), 1u);
  EXPECT_EQ(unmatched[0].connection_id, 7u);
  EXPECT_EQ(unmatched[0].nearest_rule, "get");
  EXPECT_EQ(unmatched[0].why,
            "equals \"GET key\": differs at byte 6: \"x\" instead of \"y\"");
  EXPECT_THAT(unmatched[0].ToString(),
              HasSubstr("\"GET kex\" matched no rule"));
}

TEST(ScriptTest, UsedUpRuleIsNamedAsTheReason) {
  Script script;
  Rule once = s::When(s::Equals("once"), s::Bytes("ok"), "once");
  once.set_max_matches(1);
  *script.add_rules() = once;
  script.mutable_fallback()->set_none(true);
  auto r = Make(script);
  EXPECT_EQ(Ask(*r, "once"), "ok");
  EXPECT_EQ(Ask(*r, "once"), "<none>");
  ASSERT_EQ(r->UnmatchedMessages().size(), 1u);
  EXPECT_EQ(r->UnmatchedMessages()[0].why, "used up: max_matches 1 reached");
}

TEST(ScriptTest, FaultsBecomeReplyFields) {
  Script script;
  Rule rule = s::When(s::Any(), s::Bytes("0123456789"));
  Fault* f = rule.mutable_fault();
  f->mutable_delay()->set_nanos(5000000);
  f->set_slice_bytes(3);
  f->mutable_slice_pause()->set_nanos(1000000);
  f->set_bytes_per_second(100);
  f->set_send_only(4);
  f->set_action(Fault::RESET);
  f->mutable_action_delay()->set_seconds(1);
  *script.add_rules() = rule;
  auto r = Make(script);
  std::optional<Reply> reply = r->Respond(ReceivedMessage{1, "p", "x", 0});
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->bytes, "0123456789");
  EXPECT_EQ(reply->delay, absl::Milliseconds(5));
  EXPECT_EQ(reply->slice_bytes, 3u);
  EXPECT_EQ(reply->slice_pause, absl::Milliseconds(1));
  EXPECT_EQ(reply->bytes_per_second, 100);
  EXPECT_EQ(reply->send_only, 4u);
  EXPECT_EQ(reply->then, Reply::Then::kReset);
  EXPECT_EQ(reply->then_delay, absl::Seconds(1));
  EXPECT_THAT(reply->note, HasSubstr("fault RESET"));

  const std::vector<std::pair<Fault::Action, Reply::Then>> actions = {
      {Fault::CLOSE, Reply::Then::kClose},
      {Fault::CLOSE_WITHOUT_REPLY, Reply::Then::kClose},
      {Fault::HALF_CLOSE, Reply::Then::kHalfClose},
      {Fault::STALL, Reply::Then::kStall},
      {Fault::GARBAGE_THEN_CLOSE, Reply::Then::kClose}};
  for (const auto& [action, then] : actions) {
    Script one;
    Rule x = s::When(s::Any(), s::Bytes("reply"));
    x.mutable_fault()->set_action(action);
    *one.add_rules() = x;
    auto responder = Make(one);
    std::optional<Reply> got =
        responder->Respond(ReceivedMessage{1, "p", "m", 0});
    EXPECT_EQ(got->then, then) << Fault::Action_Name(action);
    if (action == Fault::CLOSE_WITHOUT_REPLY || action == Fault::STALL) {
      EXPECT_EQ(got->send_only, 0u);
    }
    if (action == Fault::GARBAGE_THEN_CLOSE) {
      EXPECT_EQ(got->bytes.size(), 16u);
      EXPECT_NE(got->bytes, "reply");
    }
  }
}

TEST(ScriptTest, ProbabilityIsSeededAndReplayable) {
  auto draws = [](uint64_t seed) {
    Script script;
    script.set_seed(seed);
    Rule rule = s::When(s::Any(), s::Bytes("r"));
    rule.mutable_fault()->set_probability(0.3);
    rule.mutable_fault()->set_action(Fault::RESET);
    *script.add_rules() = rule;
    auto r = Make(script);
    std::string pattern;
    for (int i = 0; i < 1000; ++i) {
      pattern +=
          r->Respond(ReceivedMessage{1, "p", "m", static_cast<uint64_t>(i)})
                      ->then == Reply::Then::kReset
              ? '1'
              : '0';
    }
    return pattern;
  };
  const std::string a = draws(42);
  EXPECT_EQ(a, draws(42));  // replay
  EXPECT_NE(a, draws(43));
  const size_t hits = std::count(a.begin(), a.end(), '1');
  EXPECT_GT(hits, 200u);  // ~300 of 1000
  EXPECT_LT(hits, 400u);
}

TEST(ScriptTest, ReplaceWhileAnotherThreadResponds) {
  Script a;
  *a.add_rules() = s::When(s::Any(), s::Bytes("a"));
  Script b;
  *b.add_rules() = s::When(s::Any(), s::Bytes("b"));
  auto r = Make(a);
  std::thread responder([&] {
    for (int i = 0; i < 20000; ++i) {
      const std::string got = Ask(*r, "m");
      ASSERT_TRUE(got == "a" || got == "b") << got;
    }
  });
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(r->Replace(i % 2 ? a : b).ok());
  responder.join();
  Script bad;
  bad.add_rules();
  EXPECT_EQ(r->Replace(bad).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(r->Replace(a).ok());
  EXPECT_EQ(Ask(*r, "m"), "a");  // a failed Replace kept the script
}

}  // namespace
}  // namespace fake_tcp
