#include "server/script/script_matcher.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fake_tcp {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

bool IsLiteral(Matcher::KindCase kind) {
  return kind == Matcher::kEquals || kind == Matcher::kPrefix ||
         kind == Matcher::kSuffix || kind == Matcher::kContains;
}

// Length of the common prefix of `a` and `b`, ASCII case folded when `fold`.
size_t CommonPrefix(absl::string_view a, absl::string_view b, bool fold) {
  size_t n = 0;
  while (n < a.size() && n < b.size() &&
         (fold ? absl::ascii_tolower(a[n]) == absl::ascii_tolower(b[n])
               : a[n] == b[n])) {
    ++n;
  }
  return n;
}

}  // namespace

std::string QuoteBytes(absl::string_view bytes) {
  return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
}

absl::StatusOr<BytePatternSpec> ParseBytePattern(absl::string_view pattern) {
  BytePatternSpec spec;
  const std::vector<absl::string_view> tokens =
      absl::StrSplit(pattern, ' ', absl::SkipWhitespace());
  if (tokens.empty()) return absl::InvalidArgumentError("empty pattern");
  for (size_t i = 0; i < tokens.size(); ++i) {
    const absl::string_view t = tokens[i];
    if (t == "*") {
      if (i + 1 != tokens.size()) {
        return absl::InvalidArgumentError("\"*\" may only come last");
      }
      spec.open = true;
    } else if (t == "??") {
      spec.bytes.push_back(-1);
    } else {
      int value = 0;
      if (t.size() != 2 || !absl::SimpleHexAtoi(t, &value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("token ", i + 1, " \"", t,
                         "\" is not two hex digits, \"??\" or a final \"*\""));
      }
      spec.bytes.push_back(value);
    }
  }
  return spec;
}

