#ifndef SERVER_CONTROL_CONTROL_CODEC_H_
#define SERVER_CONTROL_CONTROL_CODEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "server/control/control.pb.h"

namespace fake_tcp {

// Parses a request body as the JSON mapping of `message`'s type, strictly:
// unknown fields, wrong types, trailing commas and malformed JSON are
// INVALID_ARGUMENT "<op>: <what is wrong>"; an empty body is the empty
// message. Pure: the fuzz target drives it alone.
absl::Status ParseControlJson(absl::string_view body, absl::string_view op,
                              google::protobuf::Message* message);

// Returns `message` as JSON (proto field names, every field printed).
std::string ControlJson(const google::protobuf::Message& message);

// Returns the error body for `status`: {"code": "NOT_FOUND", "message": ...}.
std::string ControlErrorJson(const absl::Status& status);

// Returns the HTTP status code for an error status: 400 INVALID_ARGUMENT, 401
// UNAUTHENTICATED, 404 NOT_FOUND, 409 FAILED_PRECONDITION, 413 (see
// kPayloadTooLarge), 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 501
// UNIMPLEMENTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 otherwise.
int HttpStatusFor(const absl::Status& status);

// Parses the query string of GET /v1/log ("after=3&limit=10&kind=received")
// into a LogQuery. INVALID_ARGUMENT names a parameter that is unknown or not a
// number.
absl::StatusOr<control::LogQuery> LogQueryFromParameters(
    absl::string_view query);

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_CODEC_H_
