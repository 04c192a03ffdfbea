// A one-shot sender: connects, sends bytes, optionally waits for a reply,
// prints it.
//
//   send --address=127.0.0.1:9500 --data='Hello, world' --wait=bytes:8
//   printf 'GET k\n' | send --file=- --wait=until:\\n
//
// Exit codes: 0 done; 1 other error; 2 invalid arguments; 3 connection refused;
// 4 timed out (connect, send or receive); 5 reset, or the stream ended before
// the awaited reply.

#include <stdio.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "server/base/file.h"
#include "server/framing/framing.h"
#include "server/log/message_log.h"
#include "tools/flags.h"

ABSL_FLAG(std::string, address, "127.0.0.1:9500",
          "Where to connect (host:port).");
ABSL_FLAG(std::string, data, "",
          "Bytes to send (C escapes allowed: 'GET k\\n', '\\x00\\x01').");
ABSL_FLAG(std::string, file, "",
          "Send this file's bytes instead of --data; '-' reads stdin.");
ABSL_FLAG(
    std::string, framing, "raw",
    "Encode the bytes as one message of this framing before sending "
    "(line appends \\n; length:4 prepends a length header; as the server's "
    "--framing).");
ABSL_FLAG(std::string, wait, "eof",
          "What to wait for after sending: none | eof (half-close, read until "
          "the server closes) | bytes:<n> | until:<escaped delimiter> | any.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5),
          "Deadline for connecting.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5),
          "Deadline for sending, and for the reply.");
ABSL_FLAG(bool, hex, false, "Print the reply as hex instead of raw bytes.");

namespace fake_tcp {
namespace {

constexpr int kOk = 0;
constexpr int kOther = 1;
constexpr int kUsage = 2;
constexpr int kRefused = 3;
constexpr int kTimeout = 4;
constexpr int kReset = 5;

int Fail(const absl::Status& s) {
  fprintf(stderr, "send: %s\n", s.ToString().c_str());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kUsage;
    case absl::StatusCode::kDeadlineExceeded:
      return kTimeout;
    case absl::StatusCode::kOutOfRange:
      return kReset;
    case absl::StatusCode::kUnavailable:
      return absl::StrContains(s.message(), "refused") ? kRefused : kReset;
    default:
      return kOther;
  }
}

absl::StatusOr<std::string> Payload() {
  const std::string file = UserPath(absl::GetFlag(FLAGS_file));
  std::string bytes;
  if (file == "-") {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else if (!file.empty()) {
    absl::StatusOr<std::string> contents = ReadFile(file);
    if (!contents.ok()) {
      return absl::Status(
          contents.status().code(),
          absl::StrCat("--file: ", contents.status().message()));
    }
    bytes = *std::move(contents);
  } else {
    std::string error;
    if (!absl::CUnescape(absl::GetFlag(FLAGS_data), &bytes, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--data: ", error));
    }
  }
  absl::StatusOr<Framing> framing =
      ParseFramingSpec(absl::GetFlag(FLAGS_framing));
  if (!framing.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--framing: ", framing.status().message()));
  }
  if (framing->kind == Framing::Kind::kRaw) return bytes;
  return EncodeFrame(*framing, bytes);
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Sends bytes to a TCP server and prints the reply.\n"
      "  send --address=127.0.0.1:9500 --data='Hello, world' --wait=bytes:8\n"
      "Exit codes: 0 done, 1 other error, 2 invalid arguments, 3 refused, "
      "4 timed out, 5 reset or ended early.");
  ParseFlagsOrExit(argc, argv, kUsage);
  absl::StatusOr<std::string> payload = Payload();
  if (!payload.ok()) return Fail(payload.status());

  const std::string wait = absl::GetFlag(FLAGS_wait);
  size_t wait_bytes = 0;
  std::string delimiter;
  if (absl::StartsWith(wait, "bytes:")) {
    if (!absl::SimpleAtoi(absl::StripPrefix(wait, "bytes:"), &wait_bytes) ||
        wait_bytes == 0) {
      return Fail(absl::InvalidArgumentError("--wait=bytes:<n> needs n > 0"));
    }
  } else if (absl::StartsWith(wait, "until:")) {
    std::string error;
    if (!absl::CUnescape(absl::StripPrefix(wait, "until:"), &delimiter,
                         &error) ||
        delimiter.empty()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--wait=until:<delimiter>: ", error.empty() ? "empty" : error)));
    }
  } else if (wait != "none" && wait != "eof" && wait != "any") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--wait must be none, eof, bytes:<n>, until:<delimiter> or any; got \"",
        wait, "\"")));
  }

  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  absl::StatusOr<TcpClient> client = TcpClient::Connect(
      absl::GetFlag(FLAGS_address), absl::GetFlag(FLAGS_connect_timeout));
  if (!client.ok()) return Fail(client.status());
  if (absl::Status s = client->SendAll(*payload, timeout); !s.ok())
    return Fail(s);

  std::string reply;
  if (wait == "eof") {
    if (absl::Status s = client->ShutdownWrite(); !s.ok()) return Fail(s);
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      absl::StatusOr<std::string> chunk =
          client->ReceiveAvailable(deadline - absl::Now());
      if (absl::IsOutOfRange(chunk.status())) break;  // the server closed: done
      if (!chunk.ok()) {
        fwrite(reply.data(), 1, reply.size(), stdout);
        return Fail(chunk.status());
      }
      reply += *chunk;
    }
  } else if (wait_bytes > 0) {
    absl::StatusOr<std::string> r = client->ReceiveExactly(wait_bytes, timeout);
    if (!r.ok()) return Fail(r.status());
    reply = *std::move(r);
  } else if (!delimiter.empty()) {
    absl::StatusOr<std::string> r = client->ReceiveUntil(delimiter, timeout);
    if (!r.ok()) return Fail(r.status());
    reply = *std::move(r);
  } else if (wait == "any") {
    absl::StatusOr<std::string> r = client->ReceiveAvailable(timeout);
    if (!r.ok()) return Fail(r.status());
    reply = *std::move(r);
  }
  if (absl::GetFlag(FLAGS_hex)) {
    printf("%s\n", FormatBytes(reply, reply.size()).c_str());
  } else {
    fwrite(reply.data(), 1, reply.size(), stdout);
  }
  fflush(stdout);
  return kOk;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) { return fake_tcp::Main(argc, argv); }
