#include "server/options/options_flags.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// Applies "--name=value" flags as the standalone server does.
absl::StatusOr<ServerOptions> Parse(const std::vector<std::string>& flags) {
  ServerOptions options;
  for (const std::string& flag : flags) {
    if (!absl::StartsWith(flag, "--")) {
      return absl::InvalidArgumentError("not a flag: " + flag);
    }
    const size_t eq = flag.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError("no value: " + flag);
    }
    if (absl::Status s = ApplyServerOptionFlag(
            absl::string_view(flag).substr(2, eq - 2),
            absl::string_view(flag).substr(eq + 1), &options);
        !s.ok()) {
      return s;
    }
  }
  return options;
}

void ExpectSame(const ServerOptions& a, const ServerOptions& b) {
  EXPECT_EQ(a.address, b.address);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.backlog, b.backlog);
  EXPECT_EQ(FramingSpec(a.framing).value_or("?"),
            FramingSpec(b.framing).value_or("!"));
  EXPECT_EQ(a.max_message_size, b.max_message_size);
  EXPECT_EQ(a.max_connections, b.max_connections);
  EXPECT_EQ(a.max_pending_output, b.max_pending_output);
  EXPECT_EQ(a.read_size, b.read_size);
  EXPECT_EQ(a.log_limits.max_events, b.log_limits.max_events);
  EXPECT_EQ(a.log_limits.max_bytes, b.log_limits.max_bytes);
  EXPECT_EQ(a.reply, b.reply);
  ASSERT_EQ(a.greeting.has_value(), b.greeting.has_value());
  if (a.greeting.has_value()) {
    EXPECT_EQ(a.greeting->bytes, b.greeting->bytes);
  }
  EXPECT_EQ(a.reply_latency, b.reply_latency);
  EXPECT_EQ(a.bytes_per_second, b.bytes_per_second);
  EXPECT_EQ(a.close_after_bytes, b.close_after_bytes);
  ASSERT_EQ(a.proxy.has_value(), b.proxy.has_value());
  if (a.proxy.has_value()) {
    EXPECT_EQ(a.proxy->upstream, b.proxy->upstream);
    EXPECT_EQ(a.proxy->connect_timeout, b.proxy->connect_timeout);
    EXPECT_EQ(a.proxy->upstream_gone, b.proxy->upstream_gone);
  }
  ASSERT_EQ(a.tls.has_value(), b.tls.has_value());
  if (a.tls.has_value()) {
    EXPECT_EQ(a.tls->cert_file, b.tls->cert_file);
    EXPECT_EQ(a.tls->key_file, b.tls->key_file);
    EXPECT_EQ(a.tls->client_ca_file, b.tls->client_ca_file);
    EXPECT_EQ(a.tls->alpn, b.tls->alpn);
    EXPECT_EQ(a.tls->min_version, b.tls->min_version);
    EXPECT_EQ(a.tls->handshake_fault, b.tls->handshake_fault);
  }
}

TEST(OptionsFlagsTest, DefaultsRoundTrip) {
  absl::StatusOr<std::vector<std::string>> flags =
      ServerOptionsToFlags(ServerOptions());
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_THAT(*flags, SizeIs(ServerOptionFlagNames().size()));
  absl::StatusOr<ServerOptions> parsed = Parse(*flags);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(*parsed, ServerOptions());
}

