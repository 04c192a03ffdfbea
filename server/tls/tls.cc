#include "server/tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/base/file.h"

namespace fake_tcp {
namespace {

absl::Status Internal(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", TakeOpenSslErrors()));
}

EVP_PKEY* NewKey() {
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
  EVP_PKEY* key = nullptr;
  if (pctx == nullptr || EVP_PKEY_keygen_init(pctx) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx, NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(pctx, &key) != 1) {
    key = nullptr;
  }
  EVP_PKEY_CTX_free(pctx);
  return key;
}

bool AddExtension(X509* cert, X509V3_CTX* ctx, int nid,
                  const std::string& value) {
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, ctx, nid, const_cast<char*>(value.c_str()));
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, named `common_name`, signed by `issuer_key` as
// `issuer` (null: self-signed), with these extensions (nid, value).
X509* NewCertificate(EVP_PKEY* key, absl::string_view common_name, X509* issuer,
                     EVP_PKEY* issuer_key,
                     const std::vector<std::pair<int, std::string>>& exts) {
  X509* cert = X509_new();
  if (cert == nullptr) return nullptr;
  BIGNUM* serial = BN_new();
  bool ok =
      X509_set_version(cert, 2) == 1 && serial != nullptr &&
      BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
      BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) != nullptr &&
      X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600) != nullptr &&
      X509_set_pubkey(cert, key) == 1;
  BN_free(serial);
  const std::string cn(common_name);
  ok = ok &&
       X509_NAME_add_entry_by_txt(
           X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
           reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
  X509* signer = issuer != nullptr ? issuer : cert;
  ok = ok && X509_set_issuer_name(cert, X509_get_subject_name(signer)) == 1;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    ok = ok && AddExtension(cert, &ctx, nid, value);
  }
  ok = ok && X509_sign(cert, issuer_key != nullptr ? issuer_key : key,
                       EVP_sha256()) > 0;
  if (!ok) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  return BioContents(bio);
}

std::string KeyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioContents(bio);
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// ALPN: the first of the server's protocols the client offers, or none.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const std::string& server = *static_cast<const std::string*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(
          &selected, outlen,
          reinterpret_cast<const unsigned char*>(server.data()),
          static_cast<unsigned int>(server.size()), in,
          inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// HandshakeFault::kFail: every ClientHello gets a handshake_failure alert.
int FailClientHello(SSL*, int* alert, void*) {
  *alert = SSL_AD_HANDSHAKE_FAILURE;
  return SSL_CLIENT_HELLO_ERROR;
}

}  // namespace

std::string TakeOpenSslErrors() {
  std::vector<std::string> reasons;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    reasons.push_back(buf);
  }
  return absl::StrJoin(reasons, "; ");
}

absl::Status UseCertificateChain(SSL_CTX* ctx, absl::string_view chain_pem) {
  BIO* chain =
      BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()));
  X509* leaf = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
  bool ok = leaf != nullptr && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* extra = PEM_read_bio_X509(chain, nullptr, nullptr, nullptr);
    if (extra == nullptr) break;
    ok = SSL_CTX_add_extra_chain_cert(ctx, extra) == 1;  // takes it
  }
  BIO_free(chain);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("no usable PEM certificate: ", TakeOpenSslErrors()));
  }
  ERR_clear_error();  // the end of the chain reads as an error
  return absl::OkStatus();
}

absl::Status UsePrivateKey(SSL_CTX* ctx, absl::string_view key_pem) {
  BIO* key_bio =
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  const bool ok = key != nullptr && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                  SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no PEM private key matching the certificate: ", TakeOpenSslErrors()));
  }
  return absl::OkStatus();
}

absl::string_view HandshakeFaultName(TlsOptions::HandshakeFault fault) {
  switch (fault) {
    case TlsOptions::HandshakeFault::kNone:
      return "none";
    case TlsOptions::HandshakeFault::kFail:
      return "fail";
    case TlsOptions::HandshakeFault::kStall:
      return "stall";
    case TlsOptions::HandshakeFault::kClose:
      return "close";
  }
  return "unknown";
}

absl::StatusOr<TestCertificateAuthority> TestCertificateAuthority::Create(
    absl::string_view common_name) {
  TestCertificateAuthority ca;
  ca.key_ = NewKey();
  if (ca.key_ == nullptr) return Internal("CA key");
  ca.cert_ = NewCertificate(ca.key_, common_name, nullptr, nullptr,
                            {{NID_basic_constraints, "critical,CA:TRUE"},
                             {NID_key_usage, "critical,keyCertSign,cRLSign"},
                             {NID_subject_key_identifier, "hash"}});
  if (ca.cert_ == nullptr) return Internal("CA certificate");
  ca.ca_pem_ = CertPem(ca.cert_);
  return ca;
}

TestCertificateAuthority::TestCertificateAuthority(
    TestCertificateAuthority&& other) noexcept
    : key_(std::exchange(other.key_, nullptr)),
      cert_(std::exchange(other.cert_, nullptr)),
      ca_pem_(std::move(other.ca_pem_)) {}

TestCertificateAuthority& TestCertificateAuthority::operator=(
    TestCertificateAuthority&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(key_);
    X509_free(cert_);
    key_ = std::exchange(other.key_, nullptr);
    cert_ = std::exchange(other.cert_, nullptr);
    ca_pem_ = std::move(other.ca_pem_);
  }
  return *this;
}

TestCertificateAuthority::~TestCertificateAuthority() {
  EVP_PKEY_free(key_);
  X509_free(cert_);
}

