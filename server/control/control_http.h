#ifndef SERVER_CONTROL_CONTROL_HTTP_H_
#define SERVER_CONTROL_CONTROL_HTTP_H_

// How the control server answers an HTTP request (evhttp): a JSON body, an
// error as control.Error with its HTTP status. Internal to
// //server/control:control_server.

#include <event2/http.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/control/control_codec.h"

namespace fake_tcp {

// Sends `body` (JSON) with HTTP status `code`; evhttp then frees `req`.
void Answer(evhttp_request* req, int code, const std::string& body);

// Sends `status` as {"code": ..., "message": ...} with its HTTP status.
void AnswerStatus(evhttp_request* req, const absl::Status& status);

// Prefixes `status`'s message with the request ("POST /v1/wait: ...").
absl::Status Named(const std::string& op, const absl::Status& status);

// The JSON of an answer, or its error.
template <typename T>
absl::StatusOr<std::string> json(const absl::StatusOr<T>& answer) {
  if (!answer.ok()) return answer.status();
  return ControlJson(*answer);
}

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_HTTP_H_