TEST(OptionsFlagsTest, EveryFieldRoundTrips) {
  ServerOptions o;
  o.address = "::1";
  o.port = 0;
  o.backlog = 7;
  o.framing = Framing::LengthPrefix(2, Framing::Endian::kLittle, true);
  o.max_message_size = 4096;
  o.max_connections = 3;
  o.max_pending_output = 12345;
  o.read_size = 512;
  o.log_limits.max_events = 99;
  o.log_limits.max_bytes = 1000;
  o.reply = std::string("OK\r\n\0\xff", 6);
  o.greeting = Reply(std::string("hi\n\0", 4));
  o.reply_latency = absl::Milliseconds(25);
  o.bytes_per_second = 800;
  o.close_after_bytes = 10;
  o.proxy = ProxyOptions{};
  o.proxy->upstream = "[::1]:6379";
  o.proxy->connect_timeout = absl::Milliseconds(1500);
  o.proxy->upstream_gone = ProxyOptions::UpstreamGone::kReply;
  o.tls = TlsOptions{};
  o.tls->cert_file = "/certs/server.pem";
  o.tls->key_file = "/certs/server.key";
  o.tls->client_ca_file = "/certs/clients.pem";
  o.tls->alpn = {"h2", "http/1.1"};
  o.tls->min_version = TlsOptions::Version::kTls13;
  o.tls->handshake_fault = TlsOptions::HandshakeFault::kStall;
  absl::StatusOr<std::vector<std::string>> flags = ServerOptionsToFlags(o);
  ASSERT_TRUE(flags.ok()) << flags.status();
  absl::StatusOr<ServerOptions> parsed = Parse(*flags);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(*parsed, o);

  o.reply = std::nullopt;
  flags = ServerOptionsToFlags(o);
  ASSERT_TRUE(flags.ok()) << flags.status();
  parsed = Parse(*flags);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->reply, std::nullopt);
}

TEST(OptionsFlagsTest, WhatHasNoFlagIsAnErrorNamingTheField) {
  ServerOptions with_responder;
  with_responder.responder = [](const ReceivedMessage&) {
    return std::optional<Reply>();
  };
  absl::StatusOr<std::vector<std::string>> r =
      ServerOptionsToFlags(with_responder);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("responder"));

  ServerOptions custom;
  custom.framing = Framing::Custom(
      [](absl::string_view) -> absl::StatusOr<std::optional<Frame>> {
        return std::nullopt;
      });
  r = ServerOptionsToFlags(custom);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("framing"));

  ServerOptions slow_greeting;
  slow_greeting.greeting = Reply("hello");
  slow_greeting.greeting->delay = absl::Seconds(1);
  r = ServerOptionsToFlags(slow_greeting);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("greeting"));
}

TEST(OptionsFlagsTest, BadValuesNameTheFlag) {
  ServerOptions o;
  struct Case {
    const char* name;
    const char* value;
    const char* message;
  };
  for (const Case& c : {
           Case{"port", "70000", "--port must be 0..65535, got 70000"},
           Case{"max_connections", "0", "--max_connections must be positive"},
           Case{"max_pending_output", "-1",
                "--max_pending_output must be >= 0"},
           Case{"framing", "lines", "--framing: "},
           Case{"reply", "\\q", "--reply: "},
           Case{"reply_latency", "-1s", "--reply_latency must be a duration"},
           Case{"log_max_bytes", "x", "--log_max_bytes must be positive"},
           Case{"no_reply", "maybe", "--no_reply: not a bool"},
           Case{"upstream_gone", "explode",
                "--upstream_gone must be close, reset or reply, got explode"},
           Case{"upstream_gone", "reply", "--upstream_gone needs --proxy_to"},
           Case{"proxy_connect_timeout", "0s",
                "--proxy_connect_timeout must be a duration > 0"},
           Case{"proxy_connect_timeout", "1s",
                "--proxy_connect_timeout needs --proxy_to"},
           Case{"tls_min_version", "1.1",
                "--tls_min_version must be 1.2 or 1.3, got 1.1"},
           Case{"tls_handshake_fault", "explode",
                "--tls_handshake_fault must be none, fail, stall or close"},
           Case{"tls_cert", "/x.pem", "--tls_cert needs --tls"},
           Case{"tls", "maybe", "--tls: not a bool"},
       }) {
    const absl::Status s = ApplyServerOptionFlag(c.name, c.value, &o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.name;
  }
  EXPECT_EQ(ApplyServerOptionFlag("bogus", "1", &o).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fake_tcp
