#ifndef SERVER_LOG_REDACTOR_H_
#define SERVER_LOG_REDACTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace fake_tcp {

// What redaction leaves in place of a secret.
inline constexpr absl::string_view kRedacted = "<redacted>";

// Hides secrets (passwords, tokens) from everything the fake writes down: the
// log, and so the transcript, the event stream, the control API and
// recordings. The bytes on the wire are never changed.
//
// Each pattern is an RE2 over bytes (Latin-1: "\xff" is the byte 0xff). Where
// it has capturing groups, what each group matched becomes kRedacted, the rest
// of the match stays ("AUTH (\S+)" turns "AUTH hunter2" into
// "AUTH <redacted>"); without groups the whole match does. Patterns apply in
// order, each to the previous one's result.
//
// Immutable and thread-safe once made.
class Redactor {
 public:
  // INVALID_ARGUMENT naming the pattern when one is not a valid RE2 or matches
  // the empty string (it would redact nothing, everywhere).
  static absl::StatusOr<std::shared_ptr<const Redactor>> Create(
      const std::vector<std::string>& patterns);
  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  // Replaces every secret in `bytes`; returns true iff anything changed.
  bool RedactInPlace(std::string* bytes) const;
  // Returns `bytes` with every secret replaced.
  std::string Redact(absl::string_view bytes) const;

 private:
  Redactor() = default;
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
};

}  // namespace fake_tcp

#endif  // SERVER_LOG_REDACTOR_H_
