#include "server/testing/tls_test_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/net.h"

namespace fake_tcp::testing {

struct TlsTestClient::State {
  ~State() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0) close(fd);
  }
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
};

namespace {

// OpenSSL's reasons, else errno's, else the end of the stream.
std::string Errors() {
  const int err = errno;
  std::string reasons = TakeOpenSslErrors();
  if (!reasons.empty()) return reasons;
  return err != 0 ? strerror(err) : "end of stream";
}

absl::Status Failed(absl::string_view step) {
  return absl::UnavailableError(absl::StrCat(step, ": ", Errors()));
}

}  // namespace

TlsTestClient::TlsTestClient(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
TlsTestClient::TlsTestClient(TlsTestClient&&) noexcept = default;
TlsTestClient& TlsTestClient::operator=(TlsTestClient&&) noexcept = default;
TlsTestClient::~TlsTestClient() = default;

absl::StatusOr<TlsTestClient> TlsTestClient::Connect(
    const std::string& address, const TlsClientOptions& options) {
  absl::StatusOr<HostPort> host_port = ParseHostPort(address);
  if (!host_port.ok()) return host_port.status();
  absl::StatusOr<std::vector<SocketAddress>> to =
      Resolve(host_port->host, host_port->port);
  if (!to.ok()) return to.status();
  auto state = std::make_unique<State>();
  ERR_clear_error();
  state->ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX* ctx = state->ctx;
  if (options.max_version == "1.2") {
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  }
  if (!options.ca_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(options.ca_pem.data(),
                               static_cast<int>(options.ca_pem.size()));
    X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (ca == nullptr ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1) {
      X509_free(ca);
      return Failed("ca_pem");
    }
    X509_free(ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.client_certificate.cert_pem.empty()) {
    for (const absl::Status& s :
         {UseCertificateChain(ctx, options.client_certificate.cert_pem),
          UsePrivateKey(ctx, options.client_certificate.key_pem)}) {
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("client_certificate: ", s.message()));
      }
    }
  }
  std::string alpn;
  for (const std::string& p : options.alpn) {
    alpn += static_cast<char>(p.size());
    alpn += p;
  }
  if (!alpn.empty()) {
    SSL_CTX_set_alpn_protos(ctx,
                            reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned int>(alpn.size()));
  }
  const SocketAddress& addr = to->front();
  state->fd = socket(addr.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int64_t ms = absl::ToInt64Milliseconds(options.timeout);
  timeval tv{static_cast<time_t>(ms / 1000),
             static_cast<suseconds_t>((ms % 1000) * 1000)};
  setsockopt(state->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(state->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(state->fd, reinterpret_cast<const sockaddr*>(&addr.addr),
              addr.len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", address, ": ", strerror(errno)));
  }
  state->ssl = SSL_new(ctx);
  SSL* ssl = state->ssl;
  SSL_set_fd(ssl, state->fd);
  if (!options.sni.empty()) {
    SSL_set_tlsext_host_name(ssl, options.sni.c_str());
  }
  if (!options.verify_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, options.verify_name.c_str()) !=
        1) {
      X509_VERIFY_PARAM_set1_host(param, options.verify_name.c_str(), 0);
    }
  }
  errno = 0;
  if (SSL_connect(ssl) != 1) return Failed("handshake");
  return TlsTestClient(std::move(state));
}

absl::Status TlsTestClient::Send(absl::string_view data) {
  ERR_clear_error();
  errno = 0;
  size_t written = 0;
  if (SSL_write_ex(state_->ssl, data.data(), data.size(), &written) != 1) {
    return Failed("send");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TlsTestClient::ReceiveExactly(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ERR_clear_error();
    errno = 0;
    size_t r = 0;
    if (SSL_read_ex(state_->ssl, out.data() + got, n - got, &r) != 1) {
      return absl::OutOfRangeError(absl::StrCat("receive ", n, " bytes: got ",
                                                got, " (\"", out.substr(0, got),
                                                "\"), then ", Errors()));
    }
    got += r;
  }
  return out;
}

absl::Status TlsTestClient::ReceiveEof() {
  char buf[4096];
  while (true) {
    ERR_clear_error();
    errno = 0;
    size_t r = 0;
    if (SSL_read_ex(state_->ssl, buf, sizeof(buf), &r) == 1) continue;
    const int code = SSL_get_error(state_->ssl, 0);
    if (code == SSL_ERROR_ZERO_RETURN) return absl::OkStatus();
    if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0) {
      return absl::OkStatus();
    }
    return Failed("wait for end of stream");
  }
}

std::string TlsTestClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(state_->ssl, &p, &len);
  return std::string(reinterpret_cast<const char*>(p), len);
}

}  // namespace fake_tcp::testing
