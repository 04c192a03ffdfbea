#include "server/script/scripted_responder.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "server/script/script_loader.h"
#include "server/script/script_matcher.h"

namespace fake_tcp {
namespace {

// Unmatched messages kept for UnmatchedMessages().
constexpr size_t kMaxUnmatched = 1000;
// How many rules (the first ones) a message that matches none is compared with
// to name the nearest.
constexpr size_t kMaxNearMissRules = 1000;
constexpr uint64_t kDefaultGarbageBytes = 16;

std::string RuleLabel(const Rule& rule, int index) {
  return rule.name().empty() ? absl::StrCat("rules[", index, "]") : rule.name();
}

}  // namespace

struct ScriptedResponder::CompiledRule {
  Rule proto;
  // Its name, or "rules[2]".
  std::string label;
  CompiledMatcher when;
  uint64_t matches = 0;
  // True iff it has matched max_matches times already.
  bool UsedUp() const {
    return proto.max_matches() > 0 && matches >= proto.max_matches();
  }
};

struct ScriptedResponder::Compiled {
  std::vector<CompiledRule> rules;
  // Rules whose matcher is a case-sensitive `equals`, by their literal (rule
  // indices in order): a message is compared only with the rules of its own
  // bytes, so 150,000 such rules cost one hash lookup, not 150,000 matches.
  absl::flat_hash_map<std::string, std::vector<size_t>> exact;
  // Every other rule, in order.
  std::vector<size_t> general;
  // std::nullopt: silence.
  std::optional<std::string> fallback;
  uint64_t seed = 0;
};

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
  responder->compiled_ = *std::move(compiled);
  responder->current_ = script;
  return responder;
}

ScriptedResponder::ScriptedResponder(const Script& script) : initial_(script) {}

ScriptedResponder::~ScriptedResponder() = default;

void ScriptedResponder::SetRedactor(std::shared_ptr<const Redactor> redactor) {
  absl::MutexLock lock(&mu_);
  redactor_ = std::move(redactor);
}

absl::Status ScriptedResponder::ApplyTo(ServerOptions* options) {
  if (!options->redact.empty()) {
    absl::StatusOr<std::shared_ptr<const Redactor>> redactor =
        Redactor::Create(options->redact);
    if (!redactor.ok()) return redactor.status();
    SetRedactor(*std::move(redactor));
  }
  if (initial_.has_framing()) {
    absl::StatusOr<Framing> framing = FramingFromConfig(initial_.framing());
    if (!framing.ok()) return framing.status();
    options->framing = *framing;
  }
  if (initial_.has_greeting() &&
      initial_.greeting().kind_case() == Response::kBytes) {
    options->greeting = Reply(initial_.greeting().bytes());
  }
  const ServerFaults& faults = initial_.faults();
  options->reply_latency = DurationFromProto(faults.latency());
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
  compiled_ = *std::move(compiled);
  current_ = script;
  unmatched_.clear();
  return absl::OkStatus();
}

Script ScriptedResponder::CurrentScript() const {
  absl::MutexLock lock(&mu_);
  return current_;
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
    CompiledRule* matched = FindRuleLocked(message.bytes, &groups);
    if (matched == nullptr) return ReplyToUnmatchedLocked(message);
    reply.note = absl::StrCat("rule \"", matched->label, "\"");
    callback = ChooseResponseLocked(*matched, groups, &reply);
    ApplyFaultLocked(matched->proto, message, &reply, &callback);
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

ScriptedResponder::CompiledRule* ScriptedResponder::FindRuleLocked(
    absl::string_view message, std::vector<std::string>* groups) {
  // The rules that can match, in rule order: those indexed under exactly
  // these bytes, merged with every rule the index cannot hold.
  static const std::vector<size_t> kNone;
  const auto exact_it = compiled_->exact.find(message);
  const std::vector<size_t>& exact =
      exact_it == compiled_->exact.end() ? kNone : exact_it->second;
  const std::vector<size_t>& general = compiled_->general;
  for (size_t e = 0, g = 0; e < exact.size() || g < general.size();) {
    const bool take_exact =
        g == general.size() || (e < exact.size() && exact[e] < general[g]);
    CompiledRule& rule =
        compiled_->rules[take_exact ? exact[e++] : general[g++]];
    if (rule.UsedUp()) continue;
    groups->clear();
    if (rule.when.Matches(message, groups)) return &rule;
  }
  return nullptr;
}

Reply ScriptedResponder::ReplyToUnmatchedLocked(
    const ReceivedMessage& message) {
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
    if (rule.UsedUp()) {
      m = {0, absl::StrCat("used up: max_matches ", rule.proto.max_matches(),
                           " reached")};
      if (rule.when.Matches(message.bytes, nullptr)) m.first = SIZE_MAX;
    }
    if (miss.nearest_rule.empty() || m.first > best) {
      best = m.first;
      miss.nearest_rule = rule.label;
      miss.why = m.second;
    }
  }
  if (redactor_ != nullptr) {
    redactor_->RedactInPlace(&miss.bytes);
    redactor_->RedactInPlace(&miss.why);
  }
  Reply reply;
  reply.note =
      absl::StrCat("no rule matched",
                   miss.nearest_rule.empty()
                       ? ""
                       : absl::StrCat("; nearest rule \"", miss.nearest_rule,
                                      "\": ", miss.why));
  unmatched_.push_back(std::move(miss));
  if (unmatched_.size() > kMaxUnmatched) unmatched_.pop_front();
  // No fallback: silence, noted.
  if (compiled_->fallback.has_value()) reply.bytes = *compiled_->fallback;
  return reply;
}

