#include "client/health_client.h"

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace fake_tcp {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

std::shared_ptr<grpc::Channel> MakeChannel(absl::string_view address,
                                           const HealthCallOptions& options) {
  grpc::ChannelArguments args;
  // Reconnect soon after a refused connect: readiness waits should not sleep
  // through gRPC's default one-second backoff.
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left alone on purpose: gRPC uses it as
  // the least time a connection attempt (TCP, then the HTTP/2 SETTINGS
  // exchange) gets, and a small value fails Check on a loaded machine (under
  // TSan, a handshake can take longer than 100 ms) with "connection attempt
  // timed out before receiving SETTINGS frame".
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  if (!options.user_agent.empty()) {
    args.SetString(GRPC_ARG_PRIMARY_USER_AGENT_STRING, options.user_agent);
  }
  // A unique channel, so a wait never reuses a broken subchannel of another
  // call.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  return grpc::CreateCustomChannel(std::string(address),
                                   options.credentials != nullptr
                                       ? options.credentials
                                       : grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> HealthTlsCredentials(
    const HealthTls& tls) {
  using grpc::experimental::IdentityKeyCertPair;
  using grpc::experimental::StaticDataCertificateProvider;
  std::vector<IdentityKeyCertPair> identity;
  if (!tls.client_cert_pem.empty()) {
    identity.push_back({tls.client_key_pem, tls.client_cert_pem});
  }
  grpc::experimental::TlsChannelCredentialsOptions options;
  if (!tls.ca_pem.empty() || !identity.empty()) {
    options.set_certificate_provider(
        std::make_shared<StaticDataCertificateProvider>(tls.ca_pem, identity));
  }
  if (!tls.ca_pem.empty()) options.watch_root_certs();
  if (!identity.empty()) options.watch_identity_key_cert_pairs();
  if (tls.no_verify) {
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  }
  return grpc::experimental::TlsCredentials(options);
}

namespace {

void Prepare(grpc::ClientContext* context, absl::Time deadline,
             const HealthCallOptions& options) {
  context->set_deadline(absl::ToChronoTime(deadline));
  for (const auto& [key, value] : options.metadata) {
    context->AddMetadata(key, value);
  }
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

std::string HealthStatusName(HealthStatus status) {
  return HealthCheckResponse::ServingStatus_Name(status);
}

absl::StatusOr<HealthStatus> CheckHealth(absl::string_view address,
                                         absl::string_view service,
                                         absl::Duration timeout,
                                         const HealthCallOptions& options) {
  return CheckHealth(MakeChannel(address, options), address, service, timeout,
                     options);
}

absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, absl::string_view address,
    absl::string_view service, absl::Duration timeout,
    const HealthCallOptions& options) {
  auto stub = Health::NewStub(channel);
  grpc::ClientContext context;
  Prepare(&context, absl::Now() + timeout, options);
  HealthCheckRequest request;
  request.set_service(std::string(service));
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    return FromGrpc(status, absl::StrCat("health check ", address,
                                         " service \"", service, "\""));
  }
  return response.status();
}

absl::Status WaitUntilServing(absl::string_view address,
                              absl::string_view service, absl::Duration timeout,
                              const HealthCallOptions& options,
                              HealthObservation* seen) {
  HealthObservation ignored;
  if (seen == nullptr) seen = &ignored;
  *seen = HealthObservation();
  const absl::Time deadline = absl::Now() + timeout;
  auto stub = Health::NewStub(MakeChannel(address, options));
  std::string last_seen = "never connected";
  grpc::Status last_error;
  while (absl::Now() < deadline) {
    grpc::ClientContext context;
    Prepare(&context, deadline, options);
    // Blocks until the endpoint accepts (or the deadline), instead of failing
    // at once.
    context.set_wait_for_ready(true);
    HealthCheckRequest request;
    request.set_service(std::string(service));
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader =
        stub->Watch(&context, request);
    HealthCheckResponse response;
    while (reader->Read(&response)) {
      seen->connected = true;
      seen->last_status = response.status();
      if (response.status() == HealthCheckResponse::SERVING) {
        context.TryCancel();
        reader->Finish();
        return absl::OkStatus();
      }
      last_seen = response.status() == HealthCheckResponse::SERVICE_UNKNOWN
                      ? "service unknown"
                      : absl::StrCat("last status ",
                                     HealthStatusName(response.status()));
    }
    last_error = reader->Finish();
    if (last_error.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return FromGrpc(last_error, absl::StrCat("wait for ", address,
                                               ": no health service"));
    }
    // The stream ended (the endpoint went away): watch again until the
    // deadline.
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "waited ", absl::FormatDuration(timeout), " for ", address, " service \"",
      service, "\" to be SERVING: ", last_seen,
      last_error.ok() ? ""
                      : absl::StrCat(" (", last_error.error_message(), ")")));
}

}  // namespace fake_tcp