absl::Status ValidateMatcher(const Matcher& m, const std::string& field) {
  switch (m.kind_case()) {
    case Matcher::KIND_NOT_SET:
      return Invalid(field,
                     "set one of equals, prefix, suffix, contains, regex, "
                     "byte_pattern, any, all_of, any_of, not");
    case Matcher::kRegex: {
      RE2 re(m.regex(), RE2::Quiet);
      if (!re.ok()) return Invalid(field + ".regex", re.error());
      return absl::OkStatus();
    }
    case Matcher::kBytePattern: {
      absl::StatusOr<BytePatternSpec> spec = ParseBytePattern(m.byte_pattern());
      if (!spec.ok())
        return Invalid(field + ".byte_pattern", spec.status().message());
      return absl::OkStatus();
    }
    case Matcher::kAllOf:
    case Matcher::kAnyOf: {
      const MatcherList& list =
          m.kind_case() == Matcher::kAllOf ? m.all_of() : m.any_of();
      const std::string name =
          field + (m.kind_case() == Matcher::kAllOf ? ".all_of" : ".any_of");
      if (list.matchers().empty())
        return Invalid(name, "needs at least one matcher");
      for (int i = 0; i < list.matchers_size(); ++i) {
        if (absl::Status s = ValidateMatcher(
                list.matchers(i), absl::StrCat(name, ".matchers[", i, "]"));
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    case Matcher::kNot:
      return ValidateMatcher(m.not_(), field + ".not");
    case Matcher::kAny:
      // `any: false` reads as "matches nothing" but would match everything.
      if (!m.any()) {
        return Invalid(field + ".any",
                       "must be true (it matches every message; for none, "
                       "write not { any: true })");
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

CompiledMatcher CompiledMatcher::From(const Matcher& m) {
  CompiledMatcher c;
  c.kind = m.kind_case();
  c.ignore_case = m.ignore_case();
  switch (c.kind) {
    case Matcher::kEquals:
      c.literal = m.equals();
      break;
    case Matcher::kPrefix:
      c.literal = m.prefix();
      break;
    case Matcher::kSuffix:
      c.literal = m.suffix();
      break;
    case Matcher::kContains:
      c.literal = m.contains();
      break;
    case Matcher::kRegex: {
      RE2::Options options(RE2::Quiet);
      options.set_case_sensitive(!m.ignore_case());
      options.set_encoding(RE2::Options::EncodingLatin1);  // bytes, not UTF-8
      c.re = std::make_unique<RE2>(m.regex(), options);
      break;
    }
    case Matcher::kBytePattern:
      c.pattern = *ParseBytePattern(m.byte_pattern());
      break;
    case Matcher::kAllOf:
      for (const Matcher& child : m.all_of().matchers()) {
        c.children.push_back(From(child));
      }
      break;
    case Matcher::kAnyOf:
      for (const Matcher& child : m.any_of().matchers()) {
        c.children.push_back(From(child));
      }
      break;
    case Matcher::kNot:
      c.children.push_back(From(m.not_()));
      break;
    default:
      break;
  }
  if (c.ignore_case) c.literal = absl::AsciiStrToLower(c.literal);
  return c;
}

bool CompiledMatcher::Matches(absl::string_view message,
                              std::vector<std::string>* groups) const {
  std::string lowered;
  absl::string_view m = message;
  if (ignore_case && IsLiteral(kind)) {
    lowered = absl::AsciiStrToLower(message);
    m = lowered;
  }
  switch (kind) {
    case Matcher::kEquals:
      return m == literal;
    case Matcher::kPrefix:
      return absl::StartsWith(m, literal);
    case Matcher::kSuffix:
      return absl::EndsWith(m, literal);
    case Matcher::kContains:
      return absl::StrContains(m, literal);
    case Matcher::kRegex: {
      const int n = re->NumberOfCapturingGroups();
      std::vector<re2::StringPiece> found(n + 1);
      if (!re->Match(re2::StringPiece(message.data(), message.size()), 0,
                     message.size(), RE2::ANCHOR_BOTH, found.data(), n + 1)) {
        return false;
      }
      if (groups != nullptr) {
        groups->clear();
        for (const re2::StringPiece& g : found) {
          groups->emplace_back(g.data() == nullptr
                                   ? std::string()
                                   : std::string(g.data(), g.size()));
        }
      }
      return true;
    }
    case Matcher::kBytePattern: {
      const std::vector<int>& p = pattern.bytes;
      if (message.size() < p.size()) return false;
      if (!pattern.open && message.size() != p.size()) return false;
      for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] >= 0 && static_cast<unsigned char>(message[i]) != p[i]) {
          return false;
        }
      }
      return true;
    }
    case Matcher::kAny:
      return true;
    case Matcher::kAllOf:
      for (const CompiledMatcher& c : children) {
        if (!c.Matches(message, groups)) return false;
      }
      return true;
    case Matcher::kAnyOf:
      for (const CompiledMatcher& c : children) {
        if (c.Matches(message, groups)) return true;
      }
      return false;
    case Matcher::kNot:
      return !children[0].Matches(message, nullptr);
    default:
      return false;
  }
}

std::string CompiledMatcher::Describe() const {
  const char* ic = ignore_case ? " (ignoring case)" : "";
  switch (kind) {
    case Matcher::kEquals:
      return absl::StrCat("equals ", QuoteBytes(literal), ic);
    case Matcher::kPrefix:
      return absl::StrCat("prefix ", QuoteBytes(literal), ic);
    case Matcher::kSuffix:
      return absl::StrCat("suffix ", QuoteBytes(literal), ic);
    case Matcher::kContains:
      return absl::StrCat("contains ", QuoteBytes(literal), ic);
    case Matcher::kRegex:
      return absl::StrCat("regex ", QuoteBytes(re->pattern()), ic);
    case Matcher::kBytePattern:
      return "byte pattern";
    case Matcher::kAny:
      return "any";
    case Matcher::kAllOf:
      return "all of";
    case Matcher::kAnyOf:
      return "any of";
    case Matcher::kNot:
      return absl::StrCat("not ", children[0].Describe());
    default:
      return "unset";
  }
}

std::pair<size_t, std::string> CompiledMatcher::Miss(
    absl::string_view message) const {
  const std::string what = Describe();
  switch (kind) {
    case Matcher::kEquals:
    case Matcher::kPrefix: {
      const size_t n = CommonPrefix(message, literal, ignore_case);
      std::string why =
          n == message.size()
              ? absl::StrCat("the message ends after ", n, " bytes")
              : absl::StrCat("differs at byte ", n, ": ",
                             QuoteBytes(message.substr(n, 1)), " instead of ",
                             n < literal.size()
                                 ? QuoteBytes(literal.substr(n, 1))
                                 : "the end");
      return {n, absl::StrCat(what, ": ", why)};
    }
    case Matcher::kSuffix:
      return {0, absl::StrCat(what, ": the message ends otherwise")};
    case Matcher::kContains:
      return {0, absl::StrCat(what, ": not found in the message")};
    case Matcher::kRegex:
      return {0, absl::StrCat(what, ": does not match the whole message")};
    default:
      return {0, absl::StrCat(what, ": no match")};
  }
}

}  // namespace fake_tcp
