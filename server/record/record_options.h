#ifndef SERVER_RECORD_RECORD_OPTIONS_H_
#define SERVER_RECORD_RECORD_OPTIONS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fake_tcp {

// How RecordScript turns the messages of a session into rules' matchers, so a
// recording replays for clients that do not send byte-identical messages.
struct RecordOptions {
  enum class Match {
    // `equals` the whole message: replays only byte-identical requests.
    kExact,
    // `prefix`: the first `prefix_bytes` bytes (a shorter message: equals).
    // One rule per distinct prefix.
    kPrefix,
    // A `regex` of the message in which the parts that look like they vary
    // (UUIDs, timestamps, base64 tokens, hex ids, runs of digits, and what
    // `vary` names) are groups. One rule per distinct shape; an answer that
    // echoed such a part of its request (4 bytes or more, or any `vary` part)
    // is recorded as a `rewrite` with that group, so the replay echoes the new
    // value. A message over 4 KiB is matched exactly (`equals`).
    kShape,
  };
  Match match = Match::kExact;
  // For kPrefix: at least 1.
  size_t prefix_bytes = 0;
  // RE2 patterns (over bytes) of more parts that vary, tried first, in order.
  // With kExact, only these parts (and redacted ones) become groups.
  // INVALID_ARGUMENT with kPrefix.
  std::vector<std::string> vary;
};

// Parses "exact", "prefix:N" or "shape" (the --record_match flag) with the
// --record_vary patterns; INVALID_ARGUMENT naming the flag and the value.
absl::StatusOr<RecordOptions> ParseRecordOptions(
    absl::string_view match, const std::vector<std::string>& vary);

// Returns "exact", "prefix:N" or "shape".
std::string RecordMatchName(const RecordOptions& options);

}  // namespace fake_tcp

#endif  // SERVER_RECORD_RECORD_OPTIONS_H_
