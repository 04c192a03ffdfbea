#include "server/control/control_service.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "server/control/control_entries.h"
#include "server/script/script_matcher.h"

namespace fake_tcp {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return DurationFromProto(d);
}

}  // namespace

ControlService::ControlService(FakeTcpServer* server,
                               ControlServiceOptions options)
    : server_(*server),
      options_(std::move(options)),
      initial_script_(
          options_.script != nullptr
              ? std::optional<Script>(options_.script->CurrentScript())
              : std::nullopt) {
  absl::MutexLock lock(&mu_);
  script_ = options_.script;
}

control::LogStats ControlService::Stats() const {
  const MessageLog& log = server_.log();
  const LogCounts counts = log.counts();
  control::LogStats stats;
  stats.set_received(counts.received);
  stats.set_sent(counts.sent);
  stats.set_accepted(counts.accepted);
  stats.set_closed(counts.closed);
  stats.set_dropped(counts.dropped);
  stats.set_open(counts.open);
  stats.set_max_events(log.limits().max_events);
  stats.set_max_bytes(log.limits().max_bytes);
  stats.set_last_sequence(log.last_sequence());
  return stats;
}

control::Status ControlService::GetStatus() {
  control::Status status;
  const ListenerState state = server_.state();
  status.set_listener(std::string(ListenerStateName(state)));
  status.set_address(server_.address());
  status.set_port(server_.port());
  status.set_health_address(options_.health_address);
  status.set_max_connections(server_.max_connections());
  status.set_at_capacity(server_.at_capacity());
  if (absl::StatusOr<std::vector<ConnectionInfo>> connections =
          server_.Connections();
      connections.ok()) {
    for (const ConnectionInfo& info : *connections) {
      if (status.connections_size() >= kStatusListCap) {
        status.set_connections_not_shown(status.connections_not_shown() + 1);
        continue;
      }
      control::Connection* c = status.add_connections();
      c->set_id(info.id);
      c->set_peer(info.peer);
      c->set_bytes_received(info.bytes_received);
      c->set_bytes_sent(info.bytes_sent);
      c->set_messages_received(info.messages_received);
      c->set_pending_output(info.pending_output);
      c->set_state(info.stalled       ? "stalled"
                   : info.half_closed ? "half_closed"
                   : info.peer_closed ? "peer_closed"
                                      : "open");
    }
  }
  *status.mutable_log() = Stats();
  std::shared_ptr<ScriptedResponder> script;
  {
    absl::MutexLock lock(&mu_);
    script = script_;
  }
  if (script != nullptr) {
    status.set_scripted(true);
    for (const RuleUse& use : script->RuleUses()) {
      if (status.rules_size() < kStatusListCap) {
        control::RuleUse* u = status.add_rules();
        u->set_name(use.name);
        u->set_matches(use.matches);
      } else {
        status.set_rules_not_shown(status.rules_not_shown() + 1);
      }
      if (use.matches != 0) continue;
      if (status.unused_rules_size() < kStatusListCap) {
        status.add_unused_rules(use.name);
      } else {
        status.set_unused_rules_not_shown(status.unused_rules_not_shown() + 1);
      }
    }
    for (const UnmatchedMessage& m : script->UnmatchedMessages()) {
      control::NearMiss* miss = status.add_near_misses();
      miss->set_connection_id(m.connection_id);
      miss->set_bytes(m.bytes);
      miss->set_nearest_rule(m.nearest_rule);
      miss->set_why(m.why);
    }
  }
  return status;
}

absl::StatusOr<control::LogPage> ControlService::ReadLog(
    const control::LogQuery& query, const std::atomic<bool>* cancelled) {
  absl::StatusOr<EntryFilter> filter = EntryFilter::From(query);
  if (!filter.ok()) return filter.status();
  const uint32_t limit = query.limit() == 0
                             ? options_.max_page
                             : std::min(query.limit(), options_.max_page);
  const MessageLog& log = server_.log();
  const absl::Time origin = log.origin();
  control::LogPage page;
  // Runs under the log's lock: copies the page, and is done when it holds an
  // entry (or the log is finished, or no wait was asked for).
  bool stopped = false;
  log.Await(
      [&](const MessageLog::View& view) {
        if (cancelled != nullptr && cancelled->load()) return stopped = true;
        page.Clear();
        page.set_next_after(query.after());
        const size_t first = view.IndexOf(query.after() + 1);
        if (first < view.events.size() &&
            view.events[first].sequence > query.after() + 1) {
          page.set_dropped(view.events[first].sequence - query.after() - 1);
        }
        for (size_t i = first; i < view.events.size(); ++i) {
          const Event& event = view.events[i];
          if (!filter->Matches(event)) {
            page.set_next_after(event.sequence);
            continue;
          }
          if (static_cast<uint32_t>(page.entries_size()) == limit) {
            page.set_more(true);
            break;
          }
          ToEntry(event, origin, page.add_entries());
          page.set_next_after(event.sequence);
        }
        return page.entries_size() > 0 || view.finished;
      },
      std::min(FromProto(query.wait()), options_.max_wait));
  if (stopped) return absl::CancelledError("log: cancelled");
  return page;
}

