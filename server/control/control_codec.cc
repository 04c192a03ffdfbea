#include "server/control/control_codec.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "server/script/strict_json.h"

namespace fake_tcp {
namespace {

// Decodes %XX and '+' in a query parameter.
std::string Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = 0;
    int lo = 0;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex(s[i + 1])) >= 0 &&
        (lo = hex(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

}  // namespace

absl::Status ParseControlJson(absl::string_view body, absl::string_view op,
                              google::protobuf::Message* message) {
  message->Clear();
  if (body.find_first_not_of(" \t\r\n") == absl::string_view::npos) {
    return absl::OkStatus();
  }
  if (absl::Status strict = CheckStrictJson(body, *message->GetDescriptor());
      !strict.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": the body is not a ", message->GetTypeName(),
                     " in strict JSON: ", strict.message()));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::util::Status s =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(body.data(), body.size()), message,
          options);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": the body is not a ", message->GetTypeName(),
                     " in JSON: ", std::string(s.message())));
  }
  return absl::OkStatus();
}

std::string ControlJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json + "\n";
}

std::string ControlErrorJson(const absl::Status& status) {
  control::Error error;
  error.set_code(absl::StatusCodeToString(status.code()));
  error.set_message(std::string(status.message()));
  return ControlJson(error);
}

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::StatusOr<control::LogQuery> LogQueryFromParameters(
    absl::string_view query) {
  control::LogQuery q;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const std::string name = Unescape(pair.substr(0, eq));
    const std::string value =
        eq == absl::string_view::npos ? "" : Unescape(pair.substr(eq + 1));
    uint64_t number = 0;
    const bool numeric = absl::SimpleAtoi(value, &number);
    auto bad_number = [&] {
      return absl::InvalidArgumentError(absl::StrCat(
          "GET /v1/log: ", name, "=", value, " is not a non-negative number"));
    };
    if (name == "after") {
      if (!numeric) return bad_number();
      q.set_after(number);
    } else if (name == "limit") {
      if (!numeric || number > UINT32_MAX) return bad_number();
      q.set_limit(static_cast<uint32_t>(number));
    } else if (name == "connection") {
      if (!numeric) return bad_number();
      q.set_connection(number);
    } else if (name == "direction") {
      q.set_direction(value);
    } else if (name == "kind") {
      for (absl::string_view kind :
           absl::StrSplit(value, ',', absl::SkipEmpty())) {
        q.add_kinds(std::string(kind));
      }
    } else if (name == "wait") {
      absl::Duration wait;
      if (!absl::ParseDuration(value, &wait) || wait < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "GET /v1/log: wait=", value, " is not a duration (e.g. 5s)"));
      }
      *q.mutable_wait() =
          google::protobuf::util::TimeUtil::NanosecondsToDuration(
              absl::ToInt64Nanoseconds(wait));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("GET /v1/log: unknown parameter \"", name,
                       "\" (after, limit, connection, direction, kind, wait)"));
    }
  }
  return q;
}

}  // namespace fake_tcp
