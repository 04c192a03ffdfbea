#ifndef SERVER_SCRIPT_SCRIPT_BUILDERS_H_
#define SERVER_SCRIPT_SCRIPT_BUILDERS_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// Thin builders for the Script messages, for C++ tests:
//
//   using namespace fake_tcp::script;
//   Script s;
//   *s.add_rules() = When(Prefix("SET "), Bytes("OK\n"));
//   *s.add_rules() = When(Regex("GET (\\w+)"), Rewrite("VALUE \\1\n"), "get");
namespace script {

Matcher Equals(absl::string_view bytes);
Matcher Prefix(absl::string_view bytes);
Matcher Suffix(absl::string_view bytes);
Matcher Contains(absl::string_view bytes);
Matcher Regex(absl::string_view re2_regex);
Matcher BytePattern(absl::string_view pattern);
Matcher Any();
Matcher AllOf(std::vector<Matcher> matchers);
Matcher AnyOf(std::vector<Matcher> matchers);
Matcher Not(Matcher matcher);
Matcher IgnoreCase(Matcher matcher);

Response Bytes(absl::string_view bytes);
Response Rewrite(absl::string_view rewrite);
Response Callback(absl::string_view name);
Response NoReply();

// A rule: when `matcher`, answer `response`, named `name`.
Rule When(Matcher matcher, Response response, absl::string_view name = "");
// A rule answering with `responses` in turn.
Rule When(Matcher matcher, std::vector<Response> responses,
          absl::string_view name = "");

}  // namespace script
}  // namespace fake_tcp

#endif  // SERVER_SCRIPT_SCRIPT_BUILDERS_H_
