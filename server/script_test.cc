#include "server/script.h"

#include <fstream>
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
#include "server/framing.h"
#include "server/message_log.h"

namespace fake_tcp {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

namespace s = ::fake_tcp::script;

constexpr absl::Duration kTimeout = absl::Seconds(30);

std::shared_ptr<ScriptedResponder> Make(const Script& script) {
  absl::StatusOr<std::shared_ptr<ScriptedResponder>> r =
      ScriptedResponder::Create(script);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : nullptr;
}

// The reply bytes for `message`, "<none>" for no reply.
std::string Ask(ScriptedResponder& r, absl::string_view message,
                uint64_t connection = 1) {
  std::optional<Reply> reply =
      r.Respond(ReceivedMessage{connection, "peer", message, 0});
  if (!reply.has_value() || reply->bytes.empty()) return "<none>";
  return reply->bytes;
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
      pattern += r->Respond(ReceivedMessage{1, "p", "m", 0})->then ==
                         Reply::Then::kReset
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

TEST(ScriptTest, ValidationNamesTheField) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"rules { responses { bytes: 'x' } }",
       "rules[0].when: a matcher is required"},
      {"rules { when { } }", "rules[0].when: set one of"},
      {"rules { when { regex: 'GET (k' } }", "rules[0].when.regex: missing )"},
      {"rules { when { any: true } } rules { when { byte_pattern: '01 zz' } }",
       "rules[1].when.byte_pattern: token 2 \"zz\""},
      {"rules { when { all_of { } } }",
       "rules[0].when.all_of: needs at least one"},
      {"rules { when { not { any_of { matchers { } } } } }",
       "rules[0].when.not.any_of.matchers[0]: set one of"},
      {"rules { when { prefix: 'G' } responses { rewrite: '\\\\1' } }",
       "rules[0].responses[0].rewrite: needs the rule's matcher to be a regex"},
      {"rules { when { regex: 'G' } responses { rewrite: '\\\\2' } }",
       "rules[0].responses[0].rewrite:"},
      {"rules { when { any: true } responses { } }",
       "rules[0].responses[0]: set one of"},
      {"rules { when { any: true } fault { probability: 1.5 } }",
       "rules[0].fault.probability: must be in [0, 1], got 1.5"},
      {"rules { when { any: true } fault { delay { seconds: -1 } } }",
       "rules[0].fault.delay: must not be negative"},
      {"rules { name: 'a' when { any: true } } rules { name: 'a' when { any: "
       "true } }",
       "rules[1].name: \"a\" is used twice"},
      {"framing { length_prefix { header_bytes: 3 } }",
       "framing.length_prefix.header_bytes: must be 1, 2, 4 or 8, got 3"},
      {"greeting { rewrite: 'x' }", "greeting: only bytes"},
      {"rules { when { any: true } fault { garbage_bytes: 1000000000 } }",
       "rules[0].fault.garbage_bytes: at most 16777216, got 1000000000"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Script> parsed =
        ParseScript(c.text, ScriptFormat::kText, "t.textproto");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr("t.textproto: " + c.error))
        << c.text;
  }
}

TEST(ScriptTest, ParseErrorsNameLineAndColumn) {
  absl::StatusOr<Script> parsed =
      ParseScript("rules {\n  when { equals: 'x' }\n  bogus: 1\n}\n",
                  ScriptFormat::kText, "kv.textproto");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("kv.textproto:3:"));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("bogus"));

  parsed = ParseScript("{\"rules\": [{\"when\": {\"equalz\": \"x\"}}]}",
                       ScriptFormat::kJson, "kv.json");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("kv.json: "));
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("equalz"));
}

TEST(ScriptTest, DeepNestingIsAnErrorNotACrash) {
  // 8,000 nested `not` (64 KB) overflowed the stack of protobuf's text parser.
  std::string text = "rules { when { ";
  for (int i = 0; i < 8000; ++i) text += "not { ";
  text += "equals: 'x' ";
  for (int i = 0; i < 8000; ++i) text += "} ";
  text += "} }";
  absl::StatusOr<Script> parsed =
      ParseScript(text, ScriptFormat::kText, "deep.textproto");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              AllOf(HasSubstr("deep.textproto:1:"), HasSubstr("recursion")));

  std::string json = "{\"rules\": [{\"when\": ";
  for (int i = 0; i < 8000; ++i) json += "{\"not\": ";
  json += "{\"any\": true}";
  for (int i = 0; i < 8000; ++i) json += "}";
  json += "}]}";
  parsed = ParseScript(json, ScriptFormat::kJson, "deep.json");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("deep.json: "));

  // Nesting within the bound still loads.
  std::string ok = "rules { when { ";
  for (int i = 0; i < 40; ++i) ok += "not { ";
  ok += "equals: 'x' ";
  for (int i = 0; i < 40; ++i) ok += "} ";
  ok += "} }";
  EXPECT_TRUE(ParseScript(ok, ScriptFormat::kText).ok());
}

TEST(ScriptTest, LoadsTextAndJsonFilesByExtension) {
  const std::string dir = getenv("TEST_TMPDIR");
  {
    std::ofstream(dir + "/kv.textproto")
        << "rules { name: 'ping' when { equals: 'PING' } responses { bytes: "
           "'PONG' } }";
    std::ofstream(dir + "/kv.json")
        << R"({"rules": [{"name": "ping", "when": {"equals": "UElORw=="},
                          "responses": [{"bytes": "UE9ORw=="}]}]})";
  }
  for (const char* file : {"/kv.textproto", "/kv.json"}) {
    absl::StatusOr<Script> script = LoadScript(dir + file);
    ASSERT_TRUE(script.ok()) << script.status();
    auto r = Make(*script);
    EXPECT_EQ(Ask(*r, "PING"), "PONG") << file;
  }
  EXPECT_EQ(LoadScript(dir + "/missing.textproto").status().code(),
            absl::StatusCode::kNotFound);
  // And back to text.
  absl::StatusOr<Script> script = LoadScript(dir + "/kv.textproto");
  EXPECT_THAT(ScriptToText(*script), HasSubstr("name: \"ping\""));
}

TEST(ScriptTest, LoadingRejectsWhatIsNotAScript) {
  const std::string dir = getenv("TEST_TMPDIR");
  std::ofstream(dir + "/empty.textproto") << "  \n";
  struct Case {
    std::string path;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {dir, "not a regular file"},
           {"/dev/null", "not a regular file"},
           {dir + "/empty.textproto", "empty"},
       }) {
    absl::StatusOr<Script> script = LoadScript(c.path);
    EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument)
        << c.path;
    EXPECT_THAT(std::string(script.status().message()),
                AllOf(HasSubstr(c.path), HasSubstr(c.message)));
  }
  // `any: false` would match everything.
  absl::StatusOr<Script> parsed =
      ParseScript("rules { when { any: false } responses { bytes: 'x' } }",
                  ScriptFormat::kText);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("rules[0].when.any: must be true"));
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

// --- over real sockets ---

// The README's example: a tiny line protocol.
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

}  // namespace
}  // namespace fake_tcp
