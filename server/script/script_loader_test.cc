#include <fstream>
#include <optional>
#include <string>
#include <vector>

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

using ::testing::AllOf;
using ::testing::HasSubstr;

namespace s = ::fake_tcp::script;
using ::fake_tcp::testing::Ask;

std::shared_ptr<ScriptedResponder> Make(const Script& script) {
  return ::fake_tcp::testing::MakeResponder(script);
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

  // The text format is strict already: a wrong type and a singular field
  // given twice name the line.
  for (const char* text : {"rules {\n  when { any: \"yes\" }\n}\n",
                           "rules {\n  when { any: true any: true }\n}\n"}) {
    parsed = ParseScript(text, ScriptFormat::kText, "kv.textproto");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr("kv.textproto:2:"))
        << text;
  }

  parsed = ParseScript("{\"rules\": [{\"when\": {\"equalz\": \"x\"}}]}",
                       ScriptFormat::kJson, "kv.json");
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("kv.json:1:22: rules[0].when: no field \"equalz\""));

  // Strict JSON (server/script/strict_json.h): what protobuf's parser alone
  // lets through.
  parsed = ParseScript("{\"rules\": [{\"when\": {\"any\": \"yes\"}}]}",
                       ScriptFormat::kJson, "kv.json");
  EXPECT_EQ(std::string(parsed.status().message()),
            "kv.json:1:29: rules[0].when.any: wants true or false, got the "
            "string \"yes\"");
  parsed = ParseScript("{\"rules\": [\n  {\"when\": {\"any\": true}},\n]}",
                       ScriptFormat::kJson, "kv.json");
  EXPECT_EQ(std::string(parsed.status().message()),
            "kv.json:2:26: a trailing comma (JSON has none)");
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
  EXPECT_THAT(
      std::string(parsed.status().message()),
      AllOf(HasSubstr("deep.json:1:"), HasSubstr("nested deeper than")));

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

}  // namespace
}  // namespace fake_tcp
