// TLS on FakeTcpServer (ServerOptions::tls), over real sockets with an
// OpenSSL client: the handshake and what it negotiated in the log, then
// plaintext messages, replies, scripts and faults as over plain TCP; client
// certificates, versions, ALPN; handshake faults.

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/script.h"
#include "server/testing/server_test_util.h"
#include "server/testing/tls_test_client.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::fake_tcp::testing::ReadN;
using ::fake_tcp::testing::TlsClientOptions;
using ::fake_tcp::testing::TlsTestClient;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

ServerOptions TlsServer() {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  options.tls = TlsOptions{};
  return options;
}

TlsClientOptions Trusting(const FakeTcpServer& server) {
  TlsClientOptions options;
  options.ca_pem = server.tls_ca_pem();
  options.verify_name = "localhost";
  options.sni = "localhost";
  return options;
}

// The detail of the first event of `type` on connection `id`, waiting for
// it.
std::string DetailOf(const MessageLog& log, EventType type, uint64_t id = 1) {
  absl::StatusOr<Event> e = log.WaitForEvent(
      [&](const Event& e) { return e.type == type && e.connection_id == id; },
      kTimeout);
  return e.ok() ? e->detail : std::string(e.status().message());
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(TlsTest, HandshakeIsLoggedThenMessagesArePlaintext) {
  ServerOptions options = TlsServer();
  options.tls->alpn = {"h2", "http/1.1"};
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_THAT(server.tls_ca_pem(), HasSubstr("BEGIN CERTIFICATE"));
  TlsClientOptions client_options = Trusting(server);
  client_options.alpn = {"http/1.1"};
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(server.address(), client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->alpn(), "http/1.1");
  ASSERT_TRUE(client->Send("hello\nworld\n").ok());
  EXPECT_EQ(client->ReceiveExactly(16).value_or("?"), "ReceivedReceived");
  EXPECT_THAT(DetailOf(server.log(), EventType::kTls),
              AllOf(HasSubstr("TLSv1.3"), HasSubstr("SNI localhost"),
                    HasSubstr("ALPN http/1.1")));
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("hello", "world"));
  std::string sent;
  for (const Event& e : server.log().EventsOfType(EventType::kSent)) {
    sent += e.bytes;
  }
  EXPECT_EQ(sent, "ReceivedReceived");
}

TEST(TlsTest, GeneratedCertificateIsForLocalhostAndBothLoopbacks) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    ServerOptions options = TlsServer();
    options.address = address;
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok()) << address;
    TlsClientOptions client_options = Trusting(server);
    client_options.verify_name = address;  // verified as an IP address
    absl::StatusOr<TlsTestClient> client =
        TlsTestClient::Connect(server.address(), client_options);
    ASSERT_TRUE(client.ok()) << address << ": " << client.status();
    ASSERT_TRUE(client->Send("x\n").ok());
    EXPECT_EQ(client->ReceiveExactly(8).value_or("?"), "Received");
  }
}

TEST(TlsTest, AnUntrustedOrMisnamedCertificateFailsAtTheClient) {
  FakeTcpServer server(TlsServer());
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<TestCertificateAuthority> other =
      TestCertificateAuthority::Create("another CA");
  ASSERT_TRUE(other.ok()) << other.status();
  TlsClientOptions untrusted = Trusting(server);
  untrusted.ca_pem = other->ca_pem();
  EXPECT_THAT(
      TlsTestClient::Connect(server.address(), untrusted).status().message(),
      HasSubstr("certificate verify failed"));
  TlsClientOptions misnamed = Trusting(server);
  misnamed.verify_name = "example.com";
  EXPECT_THAT(
      TlsTestClient::Connect(server.address(), misnamed).status().message(),
      HasSubstr("certificate verify failed"));
}

TEST(TlsTest, GivenCertificateAndKeyFilesAreServed) {
  absl::StatusOr<TestCertificateAuthority> ca =
      TestCertificateAuthority::Create();
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<Certificate> cert = ca->Issue("fake.test", {"fake.test"});
  ASSERT_TRUE(cert.ok()) << cert.status();
  ServerOptions options = TlsServer();
  options.tls->cert_file = WriteTemp("server.pem", cert->cert_pem);
  options.tls->key_file = WriteTemp("server.key", cert->key_pem);
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.tls_ca_pem(), "");  // not made here
  TlsClientOptions client_options;
  client_options.ca_pem = ca->ca_pem();
  client_options.verify_name = "fake.test";
  client_options.sni = "fake.test";
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(server.address(), client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_THAT(DetailOf(server.log(), EventType::kTls),
              HasSubstr("SNI fake.test"));
}

