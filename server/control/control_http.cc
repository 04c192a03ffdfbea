#include "server/control/control_http.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/control/control_codec.h"

namespace fake_tcp {

void Answer(evhttp_request* req, int code, const std::string& body) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "application/json");
  evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  evhttp_send_reply(req, code, nullptr, nullptr);
}

void AnswerStatus(evhttp_request* req, const absl::Status& status) {
  Answer(req, HttpStatusFor(status), ControlErrorJson(status));
}

absl::Status Named(const std::string& op, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(op, ": ", status.message()));
}

}  // namespace fake_tcp
