#include "server/options/server_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/base/net.h"
#include "server/log/redactor.h"

namespace fake_tcp {

absl::string_view ListenerStateName(ListenerState state) {
  switch (state) {
    case ListenerState::kNotStarted:
      return "not started";
    case ListenerState::kAccepting:
      return "accepting";
    case ListenerState::kPaused:
      return "paused";
    case ListenerState::kRefusing:
      return "refusing";
    case ListenerState::kStopped:
      return "stopped";
  }
  return "unknown";
}

absl::string_view UpstreamGoneName(ProxyOptions::UpstreamGone gone) {
  switch (gone) {
    case ProxyOptions::UpstreamGone::kClose:
      return "close";
    case ProxyOptions::UpstreamGone::kReset:
      return "reset";
    case ProxyOptions::UpstreamGone::kReply:
      return "reply";
  }
  return "unknown";
}

absl::Status ValidateServerOptions(const ServerOptions& options) {
  if (absl::StatusOr<std::shared_ptr<const Redactor>> redactor =
          Redactor::Create(options.redact);
      !redactor.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: ", redactor.status().message()));
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: port must be 0..65535, got ", options.port));
  }
  if (!options.unix_socket.empty()) {
    const std::string address = absl::StrCat("unix:", options.unix_socket);
    if (absl::StatusOr<SocketAddress> un = ParseUnixAddress(address);
        !un.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: unix_socket ", un.status().message()));
    }
    if (options.unix_socket_mode < 0 || options.unix_socket_mode > 0777) {
      return absl::InvalidArgumentError(
          absl::StrFormat("Start: unix_socket_mode must be 0000..0777, got %o",
                          options.unix_socket_mode));
    }
  }
  if (options.backlog <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: backlog must be positive, got ", options.backlog));
  }
  if (options.max_message_size == 0) {
    return absl::InvalidArgumentError("Start: max_message_size must be > 0");
  }
  if (options.framing.kind == Framing::Kind::kFixedSize &&
      options.framing.fixed_size > options.max_message_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Start: fixed-size framing of ", options.framing.fixed_size,
        " bytes is larger than max_message_size ", options.max_message_size,
        " (every message would be oversize)"));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("Start: max_connections must be > 0");
  }
  if (options.read_size == 0 || options.read_size > kMaxReadSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: read_size must be 1..", kMaxReadSize, ", got ",
                     options.read_size));
  }
  if (options.log_limits.max_events == 0) {
    return absl::InvalidArgumentError(
        "Start: log_limits.max_events must be > 0");
  }
  if (options.bytes_per_second < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: bytes_per_second must be >= 0, got ",
                     options.bytes_per_second));
  }
  if (options.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: drain_timeout must be >= 0, got ",
                     absl::FormatDuration(options.drain_timeout)));
  }
  if (options.reply_latency < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Start: reply_latency must be >= 0, got ",
                     absl::FormatDuration(options.reply_latency)));
  }
  if (absl::Status s = ValidateFraming(options.framing); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Start: ", s.message()));
  }
  if (options.proxy.has_value() && IsUnixAddress(options.proxy->upstream)) {
    if (absl::StatusOr<SocketAddress> un =
            ParseUnixAddress(options.proxy->upstream);
        !un.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.upstream: ", un.status().message()));
    }
  } else if (options.proxy.has_value()) {
    absl::StatusOr<HostPort> upstream = ParseHostPort(options.proxy->upstream);
    if (!upstream.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.upstream: ", upstream.status().message()));
    }
    if (upstream->port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.upstream: ", options.proxy->upstream,
                       ": port 0 is no server's port"));
    }
    if (options.proxy->connect_timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: proxy.connect_timeout must be > 0, got ",
                       absl::FormatDuration(options.proxy->connect_timeout)));
    }
  }
  return absl::OkStatus();
}

}  // namespace fake_tcp
