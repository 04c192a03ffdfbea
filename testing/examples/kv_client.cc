#include "testing/examples/kv_client.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kv {

absl::StatusOr<std::string> KvClient::Call(const std::string& request) {
  absl::Status last;
  for (int attempt = 0; attempt < options_.attempts; ++attempt) {
    if (!connection_.has_value()) {
      absl::StatusOr<fake_tcp::TcpClient> c =
          fake_tcp::TcpClient::Connect(options_.address, options_.timeout);
      if (!c.ok()) {
        last = c.status();
        continue;
      }
      connection_ = *std::move(c);
      ++connections_;
    }
    absl::Status sent = connection_->SendAll(request, options_.timeout);
    absl::StatusOr<std::string> line =
        sent.ok() ? connection_->ReceiveUntil("\n", options_.timeout)
                  : absl::StatusOr<std::string>(sent);
    if (line.ok()) {
      return std::string(absl::StripSuffix(*line, "\n"));
    }
    // Timed out, reset or closed: this connection is done; try a new one.
    last = line.status();
    connection_.reset();
  }
  return absl::Status(last.code(),
                      absl::StrCat("kv: ", options_.attempts,
                                   " attempts failed; last: ", last.message()));
}

absl::Status KvClient::Set(const std::string& key, const std::string& value) {
  absl::StatusOr<std::string> reply =
      Call(absl::StrCat("SET ", key, " ", value, "\n"));
  if (!reply.ok()) return reply.status();
  if (*reply == "OK") return absl::OkStatus();
  if (absl::StartsWith(*reply, "ERR ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv: SET ", key, ": ", *reply));
  }
  return absl::InternalError(
      absl::StrCat("kv: SET ", key, ": unexpected reply \"", *reply, "\""));
}

absl::StatusOr<std::string> KvClient::Get(const std::string& key) {
  absl::StatusOr<std::string> reply = Call(absl::StrCat("GET ", key, "\n"));
  if (!reply.ok()) return reply.status();
  if (absl::StartsWith(*reply, "VALUE ")) {
    return std::string(absl::StripPrefix(*reply, "VALUE "));
  }
  if (*reply == "NOT_FOUND") {
    return absl::NotFoundError(absl::StrCat("kv: ", key, " has no value"));
  }
  if (absl::StartsWith(*reply, "ERR ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv: GET ", key, ": ", *reply));
  }
  return absl::InternalError(
      absl::StrCat("kv: GET ", key, ": unexpected reply \"", *reply, "\""));
}

}  // namespace kv
