#ifndef SERVER_RECORD_SCRIPT_RECORDER_H_
#define SERVER_RECORD_SCRIPT_RECORDER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "server/record/record_options.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// Returns a script that answers as the server answered in `events` (a
// server's log, in order; usually a proxy's, see ServerOptions::proxy), for
// replaying a recorded session with no upstream:
//
// - On each connection, the bytes sent after a received message and before
//   its next message answer that message; bytes sent before its first message
//   are its greeting. The script's greeting is the first connection's.
// - One rule per distinct message (per distinct prefix or shape, as `options`
//   says), in order of first appearance, matching it exactly (`equals`) by
//   default, named after its first bytes. Its responses are its replies in
//   the order they were given, across connections: one response when they
//   were all the same, otherwise the sequence (after the last, the last
//   repeats). A message answered with nothing gets `none`. A reply that
//   echoed a varying part of its request is a `rewrite` (RecordOptions).
// - What redaction hid in a message (kRedacted) matches any bytes.
// - A message after which the server (or the upstream) always closed or
//   reset the connection gets a CLOSE or RESET fault.
// - The script's framing is `framing`, the one the messages were cut with.
//
// The replies are what the client was sent, after any faults. Where a client
// sent its next message before the answer to the previous one was out
// (pipelining), the answer is recorded for the later message.
// INVALID_ARGUMENT for custom framing or bad `options`.
absl::StatusOr<Script> RecordScript(
    const std::vector<Event>& events, const Framing& framing,
    const RecordOptions& options = RecordOptions());

}  // namespace fake_tcp

#endif  // SERVER_RECORD_SCRIPT_RECORDER_H_
