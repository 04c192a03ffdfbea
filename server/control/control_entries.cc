#include "server/control/control_entries.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/common.h"
#include "server/log/event_record.pb.h"
#include "server/log/event_stream.h"

namespace fake_tcp {
namespace {

bool IsUtf8(absl::string_view bytes) {
  // proto3 string fields must hold valid UTF-8.
  return google::protobuf::internal::IsStructurallyValidUTF8(
      bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace

std::string EntryKindName(EventType type) {
  Event event;
  event.type = type;
  return absl::AsciiStrToLower(EventRecord::Type_Name(ToRecord(event).type()));
}

void ToEntry(const Event& event, absl::Time origin, control::Entry* entry) {
  entry->set_sequence(event.sequence);
  entry->set_kind(EntryKindName(event.type));
  entry->set_connection(event.connection_id);
  entry->set_peer(event.peer);
  entry->set_time(
      absl::FormatTime(absl::RFC3339_full, event.time, absl::UTCTimeZone()));
  entry->set_offset_seconds(absl::ToDoubleSeconds(event.time - origin));
  entry->set_bytes(event.bytes);
  if (IsUtf8(event.bytes)) entry->set_text(event.bytes);
  entry->set_detail(IsUtf8(event.detail) ? event.detail : "");
}

absl::StatusOr<EntryFilter> EntryFilter::From(const control::LogQuery& query) {
  EntryFilter filter;
  filter.connection_ = query.connection();
  if (query.direction() == "received") {
    filter.types_.insert(static_cast<int>(EventType::kReceived));
  } else if (query.direction() == "sent") {
    filter.types_.insert(static_cast<int>(EventType::kSent));
  } else if (!query.direction().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log: direction \"", query.direction(), "\" is not received or sent"));
  }
  absl::flat_hash_set<int> kinds;
  for (const std::string& kind : query.kinds()) {
    bool known = false;
    for (int t = static_cast<int>(EventType::kAccepted);
         t <= static_cast<int>(EventType::kTls); ++t) {
      if (EntryKindName(static_cast<EventType>(t)) == kind) {
        kinds.insert(t);
        known = true;
      }
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("log: no event kind \"", kind,
                       "\" (accepted, received, sent, peer_closed, reset, "
                       "server_closed, ...)"));
    }
  }
  if (filter.types_.empty()) {
    filter.types_ = std::move(kinds);
  } else if (!kinds.empty() && !kinds.contains(*filter.types_.begin())) {
    // A direction and kinds without it: nothing matches.
    filter.types_ = {-1};
  }
  return filter;
}

bool EntryFilter::Matches(const Event& event) const {
  if (connection_ != 0 && event.connection_id != connection_) return false;
  return types_.empty() || types_.contains(static_cast<int>(event.type));
}

}  // namespace fake_tcp
