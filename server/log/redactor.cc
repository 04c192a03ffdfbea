#include "server/log/redactor.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace fake_tcp {
namespace {

// Replaces the spans `re` marks in `*bytes` (its groups', else its whole
// match's); returns true iff it did.
bool RedactWith(const re2::RE2& re, std::string* bytes) {
  const int groups = re.NumberOfCapturingGroups();
  std::vector<re2::StringPiece> match(groups + 1);
  std::string out;
  size_t copied = 0;  // bytes of *bytes already in `out`
  size_t pos = 0;
  bool changed = false;
  const re2::StringPiece text(*bytes);
  while (pos <= text.size() &&
         re.Match(text, pos, text.size(), re2::RE2::UNANCHORED, match.data(),
                  groups + 1)) {
    const size_t begin = match[0].data() - text.data();
    const size_t end = begin + match[0].size();
    for (int g = groups == 0 ? 0 : 1; g <= groups; ++g) {
      if (match[g].data() == nullptr || match[g].empty()) continue;
      const size_t b = match[g].data() - text.data();
      if (b < copied) continue;  // nested in a group already redacted
      out.append(*bytes, copied, b - copied);
      out.append(kRedacted.data(), kRedacted.size());
      copied = b + match[g].size();
      changed = true;
    }
    pos = end > begin ? end : end + 1;
  }
  if (!changed) return false;
  out.append(*bytes, copied, std::string::npos);
  *bytes = std::move(out);
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Redactor>> Redactor::Create(
    const std::vector<std::string>& patterns) {
  std::shared_ptr<Redactor> redactor(new Redactor());
  for (const std::string& pattern : patterns) {
    re2::RE2::Options options(re2::RE2::Quiet);
    options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes
    auto re = std::make_unique<re2::RE2>(pattern, options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("redact \"", absl::CHexEscape(pattern),
                       "\": not a valid RE2: ", re->error()));
    }
    if (re2::RE2::FullMatch("", *re)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "redact \"", absl::CHexEscape(pattern),
          "\": matches the empty string, so it would hide nothing"));
    }
    redactor->patterns_.push_back(std::move(re));
  }
  return redactor;
}

Redactor::~Redactor() = default;

bool Redactor::RedactInPlace(std::string* bytes) const {
  bool changed = false;
  for (const auto& re : patterns_) changed |= RedactWith(*re, bytes);
  return changed;
}

std::string Redactor::Redact(absl::string_view bytes) const {
  std::string out(bytes);
  RedactInPlace(&out);
  return out;
}

}  // namespace fake_tcp
