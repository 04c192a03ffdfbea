#include "server/record/script_recorder.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/record/record_match.h"
#include "server/script/script_loader.h"

namespace fake_tcp {
namespace {

// Longest rule name, in bytes of the message it names.
constexpr size_t kNameBytes = 40;

// One message and what answered it.
struct Exchange {
  std::string request;
  std::string reply;
  // How the connection ended right after the reply, if it did: by the server
  // (a fault, or the upstream going away).
  Fault::Action then = Fault::NONE;
};

struct ConnectionState {
  // Index in `exchanges` of its latest message; none before the first.
  std::optional<size_t> last;
  std::string greeting;
};

// The fault a close event says the server chose, or NONE (the peer closed,
// the server was stopped, a command dropped the connection...).
Fault::Action ServerEnding(const Event& e) {
  const bool chosen = absl::StartsWith(e.detail, "upstream gone: ") ||
                      absl::StartsWith(e.detail, "reply fault: ");
  if (!chosen) return Fault::NONE;
  if (e.type == EventType::kServerClosed) return Fault::CLOSE;
  if (e.type == EventType::kServerReset) return Fault::RESET;
  return Fault::NONE;
}

std::string RuleName(absl::string_view request,
                     absl::flat_hash_set<std::string>* taken) {
  std::string base = absl::CHexEscape(request.substr(0, kNameBytes));
  if (request.size() > kNameBytes) base += "...";
  if (base.empty()) base = "(empty)";
  std::string name = base;
  for (int n = 2; !taken->insert(name).second; ++n) {
    name = absl::StrCat(base, " #", n);
  }
  return name;
}

Response ResponseOf(const std::string& reply) {
  Response r;
  if (reply.empty()) {
    r.set_none(true);
  } else {
    r.set_bytes(reply);
  }
  return r;
}

}  // namespace

absl::StatusOr<Script> RecordScript(const std::vector<Event>& events,
                                    const Framing& framing,
                                    const RecordOptions& options) {
  absl::StatusOr<FramingConfig> config = FramingToConfig(framing);
  if (!config.ok()) return config.status();

  std::vector<Exchange> exchanges;
  std::map<uint64_t, ConnectionState> connections;  // by id: oldest first
  for (const Event& e : events) {
    ConnectionState& conn = connections[e.connection_id];
    switch (e.type) {
      case EventType::kReceived:
        conn.last = exchanges.size();
        exchanges.push_back(Exchange{e.bytes, "", Fault::NONE});
        break;
      case EventType::kSent:
        if (conn.last.has_value()) {
          exchanges[*conn.last].reply += e.bytes;
        } else {
          conn.greeting += e.bytes;
        }
        break;
      default:
        if (IsCloseEvent(e.type) && conn.last.has_value()) {
          exchanges[*conn.last].then = ServerEnding(e);
        }
        break;
    }
  }

  Script script;
  *script.mutable_framing() = *config;
  for (const auto& [id, conn] : connections) {
    if (!conn.greeting.empty()) {
      script.mutable_greeting()->set_bytes(conn.greeting);
      break;
    }
  }
  // Rules in order of first appearance; each exchange goes to its request's
  // pattern's.
  absl::StatusOr<std::unique_ptr<RequestPatterner>> patterner =
      RequestPatterner::Create(options);
  if (!patterner.ok()) return patterner.status();
  struct Group {
    RequestPattern pattern;  // of the first request
    std::string first;       // the first request
    std::vector<Response> responses;
    std::vector<Fault::Action> thens;
  };
  absl::flat_hash_map<std::string, size_t> by_key;
  std::vector<Group> groups;
  for (const Exchange& x : exchanges) {
    RequestPattern pattern = (*patterner)->Pattern(x.request);
    auto [it, added] = by_key.try_emplace(pattern.key, groups.size());
    if (added) groups.push_back(Group{pattern, x.request, {}, {}});
    Group& group = groups[it->second];
    Response response = ResponseOf(x.reply);
    if (std::optional<std::string> rewrite = EchoRewrite(x.reply, pattern);
        rewrite.has_value()) {
      response.set_rewrite(*rewrite);
    }
    group.responses.push_back(std::move(response));
    group.thens.push_back(x.then);
  }
  absl::flat_hash_set<std::string> names;
  for (Group& group : groups) {
    Rule* rule = script.add_rules();
    rule->set_name(RuleName(group.first, &names));
    *rule->mutable_when() = std::move(group.pattern.matcher);
    bool all_same = true;
    for (const Response& r : group.responses) {
      all_same &=
          r.SerializeAsString() == group.responses[0].SerializeAsString();
    }
    if (all_same) {
      *rule->add_responses() = group.responses[0];
    } else {
      for (Response& r : group.responses) *rule->add_responses() = std::move(r);
    }
    Fault::Action then = group.thens[0];
    for (Fault::Action t : group.thens) {
      if (t != then) then = Fault::NONE;
    }
    if (then != Fault::NONE) rule->mutable_fault()->set_action(then);
  }
  return script;
}

}  // namespace fake_tcp
