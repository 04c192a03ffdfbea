#ifndef SERVER_CONTROL_CONTROL_ENTRIES_H_
#define SERVER_CONTROL_CONTROL_ENTRIES_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/control/control.pb.h"
#include "server/log/message_log.h"

namespace fake_tcp {

// Returns the control API's name of an event kind: "accepted", "received",
// "peer_closed", ... (EventRecord's type names, lower-cased).
std::string EntryKindName(EventType type);

// Fills `entry` from `event`, its offset counted from `origin`.
void ToEntry(const Event& event, absl::Time origin, control::Entry* entry);

// Which log entries a LogQuery asks for (connection, direction, kinds).
class EntryFilter {
 public:
  // INVALID_ARGUMENT naming a direction or kind that does not exist.
  static absl::StatusOr<EntryFilter> From(const control::LogQuery& query);

  bool Matches(const Event& event) const;

 private:
  uint64_t connection_ = 0;
  absl::flat_hash_set<int> types_;
};

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_ENTRIES_H_
