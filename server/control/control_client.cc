#include "server/control/control_client.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/control/control_codec.h"
#include "server/control/event_base.h"

namespace fake_tcp {
namespace {

struct Exchange {
  event_base* base = nullptr;
  bool answered = false;
  ControlAnswer answer;
};

void OnAnswer(evhttp_request* req, void* arg) {
  Exchange* exchange = static_cast<Exchange*>(arg);
  if (req != nullptr && evhttp_request_get_response_code(req) != 0) {
    exchange->answered = true;
    exchange->answer.code = evhttp_request_get_response_code(req);
    evbuffer* in = evhttp_request_get_input_buffer(req);
    const size_t size = evbuffer_get_length(in);
    exchange->answer.body.assign(
        reinterpret_cast<const char*>(evbuffer_pullup(in, -1)), size);
  }
  event_base_loopexit(exchange->base, nullptr);
}

bool StatusCodeFromName(absl::string_view name, absl::StatusCode* code) {
  for (int c = 0; c <= 16; ++c) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(c)) == name) {
      *code = static_cast<absl::StatusCode>(c);
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<control::AddressFile> ReadControlAddressFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  control::AddressFile address;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // newer servers may say more
  if (!google::protobuf::util::JsonStringToMessage(*text, &address, options)
           .ok() ||
      address.url().empty() || address.token().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("control address file ", path,
                     " is not JSON with a \"url\" and a \"token\": ", *text));
  }
  return address;
}

ControlClient::ControlClient(control::AddressFile address)
    : address_(std::move(address)) {}

ControlClient::~ControlClient() {
  if (connection_ != nullptr) evhttp_connection_free(connection_);
  if (base_ != nullptr) event_base_free(base_);
}

absl::StatusOr<ControlAnswer> ControlClient::Raw(absl::string_view method,
                                                 absl::string_view path,
                                                 absl::string_view body,
                                                 absl::Duration timeout) {
  const std::string where = absl::StrCat("control API at ", address_.url());
  if (connection_ == nullptr) {
    absl::string_view host_port = address_.url();
    if (!absl::ConsumePrefix(&host_port, "http://")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not an http:// URL"));
    }
    absl::StatusOr<HostPort> hp = ParseHostPort(host_port);
    if (!hp.ok()) return hp.status();
    base_ = NewControlEventBase();
    connection_ = base_ == nullptr ? nullptr
                                   : evhttp_connection_base_new(
                                         base_, nullptr, hp->host.c_str(),
                                         static_cast<uint16_t>(hp->port));
    if (base_ == nullptr || connection_ == nullptr) {
      return absl::InternalError(absl::StrCat(where, ": libevent failed"));
    }
  }
  const int64_t us = absl::ToInt64Microseconds(timeout);
  const timeval tv{static_cast<time_t>(us / 1000000),
                   static_cast<suseconds_t>(us % 1000000)};
  evhttp_connection_set_timeout_tv(connection_, &tv);
  Exchange exchange;
  exchange.base = base_;
  evhttp_request* req = evhttp_request_new(&OnAnswer, &exchange);
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Host", "localhost");
  const std::string auth = absl::StrCat("Bearer ", address_.token());
  evhttp_add_header(headers, "Authorization", auth.c_str());
  evhttp_add_header(headers, "Content-Type", "application/json");
  evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  evhttp_cmd_type type = EVHTTP_REQ_GET;
  if (method == "POST") {
    type = EVHTTP_REQ_POST;
  } else if (method == "PUT") {
    type = EVHTTP_REQ_PUT;
  } else if (method == "DELETE") {
    type = EVHTTP_REQ_DELETE;
  }
  const std::string uri(path);
  if (evhttp_make_request(connection_, req, type, uri.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat(where, ": ", method, " ", path, ": cannot send"));
  }
  event_base_dispatch(base_);
  if (!exchange.answered) {
    return absl::UnavailableError(
        absl::StrCat(where, ": ", method, " ", path,
                     ": no answer (is the fake running? within ",
                     absl::FormatDuration(timeout), ")"));
  }
  return std::move(exchange.answer);
}

absl::Status StatusFromAnswer(const ControlAnswer& answer) {
  control::Error error;
  absl::StatusCode code = absl::StatusCode::kUnknown;
  if (ParseControlJson(answer.body, "error", &error).ok() &&
      StatusCodeFromName(error.code(), &code) &&
      code != absl::StatusCode::kOk) {
    return absl::Status(code, error.message());
  }
  return absl::UnknownError(
      absl::StrCat("HTTP ", answer.code, ": ", answer.body));
}

absl::Status ControlClient::Call(absl::string_view method,
                                 absl::string_view path,
                                 const google::protobuf::Message* request,
                                 google::protobuf::Message* answer,
                                 absl::Duration timeout) {
  const std::string body = request == nullptr ? "" : ControlJson(*request);
  absl::StatusOr<ControlAnswer> got = Raw(method, path, body, timeout);
  if (!got.ok()) return got.status();
  if (got->code != 200) return StatusFromAnswer(*got);
  if (answer == nullptr) return absl::OkStatus();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(got->body, answer, options)
           .ok()) {
    return absl::InternalError(
        absl::StrCat(method, " ", path, ": an answer that is not a ",
                     answer->GetTypeName(), ": ", got->body));
  }
  return absl::OkStatus();
}

}  // namespace fake_tcp
