#ifndef SERVER_CONTROL_CONTROL_CLIENT_H_
#define SERVER_CONTROL_CONTROL_CLIENT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "server/control/control.pb.h"

struct event_base;
struct evhttp_connection;

namespace fake_tcp {

// Reads a control address file (fake_tcp_server --control_address_file).
// NOT_FOUND / the read error naming the path; INVALID_ARGUMENT if it is not
// the JSON of a control.AddressFile with a url and a token.
absl::StatusOr<control::AddressFile> ReadControlAddressFile(
    const std::string& path);

// An HTTP answer: its status code and body.
struct ControlAnswer {
  int code = 0;
  std::string body;
};

// A blocking client of the control API (libevent's evhttp), over one
// keep-alive connection made on the first call.
//
// Not thread-safe: one call at a time. The destructor closes the connection.
//
//   absl::StatusOr<control::AddressFile> address = ReadControlAddressFile(p);
//   fake_tcp::ControlClient client(*address);
//   control::Status status;
//   absl::Status s = client.Call("GET", "/v1/status", nullptr, &status);
class ControlClient {
 public:
  explicit ControlClient(control::AddressFile address);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Sends `method` `path` (with its query) and `body` with the token; returns
  // the answer whatever its code. UNAVAILABLE "control API at <url>: ..." when
  // it cannot be reached or does not answer within `timeout`.
  absl::StatusOr<ControlAnswer> Raw(absl::string_view method,
                                    absl::string_view path,
                                    absl::string_view body,
                                    absl::Duration timeout = absl::Seconds(30));
  // Sends `request` (null: no body) as JSON and parses a 200 answer into
  // `answer` (null: ignored). A 4xx/5xx answer comes back as the status its
  // body names, e.g. NOT_FOUND "POST /v1/connections/7/send: ...".
  absl::Status Call(absl::string_view method, absl::string_view path,
                    const google::protobuf::Message* request,
                    google::protobuf::Message* answer,
                    absl::Duration timeout = absl::Seconds(30));

  const control::AddressFile& address() const { return address_; }

 private:
  const control::AddressFile address_;
  event_base* base_ = nullptr;
  evhttp_connection* connection_ = nullptr;
};

// Returns the status an error answer's body names ({"code", "message"}), or
// UNKNOWN with the body when it is not one.
absl::Status StatusFromAnswer(const ControlAnswer& answer);

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_CLIENT_H_
