#include "server/script_recorder.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/script_loader.h"

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
                                    const Framing& framing) {
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
  // Rules in order of first appearance; each exchange goes to its request's.
  absl::flat_hash_map<std::string, std::vector<const Exchange*>> by_request;
  std::vector<std::string> order;
  for (const Exchange& x : exchanges) {
    std::vector<const Exchange*>& same = by_request[x.request];
    if (same.empty()) order.push_back(x.request);
    same.push_back(&x);
  }
  absl::flat_hash_set<std::string> names;
  for (const std::string& request : order) {
    const std::vector<const Exchange*>& same = by_request[request];
    Rule* rule = script.add_rules();
    rule->set_name(RuleName(request, &names));
    rule->mutable_when()->set_equals(request);
    bool all_same = true;
    for (const Exchange* x : same) all_same &= x->reply == same[0]->reply;
    if (all_same) {
      *rule->add_responses() = ResponseOf(same[0]->reply);
    } else {
      for (const Exchange* x : same)
        *rule->add_responses() = ResponseOf(x->reply);
    }
    Fault::Action then = same[0]->then;
    for (const Exchange* x : same) {
      if (x->then != then) then = Fault::NONE;
    }
    if (then != Fault::NONE) rule->mutable_fault()->set_action(then);
  }
  return script;
}

}  // namespace fake_tcp
