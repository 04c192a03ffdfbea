// RecordOptions: recordings that replay for clients whose messages vary (ids,
// keys, tokens, timestamps), echo the new values, and match what redaction
// hid; each recorded script is replayed by a ScriptedResponder.

#include "server/record/record_match.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/log/redactor.h"
#include "server/script.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

Event E(EventType type, uint64_t conn, std::string bytes = "") {
  Event e;
  e.type = type;
  e.connection_id = conn;
  e.bytes = std::move(bytes);
  return e;
}

// A session of `exchanges` (request, reply) on one connection.
std::vector<Event> Session(
    const std::vector<std::pair<std::string, std::string>>& exchanges) {
  std::vector<Event> events = {E(EventType::kAccepted, 1)};
  for (const auto& [request, reply] : exchanges) {
    events.push_back(E(EventType::kReceived, 1, request));
    if (!reply.empty()) events.push_back(E(EventType::kSent, 1, reply));
  }
  return events;
}

Script Record(const std::vector<Event>& events, const RecordOptions& options) {
  absl::StatusOr<Script> script =
      RecordScript(events, Framing::Delimiter("\n"), options);
  EXPECT_TRUE(script.ok()) << script.status();
  return script.ok() ? *script : Script();
}

// What the recorded script answers to `request`; nullopt for no rule.
std::optional<std::string> Replay(const Script& script,
                                  const std::string& request) {
  absl::StatusOr<std::shared_ptr<ScriptedResponder>> responder =
      ScriptedResponder::Create(script);
  EXPECT_TRUE(responder.ok()) << responder.status();
  if (!responder.ok()) return std::nullopt;
  ReceivedMessage message;
  message.connection_id = 1;
  message.bytes = request;
  std::optional<Reply> reply = (*responder)->Respond(message);
  if (!reply.has_value() || !(*responder)->UnmatchedMessages().empty()) {
    return std::nullopt;
  }
  return reply->bytes;
}

RecordOptions Shape(std::vector<std::string> vary = {}) {
  RecordOptions options;
  options.match = RecordOptions::Match::kShape;
  options.vary = std::move(vary);
  return options;
}

TEST(RecordMatchTest, ExactReplaysOnlyTheSameBytes) {
  const Script script =
      Record(Session({{"GET user:1001", "alice\n"}}), RecordOptions());
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).when().equals(), "GET user:1001");
  EXPECT_EQ(Replay(script, "GET user:1001"), "alice\n");
  EXPECT_EQ(Replay(script, "GET user:1002"), std::nullopt);
}

TEST(RecordMatchTest, ShapeTurnsVaryingPartsIntoGroups) {
  const Script script = Record(
      Session({
          {"GET user:1001 req=7f3a9c2e41 at 2026-12-06T10:00:00Z", "alice\n"},
          {"AUTH token=QmFzZTY0VG9rZW4xMjM0NTY3OA== "
           "id=123e4567-e89b-12d3-a456-426614174000",
           "OK\n"},
      }),
      Shape());
  ASSERT_EQ(script.rules_size(), 2);
  EXPECT_EQ(script.rules(0).when().regex(),
            "GET user\\:([0-9]+) req\\=([0-9a-fA-F]+) at "
            "([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,]"
            "[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)");
  EXPECT_EQ(Replay(script, "GET user:42 req=00ff00ff11 at 2030-01-01 23:59:59"),
            "alice\n");
  EXPECT_EQ(Replay(script,
                   "AUTH token=OtherBase64Token0987654== "
                   "id=00000000-1111-2222-3333-444444444444"),
            "OK\n");
  EXPECT_EQ(Replay(script,
                   "GET group:42 req=00ff00ff11 at 2030-01-01 "
                   "23:59:59"),
            std::nullopt);
}

TEST(RecordMatchTest, OneRulePerShapeWithItsRepliesInOrder) {
  const Script script = Record(Session({{"INCR n1", "1\n"},
                                        {"INCR n2", "2\n"},
                                        {"PING", "PONG\n"},
                                        {"INCR n3", "3\n"}}),
                               Shape());
  ASSERT_EQ(script.rules_size(), 2);
  const Rule& incr = script.rules(0);
  EXPECT_EQ(incr.name(), "INCR n1");
  ASSERT_EQ(incr.responses_size(), 3);
  EXPECT_EQ(incr.responses(2).bytes(), "3\n");
  EXPECT_EQ(script.rules(1).when().equals(), "PING");
}

TEST(RecordMatchTest, AnEchoedIdIsRecordedAsARewrite) {
  // The answer repeats the request id (4+ digits) but not the short count.
  const Script script = Record(Session({{"ECHO 5 id=20411", "id=20411 n=5\n"},
                                        {"ECHO 5 id=20412", "id=20412 n=5\n"}}),
                               Shape());
  ASSERT_EQ(script.rules_size(), 1);
  ASSERT_EQ(script.rules(0).responses_size(), 1);
  EXPECT_EQ(script.rules(0).responses(0).rewrite(), "id=\\2 n=5\n");
  EXPECT_EQ(Replay(script, "ECHO 5 id=99999"), "id=99999 n=5\n");
}

TEST(RecordMatchTest, VaryNamesMorePartsEvenInExactMode) {
  RecordOptions options;
  options.vary = {"client-[a-z]+"};
  const Script script =
      Record(Session({{"HELLO client-bob 7", "hi client-bob\n"}}), options);
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).when().regex(), "HELLO (client-[a-z]+) 7");
  EXPECT_EQ(Replay(script, "HELLO client-eve 7"), "hi client-eve\n");
  EXPECT_EQ(Replay(script, "HELLO client-eve 8"), std::nullopt);
}

