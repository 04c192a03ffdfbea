#ifndef SERVER_TLS_TLS_H_
#define SERVER_TLS_TLS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// OpenSSL's types, without its headers in ours.
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_st X509;

namespace fake_tcp {

// TLS on the fake (ServerOptions::tls): the server terminates TLS and logs
// the handshake, then the plaintext messages and replies exactly as for plain
// TCP; every framing, script, fault and command works the same.
struct TlsOptions {
  // The server's certificate chain and private key, PEM files. Both empty: a
  // throwaway CA and a certificate signed by it for localhost, 127.0.0.1 and
  // ::1 are made at Start (FakeTcpServer::tls_ca_pem() returns the CA).
  std::string cert_file;
  std::string key_file;
  // Mutual TLS: clients must present a certificate signed by a CA in this PEM
  // file ("": no client certificate is asked for).
  std::string client_ca_file;
  // ALPN protocols the server speaks, in its order of preference ("h2",
  // "http/1.1"); the first the client also offers is chosen. Empty, or none
  // in common: the handshake goes on without ALPN.
  std::vector<std::string> alpn;
  enum class Version { kTls12, kTls13 };
  // Older versions are refused.
  Version min_version = Version::kTls12;
  // A fault in every handshake.
  enum class HandshakeFault {
    kNone,
    // The server answers the ClientHello with a handshake_failure alert.
    kFail,
    // The server never answers: the client waits for its own timeout.
    kStall,
    // The server closes the connection (FIN) once the ClientHello arrived.
    kClose,
  };
  HandshakeFault handshake_fault = HandshakeFault::kNone;
};

// Returns "none", "fail", "stall" or "close".
absl::string_view HandshakeFaultName(TlsOptions::HandshakeFault fault);

// Takes OpenSSL's error queue (of this thread) and returns it as one line,
// reasons separated by "; " ("" when it is empty).
std::string TakeOpenSslErrors();

// A certificate and its private key, PEM.
struct Certificate {
  std::string cert_pem;
  std::string key_pem;
};

// Puts a PEM certificate chain (the leaf first, then any intermediates) into
// `ctx`. INVALID_ARGUMENT "no usable PEM certificate: <OpenSSL's reasons>".
absl::Status UseCertificateChain(SSL_CTX* ctx, absl::string_view chain_pem);
// Puts a PEM private key into `ctx`, which must match the certificate already
// there. INVALID_ARGUMENT "no PEM private key matching the certificate: ...".
absl::Status UsePrivateKey(SSL_CTX* ctx, absl::string_view key_pem);

// A certificate authority for tests: makes a CA (an ECDSA P-256 key and a
// self-signed certificate valid from an hour ago for 30 days) and issues
// certificates signed by it: server certificates for host names and IP
// addresses, client certificates for mutual TLS.
class TestCertificateAuthority {
 public:
  // INTERNAL with OpenSSL's reason if key or certificate generation fails.
  static absl::StatusOr<TestCertificateAuthority> Create(
      absl::string_view common_name = "fake_tcp_server test CA");
  TestCertificateAuthority(TestCertificateAuthority&&) noexcept;
  TestCertificateAuthority& operator=(TestCertificateAuthority&&) noexcept;
  ~TestCertificateAuthority();

  // The CA certificate, PEM: what clients (or, for client certificates, the
  // server's client_ca_file) trust.
  const std::string& ca_pem() const { return ca_pem_; }
  // A certificate for `common_name` whose subjectAltName lists `names`: IP
  // literals ("127.0.0.1", "::1") as IP addresses, the rest as DNS names.
  // For a server (serverAuth) or a client (clientAuth).
  absl::StatusOr<Certificate> Issue(absl::string_view common_name,
                                    const std::vector<std::string>& names,
                                    bool client = false) const;

 private:
  TestCertificateAuthority() = default;
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  std::string ca_pem_;
};

// One connection's TLS session, on a non-blocking socket. Each call does what
// it can without blocking and says what it waits for.
class TlsSession {
 public:
  enum class Io {
    // Done (bytes moved, or the handshake completed).
    kDone,
    // Call again once the socket is readable / writable.
    kWantRead,
    kWantWrite,
    // The peer ended the session (close_notify or end of stream).
    kClosed,
    // A TLS or socket error; `error` says which.
    kError,
  };
  explicit TlsSession(SSL* ssl) : ssl_(ssl) {}
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;
  ~TlsSession();

  Io Handshake(std::string* error);
  // Reads up to `capacity` plaintext bytes into `buffer`; `*n` says how many.
  Io Read(char* buffer, size_t capacity, size_t* n, std::string* error);
  // Writes up to `size` bytes of `data` (at least one record's worth is
  // taken or none); `*n` says how many.
  Io Write(const char* data, size_t size, size_t* n, std::string* error);
  // Plaintext already decrypted and not read yet (no socket event will
  // announce it).
  bool HasPending() const;
  // Sends close_notify, without waiting for the peer's.
  void Shutdown();
  // What was negotiated, for the log: "TLSv1.3 TLS_AES_128_GCM_SHA256, SNI
  // localhost, ALPN h2, client certificate CN=client".
  std::string Describe() const;

 private:
  Io Result(int ret, std::string* error);
  SSL* const ssl_;
};

// The server side of TLS for one server: the SSL_CTX with its certificate,
// client verification, ALPN and versions.
class TlsServerContext {
 public:
  // Loads (or makes, see TlsOptions) the certificate and key. INVALID_ARGUMENT
  // naming the file and OpenSSL's reason for a file that cannot be used.
  static absl::StatusOr<std::unique_ptr<TlsServerContext>> Create(
      const TlsOptions& options);
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;
  ~TlsServerContext();

  // A session for an accepted socket (server side, handshake not started).
  std::unique_ptr<TlsSession> NewSession(int fd) const;
  // The generated CA's certificate (PEM), or "" when cert_file was given.
  const std::string& ca_pem() const { return ca_pem_; }
  // The server's certificate and key (PEM), as loaded or made: for the
  // health endpoint's TLS.
  const Certificate& certificate() const { return certificate_; }

 private:
  TlsServerContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::string ca_pem_;
  Certificate certificate_;
  // ALPN's wire form: length-prefixed protocol names.
  std::string alpn_wire_;
};

}  // namespace fake_tcp

#endif  // SERVER_TLS_TLS_H_