absl::StatusOr<Reply> ControlService::MakeReply(const std::string& op,
                                                const control::SendRequest& r) {
  if (!r.data().empty() && !r.text().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": set data or text, not both"));
  }
  if (r.fault().has_probability() ||
      r.fault().action() == Fault::GARBAGE_THEN_CLOSE) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": fault.probability and GARBAGE_THEN_CLOSE belong in a script"));
  }
  Reply reply(r.data().empty() ? r.text() : r.data());
  ShapeReply(r.fault(), &reply);
  reply.note = "control API";
  return reply;
}

absl::StatusOr<control::ActionResult> ControlService::Send(
    uint64_t connection, const control::SendRequest& r) {
  absl::StatusOr<Reply> reply = MakeReply("send", r);
  if (!reply.ok()) return reply.status();
  if (absl::Status s = server_.Send(connection, *std::move(reply)); !s.ok()) {
    return s;
  }
  control::ActionResult result;
  result.set_connections(1);
  return result;
}

absl::StatusOr<control::ActionResult> ControlService::Broadcast(
    const control::SendRequest& r) {
  absl::StatusOr<Reply> reply = MakeReply("broadcast", r);
  if (!reply.ok()) return reply.status();
  absl::StatusOr<int> sent = server_.Broadcast(*std::move(reply));
  if (!sent.ok()) return sent.status();
  control::ActionResult result;
  result.set_connections(static_cast<uint32_t>(*sent));
  return result;
}

absl::StatusOr<control::ActionResult> ControlService::Close(
    uint64_t connection, const control::CloseRequest& r) {
  control::ActionResult result;
  if (connection == 0) {
    absl::StatusOr<int> closed = server_.DropConnections(r.reset());
    if (!closed.ok()) return closed.status();
    result.set_connections(static_cast<uint32_t>(*closed));
    return result;
  }
  // After what is queued for it: an empty reply, then the close.
  Reply close;
  close.then = r.reset() ? Reply::Then::kReset : Reply::Then::kClose;
  close.note = "control API";
  if (absl::Status s = server_.Send(connection, std::move(close)); !s.ok()) {
    return s;
  }
  result.set_connections(1);
  return result;
}

absl::Status ControlService::Listener(const std::string& action) {
  if (action == "pause") return server_.PauseAccepting();
  if (action == "resume") return server_.ResumeAccepting();
  if (action == "stop") return server_.StopAccepting();
  return absl::InvalidArgumentError(absl::StrCat(
      "listener: unknown action \"", action, "\" (pause, resume, stop)"));
}

absl::Status ControlService::SetScript(const control::ScriptRequest& request,
                                       bool append) {
  absl::MutexLock lock(&mu_);
  Script script = request.script();
  const Script current =
      script_ != nullptr ? script_->CurrentScript() : Script();
  // What only Start() can apply must stay as it was: left out, it is kept.
  if (!script.has_framing() && current.has_framing()) {
    *script.mutable_framing() = current.framing();
  }
  if (!script.has_greeting() && current.has_greeting()) {
    *script.mutable_greeting() = current.greeting();
  }
  if (!script.has_faults() && current.has_faults()) {
    *script.mutable_faults() = current.faults();
  }
  for (const auto& [name, same] :
       {std::pair<const char*, bool>{
            "framing", google::protobuf::util::MessageDifferencer::Equals(
                           script.framing(), current.framing())},
        {"greeting", google::protobuf::util::MessageDifferencer::Equals(
                         script.greeting(), current.greeting())},
        {"faults", google::protobuf::util::MessageDifferencer::Equals(
                       script.faults(), current.faults())}}) {
    if (!same && !append) {
      return absl::InvalidArgumentError(absl::StrCat(
          "script: ", name,
          " is fixed when the server starts (give it at launch, e.g. "
          "--script)"));
    }
  }
  if (append) {
    Script merged = current;
    for (const Rule& rule : script.rules()) *merged.add_rules() = rule;
    script = std::move(merged);
  }
  if (script_ != nullptr) {
    absl::Status s = script_->Replace(script);
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat("script: ", s.message()));
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<ScriptedResponder>> made =
      ScriptedResponder::Create(script);
  if (!made.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("script: ", made.status().message()));
  }
  if (absl::Status s = server_.SetResponder((*made)->AsResponder()); !s.ok()) {
    return s;
  }
  script_ = *std::move(made);
  return absl::OkStatus();
}

