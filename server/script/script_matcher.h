#ifndef SERVER_SCRIPT_SCRIPT_MATCHER_H_
#define SERVER_SCRIPT_SCRIPT_MATCHER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "re2/re2.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// Returns `bytes` C-escaped in double quotes, for messages about scripts.
std::string QuoteBytes(absl::string_view bytes);

// A parsed byte pattern.
struct BytePatternSpec {
  // -1 for "??", else the byte.
  std::vector<int> bytes;
  // It ended with "*": more bytes may follow.
  bool open = false;
};

// Parses a byte pattern ("02 ?? ff *"); INVALID_ARGUMENT says which token is
// wrong.
absl::StatusOr<BytePatternSpec> ParseBytePattern(absl::string_view pattern);

// Returns OK iff `m` can be compiled; otherwise INVALID_ARGUMENT naming
// `field` (e.g. "rules[1].when.regex: missing ): GET (k").
absl::Status ValidateMatcher(const Matcher& m, const std::string& field);

// A Matcher compiled for matching: literals lower-cased once, regexes built
// once (bytes, Latin-1), byte patterns parsed. Immutable once built, so it may
// be used from any thread.
struct CompiledMatcher {
  // Compiles `m`, which ValidateMatcher accepted.
  static CompiledMatcher From(const Matcher& m);

  // Returns true iff `message` matches; regex groups (group 0 first) go to
  // `groups` when not null.
  bool Matches(absl::string_view message,
               std::vector<std::string>* groups) const;
  // Returns e.g. `equals "GET k" (ignoring case)`.
  std::string Describe() const;
  // Returns how near `message` came to matching (higher is nearer) and why it
  // missed, e.g. `equals "GET k": differs at byte 4: "x" instead of "k"`.
  std::pair<size_t, std::string> Miss(absl::string_view message) const;

  Matcher::KindCase kind = Matcher::KIND_NOT_SET;
  bool ignore_case = false;
  // Lower-cased when ignore_case.
  std::string literal;
  std::unique_ptr<RE2> re;
  BytePatternSpec pattern;
  std::vector<CompiledMatcher> children;
};

}  // namespace fake_tcp

#endif  // SERVER_SCRIPT_SCRIPT_MATCHER_H_