absl::StatusOr<Certificate> TestCertificateAuthority::Issue(
    absl::string_view common_name, const std::vector<std::string>& names,
    bool client) const {
  EVP_PKEY* key = NewKey();
  if (key == nullptr) return Internal("certificate key");
  std::vector<std::string> alt;
  for (const std::string& name : names) {
    alt.push_back(absl::StrCat(IsIpLiteral(name) ? "IP:" : "DNS:", name));
  }
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
      {NID_ext_key_usage, client ? "clientAuth" : "serverAuth"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!alt.empty()) {
    exts.push_back({NID_subject_alt_name, absl::StrJoin(alt, ",")});
  }
  X509* cert = NewCertificate(key, common_name, cert_, key_, exts);
  if (cert == nullptr) {
    EVP_PKEY_free(key);
    return Internal(absl::StrCat("certificate for ", common_name));
  }
  Certificate out{CertPem(cert), KeyPem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

TlsSession::Io TlsSession::Result(int ret, std::string* error) {
  const int code = SSL_get_error(ssl_, ret);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      return Io::kClosed;
    case SSL_ERROR_SYSCALL: {
      const int err = errno;
      std::string reasons = TakeOpenSslErrors();
      if (reasons.empty() && err == 0) return Io::kClosed;  // end of stream
      *error = reasons.empty() ? strerror(err) : reasons;
      return Io::kError;
    }
    default:
      *error = TakeOpenSslErrors();
      if (error->empty()) *error = absl::StrCat("SSL error ", code);
      return Io::kError;
  }
}

TlsSession::Io TlsSession::Handshake(std::string* error) {
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? Io::kDone : Result(ret, error);
}

TlsSession::Io TlsSession::Read(char* buffer, size_t capacity, size_t* n,
                                std::string* error) {
  ERR_clear_error();
  errno = 0;
  *n = 0;
  const int ret = SSL_read_ex(ssl_, buffer, capacity, n);
  return ret == 1 ? Io::kDone : Result(ret, error);
}

TlsSession::Io TlsSession::Write(const char* data, size_t size, size_t* n,
                                 std::string* error) {
  ERR_clear_error();
  errno = 0;
  *n = 0;
  const int ret = SSL_write_ex(ssl_, data, size, n);
  return ret == 1 ? Io::kDone : Result(ret, error);
}

bool TlsSession::HasPending() const { return SSL_pending(ssl_) > 0; }

void TlsSession::Shutdown() {
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

std::string TlsSession::Describe() const {
  std::string out =
      absl::StrCat(SSL_get_version(ssl_), " ", SSL_get_cipher_name(ssl_));
  if (const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name)) {
    absl::StrAppend(&out, ", SNI ", sni);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn_len > 0) {
    absl::StrAppend(
        &out, ", ALPN ",
        absl::string_view(reinterpret_cast<const char*>(alpn), alpn_len));
  }
  if (X509* peer = SSL_get_peer_certificate(ssl_)) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
    absl::StrAppend(&out, ", client certificate ", BioContents(bio));
    X509_free(peer);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(
    const TlsOptions& options) {
  auto context = std::unique_ptr<TlsServerContext>(new TlsServerContext());
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal("Start: tls: SSL_CTX_new");
  context->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(
      ctx, options.min_version == TlsOptions::Version::kTls13 ? TLS1_3_VERSION
                                                              : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // The fake never renegotiates, and a client asking to cannot make a write
  // wait for a read.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  // A client that closes without close_notify ends the stream, as most do.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  Certificate& certificate = context->certificate_;
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "Start: tls: cert_file and key_file go together (both empty: a "
        "generated certificate)");
  }
  if (options.cert_file.empty()) {
    absl::StatusOr<TestCertificateAuthority> ca =
        TestCertificateAuthority::Create();
    if (!ca.ok()) return ca.status();
    absl::StatusOr<Certificate> issued =
        ca->Issue("localhost", {"localhost", "127.0.0.1", "::1"});
    if (!issued.ok()) return issued.status();
    certificate = *issued;
    context->ca_pem_ = ca->ca_pem();
  } else {
    for (const auto& [path, pem] :
         {std::pair{&options.cert_file, &certificate.cert_pem},
          std::pair{&options.key_file, &certificate.key_pem}}) {
      absl::StatusOr<std::string> text = ReadFile(*path);
      if (!text.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("Start: tls: ", text.status().message()));
      }
      *pem = *text;
    }
  }
  // The chain and key from memory, whichever way they came.
  if (absl::Status s = UseCertificateChain(ctx, certificate.cert_pem);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Start: tls: cert_file ", options.cert_file, ": ", s.message()));
  }
  if (absl::Status s = UsePrivateKey(ctx, certificate.key_pem); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Start: tls: key_file ", options.key_file, ": ", s.message()));
  }
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(),
                                      nullptr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("Start: tls: client_ca_file ", options.client_ca_file,
                       ": ", TakeOpenSslErrors()));
    }
    SSL_CTX_set_client_CA_list(
        ctx, SSL_load_client_CA_file(options.client_ca_file.c_str()));
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  for (const std::string& protocol : options.alpn) {
    if (protocol.empty() || protocol.size() > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Start: tls: alpn protocol \"", protocol, "\" must be 1..255 bytes"));
    }
    context->alpn_wire_ += static_cast<char>(protocol.size());
    context->alpn_wire_ += protocol;
  }
  if (!context->alpn_wire_.empty()) {
    SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, &context->alpn_wire_);
  }
  if (options.handshake_fault == TlsOptions::HandshakeFault::kFail) {
    SSL_CTX_set_client_hello_cb(ctx, FailClientHello, nullptr);
  }
  return context;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsSession> TlsServerContext::NewSession(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_accept_state(ssl);
  return std::make_unique<TlsSession>(ssl);
}

}  // namespace fake_tcp
