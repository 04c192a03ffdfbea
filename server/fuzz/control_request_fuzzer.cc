// Fuzzes the control API's request decoder: the first byte chooses the
// request type (or the GET /v1/log query string), the rest is the body. A
// body that parses must print as JSON that parses again to the same message.

#include <stddef.h>
#include <stdint.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/control/control.pb.h"
#include "server/control/control_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  std::unique_ptr<google::protobuf::Message> message;
  switch (data[0] % 7) {
    case 0:
      message = std::make_unique<fake_tcp::control::WaitRequest>();
      break;
    case 1:
      message = std::make_unique<fake_tcp::control::SendRequest>();
      break;
    case 2:
      message = std::make_unique<fake_tcp::control::ScriptRequest>();
      break;
    case 3:
      message = std::make_unique<fake_tcp::control::ReplyRequest>();
      break;
    case 4:
      message = std::make_unique<fake_tcp::control::CloseRequest>();
      break;
    case 5:
      message = std::make_unique<fake_tcp::control::LogQuery>();
      break;
    default:
      (void)fake_tcp::LogQueryFromParameters(body);
      return 0;
  }
  if (!fake_tcp::ParseControlJson(body, "fuzz", message.get()).ok()) return 0;
  const std::string json = fake_tcp::ControlJson(*message);
  std::unique_ptr<google::protobuf::Message> again(message->New());
  if (!fake_tcp::ParseControlJson(json, "fuzz", again.get()).ok()) abort();
  if (!google::protobuf::util::MessageDifferencer::Equals(*message, *again)) {
    abort();
  }
  return 0;
}
