#ifndef SERVER_HEALTH_HEALTH_SIDECAR_H_
#define SERVER_HEALTH_HEALTH_SIDECAR_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/fake_tcp_server.h"
#include "server/tls/tls.h"

namespace grpc {
class Server;
class CallbackGenericService;
}  // namespace grpc

namespace fake_tcp {

// Where the health endpoint listens and what it calls the service.
struct HealthOptions {
  // Loopback by default; "::1" for IPv6.
  std::string address = "127.0.0.1";
  // 0 picks a free port (see HealthSidecar::port()).
  int port = 0;
  // The named service whose status follows the TCP listener, as does the
  // overall service "".
  std::string service = "fake_tcp_server";
  // When set, Start() writes "host:port" of the health endpoint here (to a
  // temporary name, then renamed, so a reader never sees half of it).
  std::string address_file;
  // A connection that has not finished gRPC's handshake by then is closed, so
  // clients that connect and say nothing cannot hold descriptors for long.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Serve TLS with this certificate chain and key (PEM; e.g. the TCP
  // server's, FakeTcpServer::tls_certificate()); empty: plaintext.
  Certificate tls;
};

// A gRPC server speaking the standard grpc.health.v1.Health (Check and Watch)
// for a FakeTcpServer: SERVING while its listener accepts, NOT_SERVING before
// Start(), after Stop(), and whenever it does not accept. Status is set for ""
// and `options.service`; other names get NOT_FOUND on Check and SERVICE_UNKNOWN
// on Watch.
//
// Lifetime: Start() binds the gRPC port and follows `server` until Stop() or
// the destructor, which set NOT_SERVING, end Watch streams and shut the gRPC
// server down. `server` must outlive the sidecar (or its Stop()). Thread-safe.
//
//   fake_tcp::FakeTcpServer server;
//   fake_tcp::HealthSidecar health(&server);
//   ASSERT_TRUE(health.Start().ok());   // NOT_SERVING
//   ASSERT_TRUE(server.Start().ok());   // SERVING
class HealthSidecar {
 public:
  explicit HealthSidecar(FakeTcpServer* server,
                         HealthOptions options = HealthOptions());
  ~HealthSidecar();
  HealthSidecar(const HealthSidecar&) = delete;
  HealthSidecar& operator=(const HealthSidecar&) = delete;

  // Starts the gRPC server. Returns UNAVAILABLE naming the address when it
  // cannot listen, the file error when the address file cannot be written,
  // FAILED_PRECONDITION when already started.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Sets NOT_SERVING, ends every Watch, and stops the gRPC server. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the bound port; 0 before Start().
  int port() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns "127.0.0.1:port" (or "[::1]:port"); empty before Start().
  std::string address() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Not owned.
  FakeTcpServer* const server_;
  const HealthOptions options_;

  // Guards the gRPC server and what Start() learned.
  mutable absl::Mutex mu_;
  std::unique_ptr<grpc::CallbackGenericService> generic_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> grpc_server_ ABSL_GUARDED_BY(mu_);
  int observer_id_ ABSL_GUARDED_BY(mu_) = 0;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  std::string address_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fake_tcp

#endif  // SERVER_HEALTH_HEALTH_SIDECAR_H_