ScriptCallback ScriptedResponder::ChooseResponseLocked(
    CompiledRule& rule, const std::vector<std::string>& groups, Reply* reply) {
  const Rule& proto = rule.proto;
  const uint64_t n = rule.matches++;
  if (proto.responses_size() == 0) return nullptr;
  size_t index = static_cast<size_t>(n);
  const size_t count = static_cast<size_t>(proto.responses_size());
  if (index >= count) {
    index = proto.after_last() == Rule::CYCLE ? index % count : count - 1;
  }
  if (count > 1) {
    absl::StrAppend(&reply->note, " response ", index + 1, "/", count);
  }
  const Response& response = proto.responses(static_cast<int>(index));
  switch (response.kind_case()) {
    case Response::kBytes:
      reply->bytes = response.bytes();
      return nullptr;
    case Response::kRewrite: {
      std::vector<re2::StringPiece> views(groups.begin(), groups.end());
      if (!rule.when.re->Rewrite(&reply->bytes, response.rewrite(),
                                 views.data(),
                                 static_cast<int>(views.size()))) {
        absl::StrAppend(&reply->note, "; rewrite failed");
      }
      return nullptr;
    }
    case Response::kCallback: {
      auto it = callbacks_.find(response.callback());
      if (it == callbacks_.end()) {
        absl::StrAppend(&reply->note, "; callback \"", response.callback(),
                        "\" is not registered: no reply");
        return nullptr;
      }
      return it->second;
    }
    default:
      return nullptr;  // none
  }
}

void ShapeReply(const Fault& fault, Reply* reply) {
  reply->delay = DurationFromProto(fault.delay());
  reply->slice_bytes = fault.slice_bytes();
  reply->slice_pause = DurationFromProto(fault.slice_pause());
  reply->bytes_per_second = static_cast<int64_t>(fault.bytes_per_second());
  if (fault.send_only() > 0) reply->send_only = fault.send_only();
  reply->then_delay = DurationFromProto(fault.action_delay());
  switch (fault.action()) {
    case Fault::CLOSE:
      reply->then = Reply::Then::kClose;
      break;
    case Fault::CLOSE_WITHOUT_REPLY:
      reply->then = Reply::Then::kClose;
      reply->send_only = 0;
      break;
    case Fault::RESET:
      reply->then = Reply::Then::kReset;
      break;
    case Fault::HALF_CLOSE:
      reply->then = Reply::Then::kHalfClose;
      break;
    case Fault::STALL:
      reply->then = Reply::Then::kStall;
      reply->send_only = 0;
      break;
    default:
      break;
  }
}

void ScriptedResponder::ApplyFaultLocked(const Rule& rule,
                                         const ReceivedMessage& message,
                                         Reply* reply,
                                         ScriptCallback* callback) {
  const Fault& fault = rule.fault();
  if (fault.ByteSizeLong() == 0) return;  // no fault
  // Every random choice for this message comes from its own generator, seeded
  // by the script's seed, the connection and the message's index on it: the
  // same seed gives each connection the same faults however connections
  // interleave.
  const uint64_t seed = compiled_->seed;
  // Built only when a choice is drawn: most faults draw none.
  std::optional<std::mt19937_64> generator;
  auto rng = [&]() -> std::mt19937_64& {
    if (!generator.has_value()) {
      std::seed_seq sequence{static_cast<uint32_t>(seed),
                             static_cast<uint32_t>(seed >> 32),
                             static_cast<uint32_t>(message.connection_id),
                             static_cast<uint32_t>(message.connection_id >> 32),
                             static_cast<uint32_t>(message.index),
                             static_cast<uint32_t>(message.index >> 32)};
      generator.emplace(sequence);
    }
    return *generator;
  };
  if (fault.has_probability() &&
      !(std::uniform_real_distribution<double>(0.0, 1.0)(rng()) <
        fault.probability())) {
    absl::StrAppend(&reply->note, "; fault skipped (probability ",
                    fault.probability(), ", seed ", seed, ")");
    return;
  }
  ShapeReply(fault, reply);
  switch (fault.action()) {
    case Fault::CLOSE_WITHOUT_REPLY:
    case Fault::STALL:
      *callback = nullptr;
      break;
    case Fault::GARBAGE_THEN_CLOSE: {
      const uint64_t size = fault.garbage_bytes() > 0 ? fault.garbage_bytes()
                                                      : kDefaultGarbageBytes;
      reply->bytes.clear();
      for (uint64_t i = 0; i < size; ++i) {
        reply->bytes += static_cast<char>(rng()() & 0xff);
      }
      reply->then = Reply::Then::kClose;
      *callback = nullptr;
      break;
    }
    default:
      break;
  }
  if (fault.action() != Fault::NONE) {
    absl::StrAppend(&reply->note, "; fault ",
                    Fault::Action_Name(fault.action()));
    if (fault.has_probability() ||
        fault.action() == Fault::GARBAGE_THEN_CLOSE) {
      absl::StrAppend(&reply->note, " (seed ", seed, ")");
    }
  } else if (fault.has_probability()) {
    absl::StrAppend(&reply->note, "; fault applied (probability ",
                    fault.probability(), ", seed ", seed, ")");
  }
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
      "connection ", connection_id, ": ", QuoteBytes(bytes), " matched no rule",
      nearest_rule.empty()
          ? ""
          : absl::StrCat("; nearest rule \"", nearest_rule, "\": ", why));
}

}  // namespace fake_tcp
