#include "server/script/strict_json.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "server/script/script.pb.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

absl::Status CheckScript(const std::string& json) {
  return CheckStrictJson(json, *Script::descriptor());
}

std::string ErrorOf(const std::string& json) {
  const absl::Status s = CheckScript(json);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << json;
  return std::string(s.message());
}

TEST(StrictJsonTest, AcceptsWhatTheProto3MappingAccepts) {
  for (const char* json : {
           R"({})",
           R"({"rules": []})",
           // Proto and JSON names, enum names and numbers, numbers and numeric
           // strings, durations as strings, null for a default.
           R"({"rules": [{"name": "get", "when": {"prefix": "R0VU"},
                "responses": [{"bytes": "eA=="}, {"none": true}],
                "after_last": "CYCLE", "maxMatches": "3",
                "fault": {"delay": "0.5s", "probability": 0.25,
                          "action": 1, "sliceBytes": 4}}],
              "seed": 7, "greeting": null})",
           R"({"rules": [{"when": {"all_of": {"matchers": [{"any": true},
                {"not": {"regex": "x.*"}}]}}}]})",
           " \n{ \"rules\" : [ ] }\n\t",
       }) {
    EXPECT_TRUE(CheckScript(json).ok()) << json << ": " << CheckScript(json);
  }
}

TEST(StrictJsonTest, ATrailingCommaIsNamedWithItsLineAndColumn) {
  EXPECT_EQ(ErrorOf(R"({"rules": [{"when": {"any": true}},]})"),
            "1:35: a trailing comma (JSON has none)");
  EXPECT_EQ(ErrorOf("{\n  \"rules\": [],\n}"),
            "2:14: a trailing comma (JSON has none)");
}

TEST(StrictJsonTest, SingleQuotesCommentsAndTrailingTextAreNotJson) {
  EXPECT_EQ(ErrorOf("{'rules': []}"),
            "1:2: a single quote (JSON strings take double quotes)");
  EXPECT_EQ(ErrorOf("{\n  // the rules\n  \"rules\": []}"),
            "2:3: a comment (JSON has none)");
  EXPECT_EQ(ErrorOf(R"({"rules": []} {})"),
            "1:15: more after the end of the JSON value");
  EXPECT_EQ(ErrorOf("  "), "1:3: no JSON value");
  EXPECT_THAT(ErrorOf(R"({"rules" []})"), HasSubstr("1:10: Missing a colon"));
}

TEST(StrictJsonTest, AWrongTypeNamesTheFieldPathAndWhatItWants) {
  EXPECT_EQ(ErrorOf(R"({"rules": [{"when": {"any": "yes"}}]})"),
            "1:29: rules[0].when.any: wants true or false, got the string "
            "\"yes\"");
  EXPECT_EQ(ErrorOf(R"({"rules": [{}, {"name": 5}]})"),
            "1:25: rules[1].name: wants a string, got the number 5");
  EXPECT_EQ(ErrorOf(R"({"rules": {"name": "a"}})"),
            "1:11: rules: wants an array, got an object");
  EXPECT_EQ(ErrorOf(R"({"rules": ["a"]})"),
            "1:12: rules[0]: wants an object (a Rule), got the string \"a\"");
  EXPECT_EQ(ErrorOf(R"({"rules": [{"max_matches": true}]})"),
            "1:28: rules[0].max_matches: wants a number, got true");
  EXPECT_EQ(ErrorOf(R"({"rules": [{"fault": {"delay": 5}}]})"),
            "1:32: rules[0].fault.delay: wants a string, got the number 5");
  EXPECT_EQ(ErrorOf(R"([])"),
            "1:1: Script: wants an object (a Script), got an array");
  const std::string long_value(100, 'y');
  EXPECT_THAT(ErrorOf(absl::StrCat(R"({"rules": [{"when": {"any": ")",
                                   long_value, R"("}}]})")),
              HasSubstr(absl::StrCat("\"", std::string(40, 'y'), "...\"")));
}

