#ifndef SERVER_SCRIPT_H_
#define SERVER_SCRIPT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/fake_tcp_server.h"
#include "server/script.pb.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace fake_tcp {

// Builds a reply in C++ for a rule whose response is `callback: "<name>"`.
// `groups` holds the rule's regex groups (groups[0] is the whole message; just
// it, for other matchers). Runs on the server's I/O thread, without the
// script's lock.
using ScriptCallback = std::function<std::optional<Reply>(
    const ReceivedMessage& message, const std::vector<std::string>& groups)>;

// A message that matched no rule, with the rule that came nearest and why it
// missed.
struct UnmatchedMessage {
  uint64_t connection_id = 0;
  std::string bytes;
  std::string
      nearest_rule;  // its name, or "rules[2]"; empty when there are none
  std::string why;   // e.g. `equals "GET k": differs at byte 4`
  std::string ToString() const;
};

// A rule and how often it has matched.
struct RuleUse {
  std::string name;
  uint64_t matches = 0;
};

// Answers messages as a Script says: rules tried in order (first match wins),
// response sequences, match limits, faults with seeded probabilities, and a
// fallback. It keeps count of each rule's matches and of messages no rule
// matched.
//
// Thread-safe: the server's I/O thread calls Respond(); tests may Replace() the
// script, add callbacks and read the reports at any time.
//
//   absl::StatusOr<std::shared_ptr<ScriptedResponder>> script =
//       ScriptedResponder::Create(my_script);
//   ServerOptions options;
//   ASSERT_TRUE((*script)->ApplyTo(&options).ok());   // framing, greeting,
//   faults, rules FakeTcpServer server(options);
class ScriptedResponder
    : public std::enable_shared_from_this<ScriptedResponder> {
 public:
  // Validates `script` (see ValidateScript) and compiles it.
  static absl::StatusOr<std::shared_ptr<ScriptedResponder>> Create(
      const Script& script);

  ScriptedResponder(const ScriptedResponder&) = delete;
  ScriptedResponder& operator=(const ScriptedResponder&) = delete;
  ~ScriptedResponder();

  // Sets `options`'s framing (if the script has one), greeting, server-wide
  // faults and responder (this object) from the script.
  absl::Status ApplyTo(ServerOptions* options);
  // Returns a Responder that calls Respond() on this object (keeping it alive).
  Responder AsResponder();

  // Replaces the rules, fallback and seed (framing, greeting and server faults
  // are fixed at ApplyTo) for the messages that follow. Resets the match
  // counts. Returns INVALID_ARGUMENT naming the field, keeping the old script.
  absl::Status Replace(const Script& script) ABSL_LOCKS_EXCLUDED(mu_);
  // Registers the C++ code for responses `callback: "<name>"`.
  void SetCallback(const std::string& name, ScriptCallback callback)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Decides the reply to `message`; the note says which rule answered.
  std::optional<Reply> Respond(const ReceivedMessage& message)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Rules that never matched (a forgotten expectation), by name.
  std::vector<std::string> UnusedRules() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every rule and its match count, in order.
  std::vector<RuleUse> RuleUses() const ABSL_LOCKS_EXCLUDED(mu_);
  // The last (at most 1000) messages no rule matched.
  std::vector<UnmatchedMessage> UnmatchedMessages() const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct CompiledMatcher;
  struct CompiledRule;
  struct Compiled;

  explicit ScriptedResponder(const Script& script);
  // Builds the rules and fallback of `script` (already validated).
  static absl::StatusOr<std::unique_ptr<Compiled>> Compile(
      const Script& script);

  const Script initial_;  // for ApplyTo

  // Guards the compiled rules, their counts, the generator and the reports.
  mutable absl::Mutex mu_;
  std::unique_ptr<Compiled> compiled_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ScriptCallback> callbacks_ ABSL_GUARDED_BY(mu_);
  std::deque<UnmatchedMessage> unmatched_ ABSL_GUARDED_BY(mu_);
};

// Returns OK iff `script` is usable; otherwise INVALID_ARGUMENT naming the
// field, e.g. `rules[1].when.regex: missing ): GET (k`.
absl::Status ValidateScript(const Script& script);

// The formats of a script file.
enum class ScriptFormat { kText, kJson };

// How deep messages may nest in a script file (JSON's parser has the same
// bound): deeper input is an error, never a stack overflow.
inline constexpr int kMaxScriptDepth = 100;

// Parses `text` as a Script in `format`; errors name `source` and, for text
// format, the line and column. Then validates it.
absl::StatusOr<Script> ParseScript(absl::string_view text, ScriptFormat format,
                                   absl::string_view source = "script");
// Reads and parses a script file: JSON for ".json", protobuf text format
// otherwise.
absl::StatusOr<Script> LoadScript(const std::string& path);
// Writes `script` in protobuf text format.
std::string ScriptToText(const Script& script);

// Thin builders for the Script messages, for C++ tests:
//
//   Script s;
//   *s.add_rules() = script::When(script::Prefix("SET "),
//   script::Bytes("OK\n")); *s.add_rules() = script::When(script::Regex("GET
//   (\\w+)"),
//                                 script::Rewrite("VALUE \\1\n"), "get");
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

#endif  // SERVER_SCRIPT_H_