absl::Status ControlService::SetReply(const control::ReplyRequest& request) {
  control::SendRequest shape;
  if (request.kind_case() == control::ReplyRequest::kData) {
    shape.set_data(request.data());
  } else if (request.kind_case() == control::ReplyRequest::kText) {
    shape.set_text(request.text());
  } else if (request.kind_case() != control::ReplyRequest::kNone) {
    return absl::InvalidArgumentError("reply: set one of data, text, none");
  }
  *shape.mutable_fault() = request.fault();
  absl::StatusOr<Reply> reply = MakeReply("reply", shape);
  if (!reply.ok()) return reply.status();
  Responder responder;
  if (request.kind_case() == control::ReplyRequest::kNone) {
    responder = [](const ReceivedMessage&) -> std::optional<Reply> {
      return std::nullopt;
    };
  } else {
    responder = [reply = *std::move(reply)](
                    const ReceivedMessage&) -> std::optional<Reply> {
      return reply;
    };
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status s = server_.SetResponder(std::move(responder)); !s.ok()) {
    return s;
  }
  script_ = nullptr;
  return absl::OkStatus();
}

absl::Status ControlService::Clear() {
  if (options_.before_clear)
    options_.before_clear(server_.log().last_sequence());
  server_.log().Clear();
  absl::MutexLock lock(&mu_);
  // Replacing the script with itself resets its match counts and near misses.
  if (script_ != nullptr) return script_->Replace(script_->CurrentScript());
  return absl::OkStatus();
}

absl::StatusOr<control::ResetResult> ControlService::Reset(
    const control::ResetRequest& r) {
  control::ResetResult result;
  {
    absl::MutexLock lock(&mu_);
    Responder responder = server_.options().responder;
    if (options_.script != nullptr) {
      if (absl::Status s = options_.script->Replace(*initial_script_);
          !s.ok()) {
        return absl::InternalError(
            absl::StrCat("reset: the starting script: ", s.message()));
      }
      responder = options_.script->AsResponder();
    }
    if (absl::Status s = server_.SetResponder(std::move(responder)); !s.ok()) {
      return s;
    }
    script_ = options_.script;
  }
  if (server_.state() != ListenerState::kAccepting) {
    if (absl::Status s = server_.ResumeAccepting(); !s.ok()) return s;
  }
  if (!r.keep_connections()) {
    absl::StatusOr<int> closed = server_.DropConnections();
    if (!closed.ok()) return closed.status();
    result.set_connections_closed(static_cast<uint32_t>(*closed));
  }
  // What the stream has: an entry logged between here and the clear (by a
  // client still sending during a reset) is cleared, and may or may not reach
  // the stream.
  const uint64_t through = server_.log().last_sequence();
  if (options_.before_clear) options_.before_clear(through);
  server_.log().Clear();
  result.set_cleared_through(through);
  return result;
}

absl::StatusOr<control::TranscriptResult> ControlService::Transcript() {
  control::TranscriptResult result;
  result.set_text(server_.log().ToString() + "\n");
  if (options_.write_transcript) {
    absl::StatusOr<std::string> path = options_.write_transcript(result.text());
    if (!path.ok()) return path.status();
    result.set_path(*path);
  }
  return result;
}

absl::StatusOr<control::RecordingResult> ControlService::Recording() {
  if (!options_.write_recording) {
    return absl::FailedPreconditionError(
        "the fake does not record (start it with --record=PATH)");
  }
  return options_.write_recording();
}

absl::Status ControlService::Shutdown() {
  if (!options_.shutdown) {
    return absl::UnimplementedError(
        "shutdown: this fake is run by its test process, which stops it");
  }
  options_.shutdown();
  return absl::OkStatus();
}

}  // namespace fake_tcp