TEST(StrictJsonTest, UnknownFieldsListWhatTheMessageHas) {
  EXPECT_EQ(ErrorOf(R"({"rules": [{"when": {"any": true, "bogus": 1}}]})"),
            "1:35: rules[0].when: no field \"bogus\" in Matcher (it has "
            "equals, prefix, suffix, contains, regex, byte_pattern, any, "
            "all_of, any_of, not, ignore_case)");
  EXPECT_THAT(ErrorOf(R"({"rulez": []})"),
              HasSubstr("1:2: Script: no field \"rulez\" in Script (it has "));
}

TEST(StrictJsonTest, AKeyTwiceAndTwoMembersOfOneOneofAreErrors) {
  EXPECT_EQ(ErrorOf(R"({"rules": [], "rules": []})"),
            "1:15: Script: \"rules\" appears twice");
  EXPECT_EQ(ErrorOf(R"({"rules": [{"max_matches": 1, "maxMatches": 2}]})"),
            "1:31: rules[0]: \"max_matches\" appears twice");
  EXPECT_EQ(
      ErrorOf(R"({"rules": [{"when": {"any": true, "prefix": "eA=="}}]})"),
      "1:35: rules[0].when: \"any\" and \"prefix\" are both set; only one "
      "of kind can be");
}

TEST(StrictJsonTest, NestingIsBounded) {
  std::string deep = R"({"rules": [{"when": )";
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) deep += R"({"not": )";
  deep += R"({"any": true})";
  for (int i = 0; i < 2 * kMaxJsonDepth; ++i) deep += "}";
  deep += "}]}";
  EXPECT_THAT(ErrorOf(deep), HasSubstr(absl::StrCat(": nested deeper than ",
                                                    kMaxJsonDepth, " levels")));
  // Ten thousand open brackets: an error, not a stack overflow.
  EXPECT_THAT(ErrorOf(std::string(10000, '[')),
              HasSubstr("1:1: Script: wants"));
}

TEST(StrictJsonTest, MapsAndWellKnownTypes) {
  // A message with a map, a Struct and a wrapper, defined here so the test
  // needs no generated code for it.
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "strict_json_test.proto"
        syntax: "proto3"
        package: "t"
        dependency: "google/protobuf/struct.proto"
        dependency: "google/protobuf/wrappers.proto"
        message_type {
          name: "M"
          field {
            name: "counts"
            number: 1
            label: LABEL_REPEATED
            type: TYPE_MESSAGE
            type_name: ".t.M.CountsEntry"
            json_name: "counts"
          }
          field {
            name: "extra"
            number: 2
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Struct"
            json_name: "extra"
          }
          field {
            name: "flag"
            number: 3
            label: LABEL_OPTIONAL
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.BoolValue"
            json_name: "flag"
          }
          nested_type {
            name: "CountsEntry"
            field {
              name: "key"
              number: 1
              label: LABEL_OPTIONAL
              type: TYPE_STRING
            }
            field {
              name: "value"
              number: 2
              label: LABEL_OPTIONAL
              type: TYPE_INT32
            }
            options { map_entry: true }
          }
        }
      )pb",
      &file));
  // Naming the well-known types links their descriptors in, so the generated
  // pool holds them in a static binary too (nothing else here refers to them).
  ASSERT_NE(google::protobuf::Struct::descriptor(), nullptr);
  ASSERT_NE(google::protobuf::BoolValue::descriptor(), nullptr);
  google::protobuf::DescriptorPool pool(
      google::protobuf::DescriptorPool::generated_pool());
  const google::protobuf::FileDescriptor* built = pool.BuildFile(file);
  ASSERT_NE(built, nullptr);
  const google::protobuf::Descriptor& m = *built->FindMessageTypeByName("M");

  EXPECT_TRUE(CheckStrictJson(
                  R"({"counts": {"a": 1, "b": "2"},
                      "extra": {"x": [1, {"y": null}], "z": "any"},
                      "flag": false})",
                  m)
                  .ok());
  EXPECT_EQ(CheckStrictJson(R"({"counts": {"a": 1, "a": 2}})", m).message(),
            "1:21: counts: the key \"a\" appears twice");
  EXPECT_EQ(CheckStrictJson(R"({"counts": {"a": true}})", m).message(),
            "1:18: counts[\"a\"]: wants a number, got true");
  EXPECT_EQ(CheckStrictJson(R"({"flag": "no"})", m).message(),
            "1:10: flag: wants true or false, got the string \"no\"");
}

}  // namespace
}  // namespace fake_tcp
