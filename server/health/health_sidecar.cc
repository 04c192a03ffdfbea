#include "server/health/health_sidecar.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/base/file.h"
#include "server/base/net.h"

namespace fake_tcp {

HealthSidecar::HealthSidecar(FakeTcpServer* server, HealthOptions options)
    : server_(server), options_(std::move(options)) {}

HealthSidecar::~HealthSidecar() { Stop(); }

absl::Status HealthSidecar::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) {
    return absl::FailedPreconditionError(
        "health sidecar: Start: already started");
  }
  started_ = true;
  const std::string listen = JoinHostPort(options_.address, options_.port);

  grpc::EnableDefaultHealthCheckService(true);
  // gRPC 1.51 does not start a server whose only service is the default health
  // service.
  generic_ = std::make_unique<grpc::CallbackGenericService>();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (!options_.tls.cert_pem.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back(
        {options_.tls.key_pem, options_.tls.cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(listen, credentials, &selected_port);
  // Without this, two processes could share a fixed port and split the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(
      GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
      static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(options_.handshake_timeout), 1,
          INT32_MAX)));
  builder.RegisterCallbackGenericService(generic_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || selected_port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        absl::StrCat("health sidecar: cannot listen on ", listen,
                     " (in use, or not an address of this host)"));
  }
  port_ = selected_port;
  address_ = JoinHostPort(options_.address, port_);

  grpc::HealthCheckServiceInterface* health =
      grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(options_.service, false);
  const std::string service = options_.service;
  FakeTcpServer* server = server_;
  observer_id_ = server_->AddStateObserver([health, service, server] {
    const bool serving = server->state() == ListenerState::kAccepting;
    health->SetServingStatus("", serving);
    health->SetServingStatus(service, serving);
  });

  if (!options_.address_file.empty()) {
    if (absl::Status s = WriteFileAtomically(options_.address_file, address_);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void HealthSidecar::Stop() {
  absl::MutexLock lock(&mu_);
  if (grpc_server_ == nullptr) return;
  server_->RemoveStateObserver(observer_id_);
  grpc::HealthCheckServiceInterface* health =
      grpc_server_->GetHealthCheckService();
  health->SetServingStatus("", false);
  health->SetServingStatus(options_.service, false);
  // Watch streams never end by themselves: give them a moment to see
  // NOT_SERVING.
  grpc_server_->Shutdown(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
  grpc_server_->Wait();
  grpc_server_.reset();
  generic_.reset();
}

int HealthSidecar::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

std::string HealthSidecar::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

}  // namespace fake_tcp