TEST(RecordMatchTest, AVaryPatternsOwnGroupsKeepTheNumbering) {
  const Script script = Record(Session({{"K (a)=b 1234", "1234\n"}}),
                               Shape({"\\((a|b)\\)=(a|b)"}));
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).responses(0).rewrite(), "\\4\n");
  EXPECT_EQ(Replay(script, "K (b)=a 5678"), "5678\n");
}

TEST(RecordMatchTest, PrefixGroupsByTheFirstBytes) {
  RecordOptions options;
  options.match = RecordOptions::Match::kPrefix;
  options.prefix_bytes = 4;
  const Script script = Record(
      Session({{"GET a", "1\n"}, {"GET b", "2\n"}, {"SET", "OK\n"}}), options);
  ASSERT_EQ(script.rules_size(), 2);
  EXPECT_EQ(script.rules(0).when().prefix(), "GET ");
  EXPECT_EQ(script.rules(1).when().equals(), "SET");
  EXPECT_EQ(Replay(script, "GET zzz"), "1\n");
}

TEST(RecordMatchTest, WhatRedactionHidMatchesAnyBytes) {
  absl::StatusOr<std::shared_ptr<const Redactor>> redactor =
      Redactor::Create({"AUTH (\\S+)"});
  ASSERT_TRUE(redactor.ok()) << redactor.status();
  const std::string logged = (*redactor)->Redact("AUTH hunter2");
  EXPECT_EQ(logged, "AUTH <redacted>");
  const Script script = Record(Session({{logged, "+OK\n"}}), RecordOptions());
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(Replay(script, "AUTH s3cret-Other"), "+OK\n");
  EXPECT_THAT(script.DebugString(), ::testing::Not(HasSubstr("hunter2")));
}

TEST(RecordMatchTest, BinaryMessagesGiveAValidRegexThatMatchesThem) {
  const std::string request("\x01\xff\x00 id 123456\r\n", 15);
  const Script script = Record(Session({{request, "ok"}}), Shape());
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).when().regex(),
            "\\x01\\xff\\x00 id ([0-9]+)\\r\\n");
  EXPECT_EQ(Replay(script, std::string("\x01\xff\x00 id 7\r\n", 10)), "ok");
}

TEST(RecordMatchTest, ABinaryReplyIsKeptAsBytesNotARewrite) {
  const Script script =
      Record(Session({{"GET 123456", "\xff 123456"}}), Shape());
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).responses(0).bytes(), "\xff 123456");
}

TEST(RecordMatchTest, ABigMessageIsMatchedExactly) {
  const std::string big = "PUT 12345 " + std::string(8192, 'x');
  const Script script = Record(Session({{big, "OK\n"}}), Shape());
  ASSERT_EQ(script.rules_size(), 1);
  EXPECT_EQ(script.rules(0).when().equals(), big);
  EXPECT_EQ(Replay(script, big), "OK\n");
}

TEST(RecordMatchTest, BadOptionsAreClearErrors) {
  EXPECT_THAT(ParseRecordOptions("prefix:0", {}).status().message(),
              HasSubstr("--record_match=prefix:N needs N >= 1"));
  EXPECT_THAT(ParseRecordOptions("fuzzy", {}).status().message(),
              HasSubstr("--record_match must be exact, prefix:N or shape, got "
                        "\"fuzzy\""));
  EXPECT_THAT(ParseRecordOptions("prefix:3", {"x"}).status().message(),
              HasSubstr("--record_vary needs --record_match=shape or exact"));
  absl::StatusOr<RecordOptions> ok = ParseRecordOptions("prefix:3", {});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(RecordMatchName(*ok), "prefix:3");
  absl::StatusOr<Script> bad =
      RecordScript(Session({{"a", "b"}}), Framing::Raw(), Shape({"(x"}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("vary \"(x\": not a valid"));
  bad = RecordScript(Session({{"a", "b"}}), Framing::Raw(), Shape({"x*"}));
  EXPECT_THAT(bad.status().message(), HasSubstr("matches the empty string"));
}

TEST(RedactorTest, GroupsOrTheWholeMatchBecomeThePlaceholder) {
  absl::StatusOr<std::shared_ptr<const Redactor>> redactor =
      Redactor::Create({"password=(\\w+)&token=(\\w+)", "Bearer \\S+"});
  ASSERT_TRUE(redactor.ok()) << redactor.status();
  EXPECT_EQ((*redactor)->Redact("password=a1&token=b2; password=c&token=d"),
            "password=<redacted>&token=<redacted>; "
            "password=<redacted>&token=<redacted>");
  EXPECT_EQ((*redactor)->Redact("Authorization: Bearer xyz\r\n"),
            "Authorization: <redacted>\r\n");
  std::string untouched = "nothing secret";
  EXPECT_FALSE((*redactor)->RedactInPlace(&untouched));
  EXPECT_EQ(untouched, "nothing secret");
  EXPECT_THAT(Redactor::Create({"(a"}).status().message(),
              HasSubstr("redact \"(a\": not a valid RE2"));
  EXPECT_THAT(Redactor::Create({"a?"}).status().message(),
              HasSubstr("matches the empty string"));
}

TEST(RedactorTest, TheLogKeepsOnlyRedactedBytes) {
  absl::StatusOr<std::shared_ptr<const Redactor>> redactor =
      Redactor::Create({"AUTH (\\S+)"});
  ASSERT_TRUE(redactor.ok());
  MessageLog log(LogLimits(), *redactor);
  log.Append(E(EventType::kReceived, 1, "AUTH hunter2"));
  EXPECT_EQ(log.ReceivedMessages(),
            std::vector<std::string>{"AUTH <redacted>"});
  EXPECT_THAT(log.ToString(), ::testing::Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace fake_tcp
