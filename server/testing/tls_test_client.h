#ifndef SERVER_TESTING_TLS_TEST_CLIENT_H_
#define SERVER_TESTING_TLS_TEST_CLIENT_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/tls/tls.h"

namespace fake_tcp::testing {

// How TlsTestClient connects.
struct TlsClientOptions {
  // The CA to trust (PEM); "": the server's certificate is not verified.
  std::string ca_pem;
  // The host name or IP address the certificate must be for ("": any).
  std::string verify_name;
  // Sent as SNI ("": none).
  std::string sni;
  // Offered ALPN protocols.
  std::vector<std::string> alpn;
  // Presented when the server asks (empty: none).
  Certificate client_certificate;
  // Caps the version: "1.2" ("": the library's highest).
  std::string max_version;
  // Bounds every blocking step.
  absl::Duration timeout = absl::Seconds(30);
};

// A blocking TLS client over OpenSSL for tests of the fake's TLS: the code
// under test in a user's test is their own client, this is ours.
class TlsTestClient {
 public:
  // Connects and completes the handshake. Errors say where it failed and
  // OpenSSL's reason ("handshake: ... alert handshake failure").
  static absl::StatusOr<TlsTestClient> Connect(const std::string& address,
                                               const TlsClientOptions& options);
  TlsTestClient(TlsTestClient&&) noexcept;
  TlsTestClient& operator=(TlsTestClient&&) noexcept;
  ~TlsTestClient();

  absl::Status Send(absl::string_view data);
  absl::StatusOr<std::string> ReceiveExactly(size_t n);
  // OK once the server ended the session (close_notify or end of stream).
  absl::Status ReceiveEof();
  // The ALPN protocol the server chose ("" for none).
  std::string alpn() const;

 private:
  struct State;
  explicit TlsTestClient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace fake_tcp::testing

#endif  // SERVER_TESTING_TLS_TEST_CLIENT_H_
