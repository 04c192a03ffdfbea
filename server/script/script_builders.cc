#include "server/script/script_builders.h"

#include <string>
#include <utility>
#include <vector>

namespace fake_tcp {

namespace script {

Matcher Equals(absl::string_view bytes) {
  Matcher m;
  m.set_equals(std::string(bytes));
  return m;
}
Matcher Prefix(absl::string_view bytes) {
  Matcher m;
  m.set_prefix(std::string(bytes));
  return m;
}
Matcher Suffix(absl::string_view bytes) {
  Matcher m;
  m.set_suffix(std::string(bytes));
  return m;
}
Matcher Contains(absl::string_view bytes) {
  Matcher m;
  m.set_contains(std::string(bytes));
  return m;
}
Matcher Regex(absl::string_view re2_regex) {
  Matcher m;
  m.set_regex(std::string(re2_regex));
  return m;
}
Matcher BytePattern(absl::string_view pattern) {
  Matcher m;
  m.set_byte_pattern(std::string(pattern));
  return m;
}
Matcher Any() {
  Matcher m;
  m.set_any(true);
  return m;
}
Matcher AllOf(std::vector<Matcher> matchers) {
  Matcher m;
  for (Matcher& c : matchers)
    *m.mutable_all_of()->add_matchers() = std::move(c);
  return m;
}
Matcher AnyOf(std::vector<Matcher> matchers) {
  Matcher m;
  for (Matcher& c : matchers)
    *m.mutable_any_of()->add_matchers() = std::move(c);
  return m;
}
Matcher Not(Matcher matcher) {
  Matcher m;
  *m.mutable_not_() = std::move(matcher);
  return m;
}
Matcher IgnoreCase(Matcher matcher) {
  matcher.set_ignore_case(true);
  return matcher;
}

Response Bytes(absl::string_view bytes) {
  Response r;
  r.set_bytes(std::string(bytes));
  return r;
}
Response Rewrite(absl::string_view rewrite) {
  Response r;
  r.set_rewrite(std::string(rewrite));
  return r;
}
Response Callback(absl::string_view name) {
  Response r;
  r.set_callback(std::string(name));
  return r;
}
Response NoReply() {
  Response r;
  r.set_none(true);
  return r;
}

Rule When(Matcher matcher, Response response, absl::string_view name) {
  return When(std::move(matcher), std::vector<Response>{std::move(response)},
              name);
}

Rule When(Matcher matcher, std::vector<Response> responses,
          absl::string_view name) {
  Rule rule;
  rule.set_name(std::string(name));
  *rule.mutable_when() = std::move(matcher);
  for (Response& r : responses) *rule.add_responses() = std::move(r);
  return rule;
}

}  // namespace script
}  // namespace fake_tcp
