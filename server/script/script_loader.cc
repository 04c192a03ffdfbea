#include "server/script/script_loader.h"

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "re2/re2.h"
#include "server/base/file.h"
#include "server/script/script_matcher.h"
#include "server/script/strict_json.h"

namespace fake_tcp {
namespace {

constexpr uint64_t kMaxGarbageBytes = uint64_t{16} << 20;
// Script files larger than this are refused.
constexpr size_t kMaxScriptBytes = size_t{16} << 20;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
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

}  // namespace

absl::Duration DurationFromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<Framing> FramingFromConfig(const FramingConfig& config) {
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

absl::StatusOr<FramingConfig> FramingToConfig(const Framing& framing) {
  FramingConfig config;
  switch (framing.kind) {
    case Framing::Kind::kRaw:
      config.set_raw(true);
      return config;
    case Framing::Kind::kDelimiter:
      config.set_delimiter(framing.delimiter);
      return config;
    case Framing::Kind::kLengthPrefix: {
      FramingConfig::LengthPrefix* prefix = config.mutable_length_prefix();
      prefix->set_header_bytes(static_cast<uint32_t>(framing.header_bytes));
      prefix->set_little_endian(framing.endian == Framing::Endian::kLittle);
      prefix->set_includes_header(framing.length_includes_header);
      return config;
    }
    case Framing::Kind::kFixedSize:
      config.set_fixed_size(framing.fixed_size);
      return config;
    case Framing::Kind::kCustom:
      break;
  }
  return absl::InvalidArgumentError(
      "framing: custom framing (C++ code) has no script form");
}

absl::Status ValidateScript(const Script& script) {
  if (script.has_framing()) {
    if (absl::StatusOr<Framing> f = FramingFromConfig(script.framing());
        !f.ok()) {
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

// namespace {

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
    // Strict first: protobuf's parser lets trailing commas, single quotes,
    // duplicate keys and "yes" for a bool through.
    if (absl::Status strict = CheckStrictJson(text, *Script::descriptor());
        !strict.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", strict.message()));
    }
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

absl::Status WriteScript(const Script& script, const std::string& path,
                         absl::string_view comment) {
  std::string text;
  if (absl::EndsWith(path, ".json")) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    const auto status =
        google::protobuf::util::MessageToJsonString(script, &text, options);
    if (!status.ok()) {
      return absl::InternalError(absl::StrCat("write script ", path, ": ",
                                              std::string(status.message())));
    }
  } else {
    for (absl::string_view line : absl::StrSplit(comment, '\n')) {
      if (!comment.empty()) absl::StrAppend(&text, "# ", line, "\n");
    }
    text += ScriptToText(script);
  }
  if (absl::Status s = WriteFileAtomically(path, text); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("write script: ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace fake_tcp
