#include "server/record/record_options.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace fake_tcp {

absl::StatusOr<RecordOptions> ParseRecordOptions(
    absl::string_view match, const std::vector<std::string>& vary) {
  RecordOptions options;
  options.vary = vary;
  if (match == "exact") {
    options.match = RecordOptions::Match::kExact;
  } else if (match == "shape") {
    options.match = RecordOptions::Match::kShape;
  } else if (absl::ConsumePrefix(&match, "prefix:")) {
    options.match = RecordOptions::Match::kPrefix;
    if (!absl::SimpleAtoi(match, &options.prefix_bytes) ||
        options.prefix_bytes == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--record_match=prefix:N needs N >= 1 bytes, got \"", match, "\""));
    }
    if (!vary.empty()) {
      return absl::InvalidArgumentError(
          "--record_vary needs --record_match=shape or exact (a prefix rule "
          "has no groups)");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--record_match must be exact, prefix:N or shape, got \"",
                     match, "\""));
  }
  return options;
}

std::string RecordMatchName(const RecordOptions& options) {
  switch (options.match) {
    case RecordOptions::Match::kExact:
      return "exact";
    case RecordOptions::Match::kPrefix:
      return absl::StrCat("prefix:", options.prefix_bytes);
    case RecordOptions::Match::kShape:
      return "shape";
  }
  return "exact";
}

}  // namespace fake_tcp
