#include "server/script.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "re2/re2.h"
#include "tools/base/file.h"

namespace fake_tcp {
namespace {

constexpr size_t kMaxUnmatched = 1000;
// How many rules (the first ones) a message that matches none is compared with
// to name the nearest.
constexpr size_t kMaxNearMissRules = 1000;
constexpr uint64_t kDefaultGarbageBytes = 16;
constexpr uint64_t kMaxGarbageBytes = uint64_t{16} << 20;
// Script files larger than this are refused.
constexpr size_t kMaxScriptBytes = size_t{16} << 20;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string Quote(absl::string_view bytes) {
  return absl::StrCat("\"", absl::CHexEscape(bytes), "\"");
}

// A byte pattern: -1 for "??", else the byte; `open` when it ends with "*".
struct BytePatternSpec {
  std::vector<int> bytes;
  bool open = false;
};

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

bool IsLiteral(Matcher::KindCase kind) {
  return kind == Matcher::kEquals || kind == Matcher::kPrefix ||
         kind == Matcher::kSuffix || kind == Matcher::kContains;
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

absl::Status ValidateDuration(const google::protobuf::Duration& d,
                              const std::string& field) {
  if (d.seconds() < 0 || d.nanos() < 0)
    return Invalid(field, "must not be negative");
  return absl::OkStatus();
}

absl::Status ValidateFault(const Fault& f, const std::string& field) {
  if (f.has_probability() && !(f.probability() >= 0 && f.probability() <= 1)) {
    return Invalid(field + ".probability",
                   absl::StrCat("must be in [0, 1], got ", f.probability()));
  }
  for (const auto& [d, name] : {std::pair{&f.delay(), "delay"},
                                std::pair{&f.slice_pause(), "slice_pause"},
                                std::pair{&f.action_delay(), "action_delay"}}) {
    if (absl::Status s = ValidateDuration(*d, absl::StrCat(field, ".", name));
        !s.ok()) {
      return s;
    }
  }
  if (f.garbage_bytes() > kMaxGarbageBytes) {
    return Invalid(field + ".garbage_bytes",
                   absl::StrCat("at most ", kMaxGarbageBytes, ", got ",
                                f.garbage_bytes()));
  }
  if (f.slice_pause().seconds() + f.slice_pause().nanos() > 0 &&
      f.slice_bytes() == 0) {
    return Invalid(field + ".slice_pause", "needs slice_bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<Framing> FramingFrom(const FramingConfig& config) {
  switch (config.kind_case()) {
    case FramingConfig::kRaw:
    case FramingConfig::KIND_NOT_SET:
      return Framing::Raw();
    case FramingConfig::kDelimiter:
      if (config.delimiter().empty()) {
        return Invalid("framing.delimiter", "must not be empty");
      }
      return Framing::Delimiter(config.delimiter());
    case FramingConfig::kLengthPrefix: {
      const uint32_t bytes = config.length_prefix().header_bytes();
      if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8) {
        return Invalid("framing.length_prefix.header_bytes",
                       absl::StrCat("must be 1, 2, 4 or 8, got ", bytes));
      }
      return Framing::LengthPrefix(static_cast<int>(bytes),
                                   config.length_prefix().little_endian()
                                       ? Framing::Endian::kLittle
                                       : Framing::Endian::kBig,
                                   config.length_prefix().includes_header());
    }
    case FramingConfig::kFixedSize:
      if (config.fixed_size() == 0) {
        return Invalid("framing.fixed_size", "must be greater than 0");
      }
      return Framing::FixedSize(config.fixed_size());
  }
  return Framing::Raw();
}

std::string RuleLabel(const Rule& rule, int index) {
  return rule.name().empty() ? absl::StrCat("rules[", index, "]") : rule.name();
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

// --- compiled form ---

struct ScriptedResponder::CompiledMatcher {
  Matcher::KindCase kind = Matcher::KIND_NOT_SET;
  bool ignore_case = false;
  std::string literal;  // lower-cased when ignore_case
  std::unique_ptr<RE2> re;
  BytePatternSpec pattern;
  std::vector<CompiledMatcher> children;

  static CompiledMatcher From(const Matcher& m) {
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

  // Returns true iff `message` matches; regex groups (group 0 first) go to
  // `groups`.
  bool Matches(absl::string_view message,
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

  std::string Describe() const {
    const char* ic = ignore_case ? " (ignoring case)" : "";
    switch (kind) {
      case Matcher::kEquals:
        return absl::StrCat("equals ", Quote(literal), ic);
      case Matcher::kPrefix:
        return absl::StrCat("prefix ", Quote(literal), ic);
      case Matcher::kSuffix:
        return absl::StrCat("suffix ", Quote(literal), ic);
      case Matcher::kContains:
        return absl::StrCat("contains ", Quote(literal), ic);
      case Matcher::kRegex:
        return absl::StrCat("regex ", Quote(re->pattern()), ic);
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

  // How near `message` came to matching (higher is nearer), and why it missed.
  std::pair<size_t, std::string> Miss(absl::string_view message) const {
    const std::string what = Describe();
    switch (kind) {
      case Matcher::kEquals:
      case Matcher::kPrefix: {
        const size_t n = CommonPrefix(message, literal, ignore_case);
        std::string why =
            n == message.size()
                ? absl::StrCat("the message ends after ", n, " bytes")
                : absl::StrCat("differs at byte ", n, ": ",
                               Quote(message.substr(n, 1)), " instead of ",
                               n < literal.size() ? Quote(literal.substr(n, 1))
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
};

struct ScriptedResponder::CompiledRule {
  Rule proto;
  std::string label;
  CompiledMatcher when;
  uint64_t matches = 0;
};

struct ScriptedResponder::Compiled {
  std::vector<CompiledRule> rules;
  // Rules whose matcher is a case-sensitive `equals`, by their literal (rule
  // indices in order): a message is compared only with the rules of its own
  // bytes, so 150,000 such rules cost one hash lookup, not 150,000 matches.
  absl::flat_hash_map<std::string, std::vector<size_t>> exact;
  // Every other rule, in order.
  std::vector<size_t> general;
  std::optional<std::string> fallback;  // nullopt: silence
  uint64_t seed = 0;
};

// --- validation and loading ---

absl::Status ValidateScript(const Script& script) {
  if (script.has_framing()) {
    if (absl::StatusOr<Framing> f = FramingFrom(script.framing()); !f.ok()) {
      return f.status();
    }
  }
  std::set<std::string> names;
  for (int i = 0; i < script.rules_size(); ++i) {
    const Rule& rule = script.rules(i);
    const std::string field = absl::StrCat("rules[", i, "]");
    if (!rule.name().empty() && !names.insert(rule.name()).second) {
      return Invalid(field + ".name",
                     absl::StrCat("\"", rule.name(), "\" is used twice"));
    }
    if (!rule.has_when())
      return Invalid(field + ".when", "a matcher is required");
    if (absl::Status s = ValidateMatcher(rule.when(), field + ".when");
        !s.ok()) {
      return s;
    }
    for (int j = 0; j < rule.responses_size(); ++j) {
      const Response& r = rule.responses(j);
      const std::string rf = absl::StrCat(field, ".responses[", j, "]");
      if (r.kind_case() == Response::KIND_NOT_SET) {
        return Invalid(rf, "set one of bytes, rewrite, callback, none");
      }
      if (r.kind_case() == Response::kRewrite) {
        if (rule.when().kind_case() != Matcher::kRegex) {
          return Invalid(rf + ".rewrite",
                         "needs the rule's matcher to be a regex");
        }
        RE2 re(rule.when().regex(), RE2::Quiet);
        std::string error;
        if (!re.CheckRewriteString(r.rewrite(), &error)) {
          return Invalid(rf + ".rewrite", error);
        }
      }
      if (r.kind_case() == Response::kCallback && r.callback().empty()) {
        return Invalid(rf + ".callback", "needs a name");
      }
    }
    if (absl::Status s = ValidateFault(rule.fault(), field + ".fault");
        !s.ok()) {
      return s;
    }
  }
  if (script.has_greeting() &&
      script.greeting().kind_case() != Response::kBytes &&
      script.greeting().kind_case() != Response::kNone) {
    return Invalid("greeting", "only bytes (or none) can greet");
  }
  if (absl::Status s =
          ValidateDuration(script.faults().latency(), "faults.latency");
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

namespace {

// Collects text-format parse errors as "line:column: message".
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::StatusOr<Script> ParseScript(absl::string_view text, ScriptFormat format,
                                   absl::string_view source) {
  Script script;
  if (format == ScriptFormat::kJson) {
    const auto status =
        google::protobuf::util::JsonStringToMessage(std::string(text), &script);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", std::string(status.message())));
    }
  } else {
    google::protobuf::TextFormat::Parser parser;
    // Nesting (`not { not { ... } }`) is bounded as JSON's parser bounds it;
    // protobuf's text parser recurses without limit and overflows the stack.
    parser.SetRecursionLimit(kMaxScriptDepth);
    ErrorCollector errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(std::string(text), &script)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", errors.first()));
    }
  }
  if (absl::Status s = ValidateScript(script); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return script;
}

absl::StatusOr<Script> LoadScript(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, kMaxScriptBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("script ", path, ": cannot read it: ",
                                     text.status().message()));
  }
  if (absl::StripAsciiWhitespace(*text).empty()) {
    // Most likely the wrong file: an empty script is the default behaviour.
    return absl::InvalidArgumentError(
        absl::StrCat("script ", path,
                     ": empty (a script has rules, a fallback or a "
                     "greeting)"));
  }
  return ParseScript(
      *text,
      absl::EndsWith(path, ".json") ? ScriptFormat::kJson : ScriptFormat::kText,
      path);
}

std::string ScriptToText(const Script& script) {
  std::string out;
  google::protobuf::TextFormat::PrintToString(script, &out);
  return out;
}

// --- the responder ---

absl::StatusOr<std::unique_ptr<ScriptedResponder::Compiled>>
ScriptedResponder::Compile(const Script& script) {
  if (absl::Status s = ValidateScript(script); !s.ok()) return s;
  auto compiled = std::make_unique<Compiled>();
  for (int i = 0; i < script.rules_size(); ++i) {
    CompiledRule rule;
    rule.proto = script.rules(i);
    rule.label = RuleLabel(rule.proto, i);
    rule.when = CompiledMatcher::From(rule.proto.when());
    if (rule.proto.when().kind_case() == Matcher::kEquals &&
        !rule.proto.when().ignore_case()) {
      compiled->exact[rule.proto.when().equals()].push_back(
          static_cast<size_t>(i));
    } else {
      compiled->general.push_back(static_cast<size_t>(i));
    }
    compiled->rules.push_back(std::move(rule));
  }
  if (!script.has_fallback()) {
    compiled->fallback = "Received";
  } else if (script.fallback().kind_case() == Fallback::kReply) {
    compiled->fallback = script.fallback().reply();
  }
  compiled->seed = script.seed();
  return compiled;
}

absl::StatusOr<std::shared_ptr<ScriptedResponder>> ScriptedResponder::Create(
    const Script& script) {
  absl::StatusOr<std::unique_ptr<Compiled>> compiled = Compile(script);
  if (!compiled.ok()) return compiled.status();
  std::shared_ptr<ScriptedResponder> responder(new ScriptedResponder(script));
  absl::MutexLock lock(&responder->mu_);
  responder->rng_.seed((*compiled)->seed);
  responder->compiled_ = *std::move(compiled);
  return responder;
}

ScriptedResponder::ScriptedResponder(const Script& script) : initial_(script) {}

ScriptedResponder::~ScriptedResponder() = default;

absl::Status ScriptedResponder::ApplyTo(ServerOptions* options) {
  if (initial_.has_framing()) {
    absl::StatusOr<Framing> framing = FramingFrom(initial_.framing());
    if (!framing.ok()) return framing.status();
    options->framing = *framing;
  }
  if (initial_.has_greeting() &&
      initial_.greeting().kind_case() == Response::kBytes) {
    options->greeting = Reply(initial_.greeting().bytes());
  }
  const ServerFaults& faults = initial_.faults();
  options->reply_latency = FromProto(faults.latency());
  options->bytes_per_second = static_cast<int64_t>(faults.bytes_per_second());
  options->close_after_bytes =
      faults.close_after_bytes() == 0 ? SIZE_MAX : faults.close_after_bytes();
  options->responder = AsResponder();
  return absl::OkStatus();
}

Responder ScriptedResponder::AsResponder() {
  std::shared_ptr<ScriptedResponder> self = shared_from_this();
  return [self](const ReceivedMessage& m) { return self->Respond(m); };
}

absl::Status ScriptedResponder::Replace(const Script& script) {
  absl::StatusOr<std::unique_ptr<Compiled>> compiled = Compile(script);
  if (!compiled.ok()) return compiled.status();
  absl::MutexLock lock(&mu_);
  rng_.seed((*compiled)->seed);
  compiled_ = *std::move(compiled);
  unmatched_.clear();
  return absl::OkStatus();
}

void ScriptedResponder::SetCallback(const std::string& name,
                                    ScriptCallback callback) {
  absl::MutexLock lock(&mu_);
  callbacks_[name] = std::move(callback);
}

std::optional<Reply> ScriptedResponder::Respond(
    const ReceivedMessage& message) {
  std::vector<std::string> groups;
  Reply reply;
  ScriptCallback callback;
  {
    absl::MutexLock lock(&mu_);
    CompiledRule* matched = nullptr;
    // The rules that can match, in rule order: those indexed under exactly
    // these bytes, merged with every rule the index cannot hold.
    static const std::vector<size_t> kNone;
    const auto exact_it = compiled_->exact.find(message.bytes);
    const std::vector<size_t>& exact =
        exact_it == compiled_->exact.end() ? kNone : exact_it->second;
    const std::vector<size_t>& general = compiled_->general;
    for (size_t e = 0, g = 0; e < exact.size() || g < general.size();) {
      const bool take_exact =
          g == general.size() || (e < exact.size() && exact[e] < general[g]);
      CompiledRule& rule =
          compiled_->rules[take_exact ? exact[e++] : general[g++]];
      if (rule.proto.max_matches() > 0 &&
          rule.matches >= rule.proto.max_matches()) {
        continue;
      }
      groups.clear();
      if (rule.when.Matches(message.bytes, &groups)) {
        matched = &rule;
        break;
      }
    }
    if (matched == nullptr) {
      UnmatchedMessage miss;
      miss.connection_id = message.connection_id;
      miss.bytes = std::string(message.bytes);
      size_t best = 0;
      // The nearest rule is looked for among the first rules only: with a huge
      // script a miss would otherwise cost as much as matching every rule.
      const size_t considered =
          std::min(compiled_->rules.size(), kMaxNearMissRules);
      for (size_t i = 0; i < considered; ++i) {
        const CompiledRule& rule = compiled_->rules[i];
        std::pair<size_t, std::string> m = rule.when.Miss(message.bytes);
        if (rule.proto.max_matches() > 0 &&
            rule.matches >= rule.proto.max_matches()) {
          m = {0, absl::StrCat("used up: max_matches ",
                               rule.proto.max_matches(), " reached")};
          if (rule.when.Matches(message.bytes, nullptr)) m.first = SIZE_MAX;
        }
        if (miss.nearest_rule.empty() || m.first > best) {
          best = m.first;
          miss.nearest_rule = rule.label;
          miss.why = m.second;
        }
      }
      reply.note =
          absl::StrCat("no rule matched",
                       miss.nearest_rule.empty()
                           ? ""
                           : absl::StrCat("; nearest rule \"",
                                          miss.nearest_rule, "\": ", miss.why));
      unmatched_.push_back(std::move(miss));
      if (unmatched_.size() > kMaxUnmatched) unmatched_.pop_front();
      if (!compiled_->fallback.has_value()) return reply;  // silence, noted
      reply.bytes = *compiled_->fallback;
      return reply;
    }

    const Rule& rule = matched->proto;
    const uint64_t n = matched->matches++;
    reply.note = absl::StrCat("rule \"", matched->label, "\"");
    if (rule.responses_size() > 0) {
      size_t index = static_cast<size_t>(n);
      const size_t count = static_cast<size_t>(rule.responses_size());
      if (index >= count) {
        index = rule.after_last() == Rule::CYCLE ? index % count : count - 1;
      }
      if (count > 1)
        absl::StrAppend(&reply.note, " response ", index + 1, "/", count);
      const Response& response = rule.responses(static_cast<int>(index));
      switch (response.kind_case()) {
        case Response::kBytes:
          reply.bytes = response.bytes();
          break;
        case Response::kRewrite: {
          std::vector<re2::StringPiece> views(groups.begin(), groups.end());
          if (!matched->when.re->Rewrite(&reply.bytes, response.rewrite(),
                                         views.data(),
                                         static_cast<int>(views.size()))) {
            absl::StrAppend(&reply.note, "; rewrite failed");
          }
          break;
        }
        case Response::kCallback: {
          auto it = callbacks_.find(response.callback());
          if (it == callbacks_.end()) {
            absl::StrAppend(&reply.note, "; callback \"", response.callback(),
                            "\" is not registered: no reply");
          } else {
            callback = it->second;
          }
          break;
        }
        default:
          break;  // none
      }
    }

    const Fault& fault = rule.fault();
    bool apply = true;
    if (fault.has_probability()) {
      apply = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) <
              fault.probability();
    }
    if (apply) {
      reply.delay = FromProto(fault.delay());
      reply.slice_bytes = fault.slice_bytes();
      reply.slice_pause = FromProto(fault.slice_pause());
      reply.bytes_per_second = static_cast<int64_t>(fault.bytes_per_second());
      if (fault.send_only() > 0) reply.send_only = fault.send_only();
      reply.then_delay = FromProto(fault.action_delay());
      switch (fault.action()) {
        case Fault::CLOSE:
          reply.then = Reply::Then::kClose;
          break;
        case Fault::CLOSE_WITHOUT_REPLY:
          reply.then = Reply::Then::kClose;
          reply.send_only = 0;
          callback = nullptr;
          break;
        case Fault::RESET:
          reply.then = Reply::Then::kReset;
          break;
        case Fault::HALF_CLOSE:
          reply.then = Reply::Then::kHalfClose;
          break;
        case Fault::STALL:
          reply.then = Reply::Then::kStall;
          reply.send_only = 0;
          callback = nullptr;
          break;
        case Fault::GARBAGE_THEN_CLOSE: {
          const uint64_t size = fault.garbage_bytes() > 0
                                    ? fault.garbage_bytes()
                                    : kDefaultGarbageBytes;
          reply.bytes.clear();
          for (uint64_t i = 0; i < size; ++i) {
            reply.bytes += static_cast<char>(rng_() & 0xff);
          }
          reply.then = Reply::Then::kClose;
          callback = nullptr;
          break;
        }
        default:
          break;
      }
      if (fault.action() != Fault::NONE) {
        absl::StrAppend(&reply.note, "; fault ",
                        Fault::Action_Name(fault.action()));
      }
    } else {
      absl::StrAppend(&reply.note, "; fault skipped (probability ",
                      fault.probability(), ")");
    }
  }
  if (callback) {
    // Outside the lock: the callback may take its time or read the reports.
    std::optional<Reply> built = callback(message, groups);
    if (!built.has_value()) {
      reply.bytes.clear();
    } else {
      reply.bytes = std::move(built->bytes);
    }
  }
  return reply;
}

std::vector<std::string> ScriptedResponder::UnusedRules() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const CompiledRule& rule : compiled_->rules) {
    if (rule.matches == 0) out.push_back(rule.label);
  }
  return out;
}

std::vector<RuleUse> ScriptedResponder::RuleUses() const {
  absl::MutexLock lock(&mu_);
  std::vector<RuleUse> out;
  for (const CompiledRule& rule : compiled_->rules) {
    out.push_back({rule.label, rule.matches});
  }
  return out;
}

std::vector<UnmatchedMessage> ScriptedResponder::UnmatchedMessages() const {
  absl::MutexLock lock(&mu_);
  return std::vector<UnmatchedMessage>(unmatched_.begin(), unmatched_.end());
}

std::string UnmatchedMessage::ToString() const {
  return absl::StrCat(
      "connection ", connection_id, ": ", Quote(bytes), " matched no rule",
      nearest_rule.empty()
          ? ""
          : absl::StrCat("; nearest rule \"", nearest_rule, "\": ", why));
}

// --- builders ---

namespace script {

Matcher Equals(absl::string_view bytes) {
  Matcher m;
  m.set_equals(std::string(bytes));
  return m;
}
Matcher Prefix(absl::string_view bytes) {
  Matcher m;
  m.set_prefix(std::string(bytes));
  return m;
}
Matcher Suffix(absl::string_view bytes) {
  Matcher m;
  m.set_suffix(std::string(bytes));
  return m;
}
Matcher Contains(absl::string_view bytes) {
  Matcher m;
  m.set_contains(std::string(bytes));
  return m;
}
Matcher Regex(absl::string_view re2_regex) {
  Matcher m;
  m.set_regex(std::string(re2_regex));
  return m;
}
Matcher BytePattern(absl::string_view pattern) {
  Matcher m;
  m.set_byte_pattern(std::string(pattern));
  return m;
}
Matcher Any() {
  Matcher m;
  m.set_any(true);
  return m;
}
Matcher AllOf(std::vector<Matcher> matchers) {
  Matcher m;
  for (Matcher& c : matchers)
    *m.mutable_all_of()->add_matchers() = std::move(c);
  return m;
}
Matcher AnyOf(std::vector<Matcher> matchers) {
  Matcher m;
  for (Matcher& c : matchers)
    *m.mutable_any_of()->add_matchers() = std::move(c);
  return m;
}
Matcher Not(Matcher matcher) {
  Matcher m;
  *m.mutable_not_() = std::move(matcher);
  return m;
}
Matcher IgnoreCase(Matcher matcher) {
  matcher.set_ignore_case(true);
  return matcher;
}

Response Bytes(absl::string_view bytes) {
  Response r;
  r.set_bytes(std::string(bytes));
  return r;
}
Response Rewrite(absl::string_view rewrite) {
  Response r;
  r.set_rewrite(std::string(rewrite));
  return r;
}
Response Callback(absl::string_view name) {
  Response r;
  r.set_callback(std::string(name));
  return r;
}
Response NoReply() {
  Response r;
  r.set_none(true);
  return r;
}

Rule When(Matcher matcher, Response response, absl::string_view name) {
  return When(std::move(matcher), std::vector<Response>{std::move(response)},
              name);
}

Rule When(Matcher matcher, std::vector<Response> responses,
          absl::string_view name) {
  Rule rule;
  rule.set_name(std::string(name));
  *rule.mutable_when() = std::move(matcher);
  for (Response& r : responses) *rule.add_responses() = std::move(r);
  return rule;
}

}  // namespace script
}  // namespace fake_tcp