TEST(TlsTest, BadCertificateFilesAreRejectedAtStartNamingThem) {
  ServerOptions options = TlsServer();
  options.tls->cert_file = WriteTemp("garbage.pem", "not a certificate");
  options.tls->key_file = WriteTemp("garbage.key", "not a key");
  FakeTcpServer server(options);
  const absl::Status s = server.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("garbage.pem: no usable PEM certificate"));
  ServerOptions half = TlsServer();
  half.tls->cert_file = options.tls->cert_file;
  EXPECT_THAT(FakeTcpServer(half).Start().message(),
              HasSubstr("cert_file and key_file go together"));
}

TEST(TlsTest, MutualTlsNeedsAClientCertificateFromTheGivenCa) {
  absl::StatusOr<TestCertificateAuthority> client_ca =
      TestCertificateAuthority::Create("client CA");
  ASSERT_TRUE(client_ca.ok()) << client_ca.status();
  ServerOptions options = TlsServer();
  options.tls->client_ca_file = WriteTemp("client_ca.pem", client_ca->ca_pem());
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());

  absl::StatusOr<Certificate> cert =
      client_ca->Issue("test client", {}, /*client=*/true);
  ASSERT_TRUE(cert.ok()) << cert.status();
  TlsClientOptions with_cert = Trusting(server);
  with_cert.client_certificate = *cert;
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(server.address(), with_cert);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("hi\n").ok());
  EXPECT_EQ(client->ReceiveExactly(8).value_or("?"), "Received");
  EXPECT_THAT(DetailOf(server.log(), EventType::kTls, 1),
              HasSubstr("client certificate CN=test client"));

  // Without one: TLS 1.3 clients learn it after their side of the
  // handshake, at the first read; the server's log says why.
  absl::StatusOr<TlsTestClient> anonymous =
      TlsTestClient::Connect(server.address(), Trusting(server));
  if (anonymous.ok()) {
    (void)anonymous->Send("hi\n");
    EXPECT_FALSE(anonymous->ReceiveExactly(8).ok());
  }
  EXPECT_THAT(DetailOf(server.log(), EventType::kServerClosed, 2),
              AllOf(HasSubstr("TLS handshake failed"),
                    HasSubstr("peer did not return a certificate")));
}

TEST(TlsTest, MinimumVersionRefusesOlderClients) {
  ServerOptions options = TlsServer();
  options.tls->min_version = TlsOptions::Version::kTls13;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  TlsClientOptions old = Trusting(server);
  old.max_version = "1.2";
  EXPECT_FALSE(TlsTestClient::Connect(server.address(), old).ok());
  EXPECT_THAT(DetailOf(server.log(), EventType::kServerClosed),
              HasSubstr("unsupported protocol"));
}

TEST(TlsTest, PlaintextClientIsClosedWithTheReason) {
  FakeTcpServer server(TlsServer());
  ASSERT_TRUE(server.Start().ok());
  TcpClient plain = MustConnect(server);
  ASSERT_TRUE(plain.SendAll("GET / HTTP/1.1\r\n\r\n", kTimeout).ok());
  // Closed (a reset when the request was not all read): not left hanging.
  const absl::Status end = plain.ReceiveEof(kTimeout);
  EXPECT_TRUE(end.ok() || absl::IsUnavailable(end)) << end;
  EXPECT_THAT(DetailOf(server.log(), EventType::kServerClosed),
              HasSubstr("TLS handshake failed"));
  EXPECT_THAT(server.log().ReceivedMessages(), IsEmpty());
}

