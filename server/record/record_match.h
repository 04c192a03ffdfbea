#ifndef SERVER_RECORD_RECORD_MATCH_H_
#define SERVER_RECORD_RECORD_MATCH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/record/record_options.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// How one recorded request is matched on replay.
struct RequestPattern {
  // Requests with the same key share a rule.
  std::string key;
  Matcher matcher;
  // For a regex matcher: the request's value of each group (index 1 is group
  // 1; index 0 unused) and whether an answer echoing it is recorded as a
  // rewrite with that group.
  std::vector<std::string> values;
  std::vector<bool> echoable;
};

// Makes a RequestPattern of each request as RecordOptions says; the parts
// redaction left (kRedacted) become groups that match any bytes, whatever the
// mode (in kPrefix, within the prefix). Immutable once made.
class RequestPatterner {
 public:
  // INVALID_ARGUMENT naming a `vary` pattern that is not a valid RE2 or
  // matches the empty string, or kPrefix with 0 bytes or with `vary`.
  static absl::StatusOr<std::unique_ptr<RequestPatterner>> Create(
      const RecordOptions& options);
  ~RequestPatterner();

  RequestPattern Pattern(absl::string_view request) const;

  // One kind of varying part (record_match.cc).
  struct Kind;

 private:
  explicit RequestPatterner(const RecordOptions& options);
  const RecordOptions options_;
  std::vector<std::unique_ptr<Kind>> kinds_;  // in order of priority
};

// Returns `reply` as a Response.rewrite that puts back each echoable group
// value of `pattern` found in it (longest first), or nullopt when it echoes
// none or cannot be a rewrite (not UTF-8).
std::optional<std::string> EchoRewrite(absl::string_view reply,
                                       const RequestPattern& pattern);

}  // namespace fake_tcp

#endif  // SERVER_RECORD_RECORD_MATCH_H_
