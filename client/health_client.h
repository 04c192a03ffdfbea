#ifndef CLIENT_HEALTH_CLIENT_H_
#define CLIENT_HEALTH_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace fake_tcp {

using HealthStatus = ::grpc::health::v1::HealthCheckResponse::ServingStatus;

// Returns the status's protocol name: "SERVING", "NOT_SERVING",
// "SERVICE_UNKNOWN", ...
std::string HealthStatusName(HealthStatus status);

// How a health call connects and identifies itself.
struct HealthCallOptions {
  // Prefix of the User-Agent header, when not empty.
  std::string user_agent;
  // Sent with the call.
  std::vector<std::pair<std::string, std::string>> metadata;
  // The channel's credentials; null: plaintext. HealthTlsCredentials() makes
  // TLS ones.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // TLS: the name the server's certificate must be for (and the SNI),
  // instead of the address's host.
  std::string tls_server_name;
};

// How a health client speaks TLS (grpc_health_probe's -tls flags).
struct HealthTls {
  // The CA to trust (PEM); "": the system's roots.
  std::string ca_pem;
  // A client certificate and key (PEM) for mutual TLS; "": none.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Do not verify the server's certificate at all.
  bool no_verify = false;
};

// Returns TLS channel credentials as `tls` says.
std::shared_ptr<grpc::ChannelCredentials> HealthTlsCredentials(
    const HealthTls& tls);

// Calls grpc.health.v1.Health/Check on `address` ("127.0.0.1:port") for
// `service` ("" is the whole server) and returns the answer. Errors carry the
// gRPC code mapped to the canonical one (DEADLINE_EXCEEDED, UNAVAILABLE,
// NOT_FOUND for an unknown service, UNIMPLEMENTED for a server without the
// health service) and name the address.
absl::StatusOr<HealthStatus> CheckHealth(absl::string_view address,
                                         absl::string_view service,
                                         absl::Duration timeout,
                                         const HealthCallOptions& options = {});

// What a wait saw, for callers that act on it (e.g. a probe's exit code).
struct HealthObservation {
  // A Watch stream answered at least once.
  bool connected = false;
  HealthStatus last_status = ::grpc::health::v1::HealthCheckResponse::UNKNOWN;
};

// As above, on an existing channel to `address` (used for its messages).
absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<::grpc::Channel>& channel, absl::string_view address,
    absl::string_view service, absl::Duration timeout,
    const HealthCallOptions& options = {});

// Blocks until `service` at `address` reports SERVING, following Health/Watch
// (no polling; when the endpoint is not up yet or goes away, it waits for it to
// come back). Returns OK on SERVING; DEADLINE_EXCEEDED after `timeout` saying
// what was last seen
// ("never connected", "last status NOT_SERVING", "service unknown");
// UNIMPLEMENTED at once for a server without the health service.
// When `seen` is not null, it receives what the wait saw.
absl::Status WaitUntilServing(absl::string_view address,
                              absl::string_view service, absl::Duration timeout,
                              const HealthCallOptions& options = {},
                              HealthObservation* seen = nullptr);

}  // namespace fake_tcp

#endif  // CLIENT_HEALTH_CLIENT_H_
