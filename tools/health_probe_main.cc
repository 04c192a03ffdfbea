// A grpc_health_probe-compatible probe (plain text): asks a grpc.health.v1
// endpoint whether a service is SERVING.
//
//   health_probe -addr=127.0.0.1:40123 [-service=fake_tcp_server]
//   [-connect-timeout=1s]
//                [-rpc-timeout=1s] [-user-agent=...] [-rpc-header=k:v ...] [-v]
//                [-wait=30s] [-addr_file=PATH]
//
// Flags are written as grpc_health_probe writes them (one or two dashes, words
// joined by '-' or '_'). Exit codes, as grpc_health_probe's:
//   0 SERVING; 1 invalid arguments; 2 connection failed or timed out;
//   3 RPC failed or timed out (also: no health service, unknown service);
//   4 answered, but not SERVING.
// Beyond it, -wait=D follows Watch until SERVING for up to D instead of failing
// at once.

#include <stdio.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "grpcpp/grpcpp.h"
#include "server/base/file.h"
#include "server/tls/tls.h"
#include "tools/flags.h"

ABSL_FLAG(std::string, addr, "", "Address of the health endpoint (host:port).");
ABSL_FLAG(std::string, service, "",
          "Service name to check (\"\" = the server).");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(1),
          "How long to wait for the connection (e.g. 1s, 500ms).");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(1),
          "How long to wait for the Check call.");
ABSL_FLAG(std::string, user_agent, "grpc_health_probe",
          "User-Agent sent with the call.");
ABSL_FLAG(std::vector<std::string>, rpc_header, {},
          "Metadata key:value sent with the call; repeat the flag for more.");
ABSL_FLAG(bool, v, false, "Say more on stderr.");
ABSL_FLAG(
    absl::Duration, wait, absl::ZeroDuration(),
    "If > 0, wait up to this long (following Watch) for SERVING instead of "
    "checking once.");
ABSL_FLAG(std::string, addr_file, "",
          "Read the address from this file (as fake_tcp_server "
          "--health_address_file writes it), waiting for it to appear for up "
          "to -wait (or -connect-timeout).");
ABSL_FLAG(bool, tls, false,
          "Use TLS (by default, verified against the "
          "system's roots and the address's host name).");
ABSL_FLAG(std::string, tls_ca_cert, "",
          "TLS: the CA certificate (PEM file) to verify the server with.");
ABSL_FLAG(std::string, tls_client_cert, "",
          "TLS: a client certificate (PEM file) for mutual TLS.");
ABSL_FLAG(std::string, tls_client_key, "",
          "TLS: the client certificate's private key (PEM file).");
ABSL_FLAG(bool, tls_no_verify, false,
          "TLS: do not verify the server's certificate.");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name the server's certificate must be for (and the SNI), "
          "instead of the address's host.");

namespace fake_tcp {
namespace {

constexpr int kServing = 0;
constexpr int kInvalidArguments = 1;
constexpr int kConnectionFailed = 2;
constexpr int kRpcFailed = 3;
constexpr int kUnhealthy = 4;

// Rewrites grpc_health_probe spellings (-connect-timeout=1s) to absl's
// (--connect_timeout=1s), and gathers every -rpc-header (repeatable there).
std::vector<std::string> NormalizeArgs(int argc, char** argv,
                                       std::vector<std::string>* headers) {
  std::vector<std::string> out = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') {
      out.push_back(arg);
      continue;
    }
    absl::string_view body = arg;
    body = absl::StripPrefix(absl::StripPrefix(body, "-"), "-");
    const size_t eq = body.find('=');
    std::string name = absl::StrReplaceAll(body.substr(0, eq), {{"-", "_"}});
    const bool has_value = eq != absl::string_view::npos;
    std::string value = has_value ? std::string(body.substr(eq + 1)) : "";
    if (name == "rpc_header") {
      if (!has_value && i + 1 < argc) value = argv[++i];
      headers->push_back(value);
      continue;
    }
    out.push_back(has_value ? absl::StrCat("--", name, "=", value)
                            : absl::StrCat("--", name));
  }
  return out;
}