TEST(TlsTest, HandshakeFaults) {
  {
    ServerOptions options = TlsServer();
    options.tls->handshake_fault = TlsOptions::HandshakeFault::kFail;
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok());
    EXPECT_THAT(TlsTestClient::Connect(server.address(), Trusting(server))
                    .status()
                    .message(),
                HasSubstr("handshake failure"));
    EXPECT_THAT(DetailOf(server.log(), EventType::kServerClosed),
                HasSubstr("TLS handshake fault: fail"));
  }
  {
    ServerOptions options = TlsServer();
    options.tls->handshake_fault = TlsOptions::HandshakeFault::kClose;
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok());
    EXPECT_FALSE(
        TlsTestClient::Connect(server.address(), Trusting(server)).ok());
    EXPECT_EQ(DetailOf(server.log(), EventType::kServerClosed),
              "TLS handshake fault: close");
  }
  {
    ServerOptions options = TlsServer();
    options.tls->handshake_fault = TlsOptions::HandshakeFault::kStall;
    FakeTcpServer server(options);
    ASSERT_TRUE(server.Start().ok());
    TlsClientOptions impatient = Trusting(server);
    impatient.timeout = absl::Milliseconds(300);  // the client's own deadline
    EXPECT_FALSE(TlsTestClient::Connect(server.address(), impatient).ok());
    EXPECT_TRUE(server.log().EventsOfType(EventType::kTls).empty());
    EXPECT_EQ(server.log().counts().open, 1u);  // still waiting, unanswered
  }
}

TEST(TlsTest, ScriptsGreetingsAndFaultsWorkOverTls) {
  Script script;
  *script.add_rules() =
      script::When(script::Equals("GET k"), script::Bytes("VALUE v\n"), "get");
  Rule quit =
      script::When(script::Equals("QUIT"), script::Bytes("BYE\n"), "quit");
  quit.mutable_fault()->set_action(Fault::CLOSE);
  *script.add_rules() = quit;
  ServerOptions options = TlsServer();
  options.greeting = Reply("HELLO\n");
  std::shared_ptr<ScriptedResponder> responder =
      ::fake_tcp::testing::MakeResponder(script);
  ASSERT_NE(responder, nullptr);
  ASSERT_TRUE(responder->ApplyTo(&options).ok());
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(server.address(), Trusting(server));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->ReceiveExactly(6).value_or("?"), "HELLO\n");
  ASSERT_TRUE(client->Send("GET k\nQUIT\n").ok());
  EXPECT_EQ(client->ReceiveExactly(12).value_or("?"), "VALUE v\nBYE\n");
  EXPECT_TRUE(client->ReceiveEof().ok());
}

// The output bound holds over TLS: a client that does not read keeps at
// most max_pending_output of replies queued; the rest of what it sent waits
// unread, unanswered and unlogged until it reads.
TEST(TlsTest, SlowReaderKeepsTheOutputBounded) {
  ServerOptions options = TlsServer();
  options.reply = std::string(256 << 10, 'r');
  options.max_pending_output = size_t{1} << 20;
  FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(server.address(), Trusting(server));
  ASSERT_TRUE(client.ok()) << client.status();
  std::string hundred;
  for (int i = 0; i < 100; ++i) hundred += "m\n";
  ASSERT_TRUE(client->Send(hundred).ok());
  ASSERT_TRUE(client->ReceiveExactly(1).ok());
  // Unbounded, all 100 would be answered (25 MiB queued) before the first
  // byte went out; bounded, a few MiB at most (what the sockets hold).
  EXPECT_LT(server.log().counts().received, 100u);
  ASSERT_TRUE(client->ReceiveExactly(100 * (256 << 10) - 1).ok());
  EXPECT_EQ(server.log().counts().received, 100u);
}

TEST(TlsTest, TlsInFrontOfAPlaintextUpstream) {
  ServerOptions upstream_options = AnyPort();
  upstream_options.reply = "plain pong";
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  ServerOptions options = TlsServer();
  options.proxy = ProxyOptions{};
  options.proxy->upstream = upstream.address();
  FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  absl::StatusOr<TlsTestClient> client =
      TlsTestClient::Connect(proxy.address(), Trusting(proxy));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->Send("ping\n").ok());
  EXPECT_EQ(client->ReceiveExactly(10).value_or("?"), "plain pong");
  EXPECT_THAT(upstream.log().ReceivedMessages(), ElementsAre("ping\n"));
}

}  // namespace
}  // namespace fake_tcp
