#include "server/record/record_match.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "re2/re2.h"
#include "server/log/redactor.h"

namespace fake_tcp {

// One kind of part that varies: how to find it in a request, and the group
// that matches it on replay.
struct RequestPatterner::Kind {
  std::unique_ptr<re2::RE2> find;
  // "([0-9]+)": one capturing group around the part, plus `inner` groups.
  std::string group;
  int inner = 0;
  // Found parts it does not take (a base64 candidate without digits).
  bool (*accept)(absl::string_view) = nullptr;
  // Echoed answers are rewrites however short the part (a --record_vary).
  bool echo_any_length = false;
  // Never echoed (redacted: the recording does not know the value).
  bool never_echo = false;
};

namespace {

constexpr size_t kMinEchoBytes = 4;
// Longer messages are matched exactly: a regex of a big message would be
// past what RE2 compiles by default, and a payload rarely has a shape.
constexpr size_t kMaxShapeBytes = 4096;
// RE2's rewrite strings name groups \1 to \9.
constexpr int kMaxRewriteGroup = 9;

constexpr absl::string_view kUuid =
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]"
    "{12}";
constexpr absl::string_view kTimestamp =
    "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
    "(?:Z|[+-][0-9]{2}:?[0-9]{2})?";

bool HasDigitAndBothCases(absl::string_view s) {
  bool digit = false, upper = false, lower = false;
  for (char c : s) {
    digit |= absl::ascii_isdigit(c);
    upper |= absl::ascii_isupper(c);
    lower |= absl::ascii_islower(c);
  }
  return digit && upper && lower;
}

bool HasDigitAndLetter(absl::string_view s) {
  bool digit = false, letter = false;
  for (char c : s) {
    digit |= absl::ascii_isdigit(c);
    letter |= absl::ascii_isalpha(c);
  }
  return digit && letter;
}

std::unique_ptr<re2::RE2> Compile(absl::string_view pattern) {
  re2::RE2::Options options(re2::RE2::Quiet);
  options.set_encoding(re2::RE2::Options::EncodingLatin1);  // bytes
  return std::make_unique<re2::RE2>(
      re2::StringPiece(pattern.data(), pattern.size()), options);
}

// `bytes` as an RE2 literal that stays valid UTF-8 (the script's regex is a
// proto string): punctuation escaped, \r \n \t named, other bytes as \xHH.
void AppendLiteral(absl::string_view bytes, std::string* out) {
  for (unsigned char c : bytes) {
    if (absl::ascii_isalnum(c) || c == ' ' || c == '_') {
      out->push_back(static_cast<char>(c));
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c >= 0x21 && c < 0x7f) {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(out, "\\x%02x", c);
    }
  }
}

struct Span {
  size_t begin;
  size_t end;
  const RequestPatterner::Kind* kind;
};

bool Overlaps(const std::vector<Span>& taken, size_t begin, size_t end) {
  for (const Span& s : taken) {
    if (begin < s.end && s.begin < end) return true;
  }
  return false;
}

// True iff `s` is valid UTF-8 (a proto string must be): each lead byte
// followed by as many continuation bytes as it says, no overlong forms of
// ASCII. Stricter checks (surrogates) are left to the proto library.
bool IsUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    size_t n = 0;
    if (c < 0x80) {
      n = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace

RequestPatterner::RequestPatterner(const RecordOptions& options)
    : options_(options) {}
RequestPatterner::~RequestPatterner() = default;

absl::StatusOr<std::unique_ptr<RequestPatterner>> RequestPatterner::Create(
    const RecordOptions& options) {
  if (options.match == RecordOptions::Match::kPrefix) {
    if (options.prefix_bytes == 0) {
      return absl::InvalidArgumentError(
          "record: prefix matching needs prefix_bytes >= 1");
    }
    if (!options.vary.empty()) {
      return absl::InvalidArgumentError(
          "record: vary needs shape or exact matching (a prefix rule has no "
          "groups)");
    }
  }
  std::unique_ptr<RequestPatterner> p(new RequestPatterner(options));
  auto add = [&](absl::string_view find, std::string group,
                 bool (*accept)(absl::string_view)) -> Kind* {
    auto kind = std::make_unique<Kind>();
    kind->find = Compile(find);
    kind->group = std::move(group);
    kind->accept = accept;
    p->kinds_.push_back(std::move(kind));
    return p->kinds_.back().get();
  };
  std::string redacted;
  AppendLiteral(kRedacted, &redacted);
  add(redacted, "((?s:.*?))", nullptr)->never_echo = true;
  if (options.match == RecordOptions::Match::kPrefix) return p;
  for (const std::string& vary : options.vary) {
    Kind* kind = add(vary, absl::StrCat("(", vary, ")"), nullptr);
    if (!kind->find->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("record: vary \"", absl::CHexEscape(vary),
                       "\": not a valid RE2: ", kind->find->error()));
    }
    if (re2::RE2::FullMatch("", *kind->find)) {
      return absl::InvalidArgumentError(
          absl::StrCat("record: vary \"", absl::CHexEscape(vary),
                       "\": matches the empty string"));
    }
    kind->inner = kind->find->NumberOfCapturingGroups();
    kind->echo_any_length = true;
  }
  if (options.match != RecordOptions::Match::kShape) return p;
  add(kUuid, absl::StrCat("(", kUuid, ")"), nullptr);
  add(kTimestamp, absl::StrCat("(", kTimestamp, ")"), nullptr);
  add("[A-Za-z0-9+/_-]{16,}={0,2}", "([A-Za-z0-9+/_-]+={0,2})",
      &HasDigitAndBothCases);
  add("[0-9a-fA-F]{8,}", "([0-9a-fA-F]+)", &HasDigitAndLetter);
  add("[0-9]+", "([0-9]+)", nullptr);
  return p;
}

RequestPattern RequestPatterner::Pattern(absl::string_view request) const {
  RequestPattern out;
  absl::string_view matched = request;
  const bool prefix = options_.match == RecordOptions::Match::kPrefix &&
                      request.size() > options_.prefix_bytes;
  if (prefix) matched = request.substr(0, options_.prefix_bytes);

  // The varying parts: each kind in priority order takes what it finds that
  // no earlier kind took.
  std::vector<Span> spans;
  for (const auto& kind : kinds_) {
    if (matched.size() > kMaxShapeBytes) break;
    re2::StringPiece text(matched.data(), matched.size());
    re2::StringPiece found;
    size_t pos = 0;
    while (pos < text.size() &&
           kind->find->Match(text, pos, text.size(), re2::RE2::UNANCHORED,
                             &found, 1)) {
      const size_t begin = found.data() - text.data();
      const size_t end = begin + found.size();
      pos = end > begin ? end : begin + 1;
      if (end == begin || Overlaps(spans, begin, end)) continue;
      if (kind->accept != nullptr &&
          !kind->accept(absl::string_view(found.data(), found.size()))) {
        continue;
      }
      spans.push_back(Span{begin, end, kind.get()});
    }
  }
  if (spans.empty()) {
    if (prefix) {
      out.matcher.set_prefix(std::string(matched));
      out.key = absl::StrCat("prefix ", matched);
    } else {
      out.matcher.set_equals(std::string(request));
      out.key = absl::StrCat("equals ", request);
    }
    return out;
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string regex;
  size_t at = 0;
  out.values.push_back("");  // group 0
  out.echoable.push_back(false);
  for (const Span& s : spans) {
    AppendLiteral(matched.substr(at, s.begin - at), &regex);
    regex += s.kind->group;
    const std::string value(matched.substr(s.begin, s.end - s.begin));
    const bool echo = !s.kind->never_echo && (s.kind->echo_any_length ||
                                              value.size() >= kMinEchoBytes);
    out.values.push_back(value);
    out.echoable.push_back(echo);
    for (int i = 0; i < s.kind->inner; ++i) {  // a vary pattern's own groups
      out.values.push_back("");
      out.echoable.push_back(false);
    }
    at = s.end;
  }
  AppendLiteral(matched.substr(at), &regex);
  if (prefix) regex += "(?s:.*)";
  out.matcher.set_regex(regex);
  out.key = absl::StrCat("regex ", regex);
  return out;
}

std::optional<std::string> EchoRewrite(absl::string_view reply,
                                       const RequestPattern& pattern) {
  if (!pattern.matcher.has_regex() || !IsUtf8(reply)) return std::nullopt;
  std::vector<int> groups;
  for (size_t g = 1; g < pattern.values.size() && g <= kMaxRewriteGroup; ++g) {
    if (pattern.echoable[g] && !pattern.values[g].empty()) {
      groups.push_back(static_cast<int>(g));
    }
  }
  std::stable_sort(groups.begin(), groups.end(), [&](int a, int b) {
    return pattern.values[a].size() > pattern.values[b].size();
  });
  std::string rewrite;
  bool echoed = false;
  for (size_t i = 0; i < reply.size();) {
    bool replaced = false;
    for (int g : groups) {
      const std::string& v = pattern.values[g];
      if (reply.substr(i, v.size()) == v) {
        absl::StrAppend(&rewrite, "\\", g);
        i += v.size();
        replaced = echoed = true;
        break;
      }
    }
    if (replaced) continue;
    if (reply[i] == '\\') rewrite.push_back('\\');
    rewrite.push_back(reply[i]);
    ++i;
  }
  if (!echoed) return std::nullopt;
  return rewrite;
}

}  // namespace fake_tcp
