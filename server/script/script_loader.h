#ifndef SERVER_SCRIPT_SCRIPT_LOADER_H_
#define SERVER_SCRIPT_SCRIPT_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/framing/framing.h"
#include "server/script/script.pb.h"

namespace fake_tcp {

// Returns OK iff `script` is usable; otherwise INVALID_ARGUMENT naming the
// field, e.g. `rules[1].when.regex: missing ): GET (k`.
absl::Status ValidateScript(const Script& script);

// The formats of a script file.
enum class ScriptFormat { kText, kJson };

// How deep messages may nest in a script file (JSON's parser has the same
// bound): deeper input is an error, never a stack overflow.
inline constexpr int kMaxScriptDepth = 100;

// Parses `text` as a Script in `format`; errors name `source` and, for text
// format, the line and column. Then validates it.
absl::StatusOr<Script> ParseScript(absl::string_view text, ScriptFormat format,
                                   absl::string_view source = "script");
// Reads and parses a script file: JSON for ".json", protobuf text format
// otherwise.
absl::StatusOr<Script> LoadScript(const std::string& path);
// Writes `script` in protobuf text format.
std::string ScriptToText(const Script& script);
// Writes `script` to `path` atomically: JSON for ".json", protobuf text format
// otherwise, after `comment` ("# " before each line; text format only).
// Errors begin "write script: " and name the path.
absl::Status WriteScript(const Script& script, const std::string& path,
                         absl::string_view comment = "");

// Returns the Framing a script's `framing` field says; INVALID_ARGUMENT
// naming the field for a bad one (an empty delimiter, header_bytes 3, ...).
absl::StatusOr<Framing> FramingFromConfig(const FramingConfig& config);
// The inverse: `framing` as a script's field; INVALID_ARGUMENT for custom
// framing (C++ code has no script form).
absl::StatusOr<FramingConfig> FramingToConfig(const Framing& framing);

// Returns a script's google.protobuf.Duration as an absl::Duration.
absl::Duration DurationFromProto(const google::protobuf::Duration& d);

}  // namespace fake_tcp

#endif  // SERVER_SCRIPT_SCRIPT_LOADER_H_
