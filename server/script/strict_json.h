// Strict JSON for protobuf messages: what protobuf's own JSON parser lets
// through.
//
// Protobuf 3.21's parser accepts trailing commas, single-quoted strings,
// duplicate keys and "yes" for a bool. A script or control request written that
// way is a mistake that should be named, with where it is, before the fake runs
// with something the author did not mean. CheckStrictJson reads the text with
// RapidJSON (strict RFC 8259) and walks it along the message's descriptor under
// the proto3 JSON mapping; protobuf's parser then does the rest (base64, number
// ranges, enum names, durations).

#ifndef FAKE_TCP_SERVER_SERVER_STRICT_JSON_H_
#define FAKE_TCP_SERVER_SERVER_STRICT_JSON_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace fake_tcp {

// Nesting deeper than this is an error (each object and array is one level).
inline constexpr int kMaxJsonDepth = 100;

// OK when `text` is one strict JSON value whose shape `type` accepts: no
// trailing commas, comments, single quotes or duplicate keys; every key a field
// of its message (by its proto or JSON name), at most one member of each oneof;
// a bool only true or false, a string field only a string, a number field a
// number or a numeric string, an enum a name or a number, a message an object,
// a repeated field an array. Otherwise InvalidArgument "LINE:COLUMN: PATH: what
// is wrong", PATH as in `rules[0].when.any`.
absl::Status CheckStrictJson(absl::string_view text,
                             const google::protobuf::Descriptor& type);

}  // namespace fake_tcp

#endif  // FAKE_TCP_SERVER_SERVER_STRICT_JSON_H_
