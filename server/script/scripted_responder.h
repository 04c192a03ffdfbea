#ifndef SERVER_SCRIPT_SCRIPTED_RESPONDER_H_
#define SERVER_SCRIPT_SCRIPTED_RESPONDER_H_

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
#include "server/log/redactor.h"
#include "server/options/server_options.h"
#include "server/reply/reply.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// Builds a reply in C++ for a rule whose response is `callback: "<name>"`.
// `groups` holds the rule's regex groups (groups[0] is the whole message; just
// it, for other matchers). Runs on the server's I/O thread, without the
// script's lock.
using ScriptCallback = std::function<std::optional<Reply>(
    const ReceivedMessage& message, const std::vector<std::string>& groups)>;

// Sets `reply`'s delay, slices, rate, partial send and what follows (close,
// reset, half-close, stall) from `fault`. Its probability and
// GARBAGE_THEN_CLOSE's bytes are the caller's to draw.
void ShapeReply(const Fault& fault, Reply* reply);

// A message that matched no rule, with the rule that came nearest and why it
// missed.
struct UnmatchedMessage {
  uint64_t connection_id = 0;
  std::string bytes;
  // The nearest rule's name, or "rules[2]"; empty when there are none.
  std::string nearest_rule;
  // Why it missed, e.g. `equals "GET k": differs at byte 4`.
  std::string why;
  // Returns one line: the connection, the bytes, the nearest rule and why.
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
// matched. Every random choice (a fault's probability, garbage bytes) depends
// only on the script's seed, the message's connection id and its index on that
// connection: with the same seed each connection gets the same faults however
// connections interleave, and the reply's note names the seed.
//
// Thread-safe: the server's I/O thread calls Respond(); tests may Replace() the
// script, add callbacks and read the reports at any time.
//
//   absl::StatusOr<std::shared_ptr<ScriptedResponder>> script =
//       ScriptedResponder::Create(my_script);
//   ServerOptions options;
//   // The script's framing, greeting, faults and rules.
//   ASSERT_TRUE((*script)->ApplyTo(&options).ok());
//   FakeTcpServer server(options);
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
  // faults and responder (this object) from the script, and redacts near
  // misses with `options->redact` (set it first).
  absl::Status ApplyTo(ServerOptions* options);
  // Hides secrets in the near misses it keeps (UnmatchedMessages, notes), as
  // ServerOptions::redact does in the log. Null: none.
  void SetRedactor(std::shared_ptr<const Redactor> redactor)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns a Responder that calls Respond() on this object (keeping it alive).
  Responder AsResponder();

  // Replaces the rules, fallback and seed (framing, greeting and server faults
  // are fixed at ApplyTo) for the messages that follow. Resets the match
  // counts. Returns INVALID_ARGUMENT naming the field, keeping the old script.
  absl::Status Replace(const Script& script) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the script in use: the one given to Create() or the last Replace().
  Script CurrentScript() const ABSL_LOCKS_EXCLUDED(mu_);
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
  struct CompiledRule;
  struct Compiled;

  explicit ScriptedResponder(const Script& script);
  // Builds the rules and fallback of `script` (already validated).
  static absl::StatusOr<std::unique_ptr<Compiled>> Compile(
      const Script& script);

  // Returns the first rule (in order) that matches `message` and has matches
  // left, its regex groups in `groups`; null if none.
  CompiledRule* FindRuleLocked(absl::string_view message,
                               std::vector<std::string>* groups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records `message` as unmatched (with the nearest rule) and returns the
  // fallback reply, or a reply with no bytes for silence; the note says why.
  Reply ReplyToUnmatchedLocked(const ReceivedMessage& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets `reply`'s bytes from `rule`'s next response in its sequence, or
  // returns the registered callback that will build them.
  ScriptCallback ChooseResponseLocked(CompiledRule& rule,
                                      const std::vector<std::string>& groups,
                                      Reply* reply)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `rule`'s fault to `reply` (if its probability says so); faults
  // that send nothing or garbage drop `callback`.
  void ApplyFaultLocked(const Rule& rule, const ReceivedMessage& message,
                        Reply* reply, ScriptCallback* callback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // For ApplyTo.
  const Script initial_;

  // Guards the compiled rules, their counts, the callbacks and the reports.
  mutable absl::Mutex mu_;
  std::unique_ptr<Compiled> compiled_ ABSL_GUARDED_BY(mu_);
  Script current_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ScriptCallback> callbacks_ ABSL_GUARDED_BY(mu_);
  std::deque<UnmatchedMessage> unmatched_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Redactor> redactor_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_SCRIPT_SCRIPTED_RESPONDER_H_
