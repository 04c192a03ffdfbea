// ControlService's waits (control.WaitRequest): WaitInProgress checks one
// against the log without blocking; Wait blocks its caller on the log's
// condition until the request holds.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "server/control/control_entries.h"
#include "server/control/control_service.h"
#include "server/script/script_matcher.h"

namespace fake_tcp {
namespace {

constexpr absl::Duration kDefaultWait = absl::Seconds(5);
// Entries a timed-out wait shows of what it saw.
constexpr size_t kSeenEntries = 10;

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return DurationFromProto(d);
}

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  *out = google::protobuf::util::TimeUtil::NanosecondsToDuration(
      absl::ToInt64Nanoseconds(d));
}

std::string OnConnection(uint64_t connection) {
  return connection == 0 ? "" : absl::StrCat(" on connection ", connection);
}

// Returns true iff `request`'s condition holds in `view`. Scans the entries
// from `*next` on (each once across calls), counting messages in
// `*seen_messages`; the entry that met a message or close condition goes to
// `*found`.
bool Holds(const control::WaitRequest& request, const MessageLog::View& view,
           const std::optional<CompiledMatcher>& matcher, uint64_t* next,
           uint64_t* seen_messages, std::optional<Event>* found) {
  const uint64_t connection = request.connection();
  switch (request.condition_case()) {
    case control::WaitRequest::kMessages:
      if (connection == 0) return view.counts.received >= request.messages();
      break;
    case control::WaitRequest::kConnections:
      return view.counts.accepted >= request.connections();
    case control::WaitRequest::kOpenConnections:
      return view.counts.open >= request.open_connections();
    default:
      break;
  }
  const bool closed = request.condition_case() == control::WaitRequest::kClosed;
  const uint64_t wanted = std::max<uint64_t>(request.messages(), 1);
  for (size_t i = view.IndexOf(*next); i < view.events.size(); ++i) {
    const Event& event = view.events[i];
    *next = event.sequence + 1;
    if (connection != 0 && event.connection_id != connection) continue;
    const bool hit = closed ? IsCloseEvent(event.type)
                            : event.type == EventType::kReceived &&
                                  (!matcher.has_value() ||
                                   matcher->Matches(event.bytes, nullptr)) &&
                                  ++*seen_messages >= wanted;
    if (hit) {
      *found = event;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WaitInProgress>> ControlService::BeginWait(
    const control::WaitRequest& request) const {
  const uint64_t connection = request.connection();
  absl::Duration timeout =
      request.has_timeout() ? FromProto(request.timeout()) : kDefaultWait;
  if (timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wait: a negative timeout (", absl::FormatDuration(timeout), ")"));
  }
  timeout = std::min(timeout, options_.max_wait);
  std::optional<CompiledMatcher> matcher;
  std::string what;
  switch (request.condition_case()) {
    case control::WaitRequest::kMessages:
      what = absl::StrCat(request.messages(), " messages",
                          OnConnection(connection));
      break;
    case control::WaitRequest::kMatching:
      if (absl::Status s = ValidateMatcher(request.matching(), "matching");
          !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("wait: ", s.message()));
      }
      matcher.emplace(CompiledMatcher::From(request.matching()));
      what = absl::StrCat("a message that ", matcher->Describe(),
                          OnConnection(connection));
      break;
    case control::WaitRequest::kConnections:
      what = absl::StrCat(request.connections(), " connections accepted");
      break;
    case control::WaitRequest::kOpenConnections:
      what = absl::StrCat(request.open_connections(), " connections open");
      break;
    case control::WaitRequest::kClosed:
      if (connection == 0) {
        return absl::InvalidArgumentError(
            "wait: closed needs a connection (\"connection\": ID)");
      }
      what = absl::StrCat("connection ", connection, " to close");
      break;
    default:
      return absl::InvalidArgumentError(
          "wait: no condition: set one of messages, matching, connections, "
          "open_connections, closed");
  }
  return std::unique_ptr<WaitInProgress>(
      new WaitInProgress(*this, server_.log(), request, timeout,
                         std::move(matcher), std::move(what)));
}

WaitInProgress::WaitInProgress(const ControlService& service,
                               const MessageLog& log,
                               control::WaitRequest request,
                               absl::Duration timeout,
                               std::optional<CompiledMatcher> matcher,
                               std::string what)
    : service_(service),
      log_(log),
      request_(std::move(request)),
      timeout_(timeout),
      matcher_(std::move(matcher)),
      what_(std::move(what)),
      start_(absl::Now()),
      origin_(log.origin()) {}

bool WaitInProgress::CheckLocked(const MessageLog::View& view) {
  finished_ = view.finished;
  // Once it held it holds: absl may evaluate a condition again after it was
  // true (the woken waiter checks it itself), and the scan has moved past the
  // entry that met it.
  held_ = held_ ||
          Holds(request_, view, matcher_, &next_, &seen_messages_, &found_);
  return held_ || finished_;
}

bool WaitInProgress::Check() {
  return log_.Await(
      [this](const MessageLog::View& view) { return CheckLocked(view); },
      absl::ZeroDuration());
}

control::WaitResult WaitInProgress::Result() {
  control::WaitResult result;
  result.set_satisfied(held_);
  result.set_waited_for(what_);
  SetDuration(absl::Now() - start_, result.mutable_waited());
  if (found_.has_value()) ToEntry(*found_, origin_, result.mutable_event());
  *result.mutable_seen() = service_.Stats();
  if (!held_) {
    if (finished_) result.set_ended("the server stopped");
    log_.Await(
        [&](const MessageLog::View& view) {
          const size_t n = std::min(view.events.size(), kSeenEntries);
          for (size_t i = view.events.size() - n; i < view.events.size(); ++i) {
            ToEntry(view.events[i], origin_, result.add_last_entries());
          }
          return true;
        },
        absl::ZeroDuration());
  }
  return result;
}

absl::StatusOr<control::WaitResult> ControlService::Wait(
    const control::WaitRequest& request, const std::atomic<bool>* cancelled) {
  absl::StatusOr<std::unique_ptr<WaitInProgress>> wait = BeginWait(request);
  if (!wait.ok()) return wait.status();
  bool stopped = false;
  server_.log().Await(
      [&](const MessageLog::View& view) {
        if (cancelled != nullptr && cancelled->load()) return stopped = true;
        return (*wait)->CheckLocked(view);
      },
      (*wait)->timeout());
  if (stopped) {
    return absl::CancelledError(
        absl::StrCat("wait for ", (*wait)->what_, ": cancelled"));
  }
  return (*wait)->Result();
}

void ControlService::Wake() { server_.log().WakeWaiters(); }

}  // namespace fake_tcp