// The -tls flags, checked as grpc_health_probe checks them, as credentials.
absl::Status TlsFromFlags(HealthCallOptions* call) {
  const bool tls = absl::GetFlag(FLAGS_tls);
  const std::string ca = UserPath(absl::GetFlag(FLAGS_tls_ca_cert));
  const std::string cert = UserPath(absl::GetFlag(FLAGS_tls_client_cert));
  const std::string key = UserPath(absl::GetFlag(FLAGS_tls_client_key));
  const bool no_verify = absl::GetFlag(FLAGS_tls_no_verify);
  const std::string server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (!tls) {
    if (!ca.empty() || !cert.empty() || !key.empty() || no_verify ||
        !server_name.empty()) {
      return absl::InvalidArgumentError("specified -tls-* flags without -tls");
    }
    return absl::OkStatus();
  }
  if (no_verify && !ca.empty()) {
    return absl::InvalidArgumentError(
        "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not "
        "be used)");
  }
  if (no_verify && !server_name.empty()) {
    return absl::InvalidArgumentError(
        "cannot specify -tls-server-name with -tls-no-verify (server name "
        "would not be used)");
  }
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        "-tls-client-cert and -tls-client-key go together");
  }
  HealthTls settings;
  settings.no_verify = no_verify;
  for (const auto& [flag, path, pem] :
       {std::tuple{"-tls-ca-cert", ca, &settings.ca_pem},
        std::tuple{"-tls-client-cert", cert, &settings.client_cert_pem},
        std::tuple{"-tls-client-key", key, &settings.client_key_pem}}) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", text.status().message()));
    }
    *pem = *text;
  }
  if (no_verify) {
    // gRPC loads the system's roots whenever it is given none, even when it
    // will not verify with them: where there are none (a bare container),
    // -tls-no-verify would fail. A throwaway CA, never consulted, stands in.
    absl::StatusOr<TestCertificateAuthority> unused =
        TestCertificateAuthority::Create("health_probe -tls-no-verify");
    if (!unused.ok()) return unused.status();
    settings.ca_pem = unused->ca_pem();
  }
  call->credentials = HealthTlsCredentials(settings);
  call->tls_server_name = server_name;
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Checks a grpc.health.v1 endpoint, as grpc_health_probe does.\n"
      "  health_probe -addr=127.0.0.1:40123 [-service=NAME] [-wait=30s]\n"
      "Exit codes: 0 SERVING, 1 invalid arguments, 2 connection failed, "
      "3 RPC failed, 4 not SERVING.");
  std::vector<std::string> headers;
  std::vector<std::string> args = NormalizeArgs(argc, argv, &headers);
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  // Unknown flags make absl exit with 1: "invalid arguments", as wanted.
  ShowProgramFlagsInHelp();
  absl::ParseCommandLine(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());

  std::string addr = absl::GetFlag(FLAGS_addr);
  const std::string addr_file = UserPath(absl::GetFlag(FLAGS_addr_file));
  const std::string service = absl::GetFlag(FLAGS_service);
  const bool verbose = absl::GetFlag(FLAGS_v);
  if (addr.empty() == addr_file.empty()) {
    fprintf(stderr,
            "error: -addr not specified (or both -addr and -addr_file)\n");
    return kInvalidArguments;
  }
  if (!addr_file.empty()) {
    const absl::Duration wait = absl::GetFlag(FLAGS_wait);
    absl::StatusOr<std::string> read = WaitForAddressFile(
        addr_file, wait > absl::ZeroDuration()
                       ? wait
                       : absl::GetFlag(FLAGS_connect_timeout));
    if (!read.ok()) {
      fprintf(stderr, "timeout: %s\n",
              std::string(read.status().message()).c_str());
      return kConnectionFailed;
    }
    addr = *read;
  }
  HealthCallOptions call;
  if (absl::Status s = TlsFromFlags(&call); !s.ok()) {
    fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    return kInvalidArguments;
  }
  if (absl::GetFlag(FLAGS_connect_timeout) <= absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_rpc_timeout) <= absl::ZeroDuration()) {
    fprintf(stderr, "error: -connect-timeout and -rpc-timeout must be > 0\n");
    return kInvalidArguments;
  }
  call.user_agent = absl::GetFlag(FLAGS_user_agent);
  for (const std::string& header : headers) {
    const size_t colon = header.find(':');
    if (colon == std::string::npos || colon == 0) {
      fprintf(stderr, "error: -rpc-header \"%s\" is not key:value\n",
              header.c_str());
      return kInvalidArguments;
    }
    call.metadata.emplace_back(absl::AsciiStrToLower(header.substr(0, colon)),
                               std::string(absl::StripLeadingAsciiWhitespace(
                                   header.substr(colon + 1))));
  }

  const absl::Duration wait = absl::GetFlag(FLAGS_wait);
  if (wait > absl::ZeroDuration()) {
    if (verbose) {
      fprintf(stderr, "waiting up to %s for %s service \"%s\" to be SERVING\n",
              absl::FormatDuration(wait).c_str(), addr.c_str(),
              service.c_str());
    }
    HealthObservation seen;
    const absl::Status s = WaitUntilServing(addr, service, wait, call, &seen);
    if (s.ok()) {
      fprintf(stderr, "status: SERVING\n");
      return kServing;
    }
    fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
    if (absl::IsUnimplemented(s)) return kRpcFailed;
    return seen.connected ? kUnhealthy : kConnectionFailed;
  }

  // As grpc_health_probe: connect first (within -connect-timeout), then one
  // Check.
  grpc::ChannelArguments channel_args;
  channel_args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, call.user_agent);
  if (!call.tls_server_name.empty()) {
    channel_args.SetSslTargetNameOverride(call.tls_server_name);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      addr,
      call.credentials != nullptr ? call.credentials
                                  : grpc::InsecureChannelCredentials(),
      channel_args);
  const absl::Time connect_start = absl::Now();
  if (!channel->WaitForConnected(absl::ToChronoTime(
          connect_start + absl::GetFlag(FLAGS_connect_timeout)))) {
    fprintf(stderr, "timeout: failed to connect service \"%s\" within %s\n",
            addr.c_str(),
            absl::FormatDuration(absl::GetFlag(FLAGS_connect_timeout)).c_str());
    return kConnectionFailed;
  }
  if (verbose) {
    fprintf(stderr, "establishing connection took %s\n",
            absl::FormatDuration(absl::Now() - connect_start).c_str());
  }
  const absl::Time rpc_start = absl::Now();
  absl::StatusOr<HealthStatus> status = CheckHealth(
      channel, addr, service, absl::GetFlag(FLAGS_rpc_timeout), call);
  if (verbose) {
    fprintf(stderr, "time elapsed: %s\n",
            absl::FormatDuration(absl::Now() - rpc_start).c_str());
  }
  if (!status.ok()) {
    const absl::Status& s = status.status();
    if (absl::IsUnimplemented(s)) {
      fprintf(stderr,
              "error: this server does not implement the grpc health protocol "
              "(grpc.health.v1.Health): %s\n",
              std::string(s.message()).c_str());
    } else if (absl::IsDeadlineExceeded(s)) {
      fprintf(stderr, "timeout: health rpc did not complete within %s\n",
              absl::FormatDuration(absl::GetFlag(FLAGS_rpc_timeout)).c_str());
    } else {
      fprintf(stderr, "error: health rpc failed: %s\n", s.ToString().c_str());
    }
    return kRpcFailed;
  }
  if (*status != ::grpc::health::v1::HealthCheckResponse::SERVING) {
    fprintf(stderr, "service unhealthy (responded with \"%s\")\n",
            HealthStatusName(*status).c_str());
    return kUnhealthy;
  }
  fprintf(stderr, "status: SERVING\n");
  return kServing;
}

}  // namespace
}  // namespace fake_tcp

int main(int argc, char** argv) {
  const int code = fake_tcp::Main(argc, argv);
  // Ends without static destructors: a connect gRPC still runs in its own
  // threads (a TLS handshake that failed verification, a connect that timed
  // out) must not race with the library's teardown.
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}
