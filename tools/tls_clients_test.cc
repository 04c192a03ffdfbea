// TLS on the standalone server, with real clients nobody here wrote: Debian's
// curl (an HTTP/1.1 exchange over TLS, scripted) and openssl s_client (mutual
// TLS, versions, handshake faults), and //tools:health_probe against the
// health endpoint over TLS.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/tls/tls.h"
#include "testing/subprocess.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::Subprocess;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

class TlsClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [path, runfile] :
         {std::pair{&fake_, "fake_tcp_server/tools/fake_tcp_server"},
          std::pair{&probe_, "fake_tcp_server/tools/health_probe"},
          std::pair{&curl_, "host_tools/curl"},
          std::pair{&openssl_, "host_tools/openssl"}}) {
      absl::StatusOr<std::string> found = Runfile(runfile);
      ASSERT_TRUE(found.ok()) << found.status();
      *path = *found;
    }
    dir_ = absl::StrCat(
        getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    mkdir(dir_.c_str(), 0755);
    ca_ = dir_ + "/ca.pem";
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      absl::StatusOr<int> code = server_->Wait(kTimeout);
      EXPECT_TRUE(code.ok() && *code == 0) << server_->Stderr();
    }
  }

  // Starts the fake with TLS and `flags`; returns once it accepts, with the
  // CA written to ca_.
  void StartFake(std::vector<std::string> flags) {
    unlink((dir_ + "/addr").c_str());  // from a fake started before
    unlink((dir_ + "/health").c_str());
    std::vector<std::string> argv = {
        fake_,
        "--port=0",
        "--tls",
        "--tls_ca_file=" + ca_,
        "--address_file=" + dir_ + "/addr",
        "--health_address_file=" + dir_ + "/health",
        "--transcript=" + dir_ + "/transcript.txt"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<Subprocess> fake = Subprocess::Start(argv);
    ASSERT_TRUE(fake.ok()) << fake.status();
    server_ = std::make_unique<Subprocess>(*std::move(fake));
    absl::StatusOr<std::string> addr =
        WaitForAddressFile(dir_ + "/addr", kTimeout, server_->pidfd());
    ASSERT_TRUE(addr.ok()) << addr.status() << "\n" << server_->Stderr();
    address_ = *addr;
    port_ = address_.substr(address_.rfind(':') + 1);
    absl::StatusOr<std::string> health =
        WaitForAddressFile(dir_ + "/health", kTimeout, server_->pidfd());
    ASSERT_TRUE(health.ok()) << health.status();
    health_address_ = *health;
  }

  // Stops the fake; returns its transcript.
  std::string StopFake() {
    server_->Signal(SIGTERM);
    absl::StatusOr<int> code = server_->Wait(kTimeout);
    EXPECT_TRUE(code.ok() && *code == 0) << server_->Stderr();
    server_.reset();
    return ReadFile(dir_ + "/transcript.txt").value_or("");
  }

  static Outcome Exec(const std::vector<std::string>& argv) {
    absl::StatusOr<Subprocess> child = Subprocess::Start(argv);
    EXPECT_TRUE(child.ok()) << child.status();
    absl::StatusOr<int> code = child->Wait(kTimeout);
    EXPECT_TRUE(code.ok()) << absl::StrJoin(argv, " ") << ": " << code.status();
    return {code.ok() ? *code : -1, child->Stdout(), child->Stderr()};
  }

  // openssl s_client with `input` on its stdin and `args` after the usual
  // ones; -quiet prints only what the server sends.
  Outcome SClient(const std::string& input, std::vector<std::string> args) {
    // sh -c '<script>' $0=openssl $1=input, then s_client's arguments.
    std::vector<std::string> argv = {
        "/bin/sh", "-c",
        "in=\"$1\"; shift; printf '%s' \"$in\" | \"$0\" s_client \"$@\"",
        openssl_, input};
    std::vector<std::string> common = {"-connect",
                                       address_,
                                       "-CAfile",
                                       ca_,
                                       "-servername",
                                       "localhost",
                                       "-verify_return_error",
                                       "-quiet"};
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return Exec(argv);
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string fake_, probe_, curl_, openssl_;
  std::string dir_, ca_, address_, port_, health_address_;
  std::unique_ptr<Subprocess> server_;
};

TEST_F(TlsClientsTest, CurlGetsAScriptedHttpReplyOverTls) {
  const std::string script = WriteFile("http.textproto", R"pb(
    framing { delimiter: "\r\n\r\n" }
    rules {
      name: "hello"
      when { prefix: "GET /hello HTTP/1.1\r\n" }
      responses {
        bytes: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
               "Content-Length: 14\r\n\r\nhello over tls"
      }
    }
    fallback { reply: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" }
  )pb");
  StartFake({"--script=" + script, "--tls_alpn=h2,http/1.1"});
  const std::string resolve = absl::StrCat("localhost:", port_, ":127.0.0.1");
  const std::string base = absl::StrCat("https://localhost:", port_);
  Outcome ok = Exec({curl_, "-sS", "--http1.1", "--cacert", ca_, "--resolve",
                     resolve, base + "/hello"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hello over tls");
  Outcome missing =
      Exec({curl_, "-sS", "--http1.1", "--cacert", ca_, "--resolve", resolve,
            "-o", "/dev/null", "-w", "%{http_code}", base + "/nowhere"});
  EXPECT_EQ(missing.out, "404") << missing.err;
  // Without the fake's CA, curl refuses the certificate (exit 60).
  Outcome untrusted =
      Exec({curl_, "-sS", "--resolve", resolve, base + "/hello"});
  EXPECT_EQ(untrusted.code, 60) << untrusted.err;
  const std::string transcript = StopFake();
  EXPECT_THAT(transcript, AllOf(HasSubstr("tls (TLSv1.3"),
                                HasSubstr("SNI localhost, ALPN http/1.1)"),
                                HasSubstr("GET /hello HTTP/1.1")));
}

TEST_F(TlsClientsTest, OpenSslClientTalksThroughScriptsAndMutualTls) {
  absl::StatusOr<TestCertificateAuthority> client_ca =
      TestCertificateAuthority::Create("client CA");
  ASSERT_TRUE(client_ca.ok()) << client_ca.status();
  absl::StatusOr<Certificate> cert =
      client_ca->Issue("s_client", {}, /*client=*/true);
  ASSERT_TRUE(cert.ok()) << cert.status();
  const std::string script = WriteFile("hello.textproto", R"pb(
    framing { delimiter: "\n" }
    rules {
      when { equals: "hello" }
      responses { bytes: "world\n" }
      fault { action: CLOSE }
    }
  )pb");
  StartFake(
      {"--script=" + script,
       "--tls_client_ca=" + WriteFile("clients.pem", client_ca->ca_pem())});
  Outcome with_cert =
      SClient("hello\n", {"-cert", WriteFile("c.pem", cert->cert_pem), "-key",
                          WriteFile("c.key", cert->key_pem)});
  EXPECT_EQ(with_cert.code, 0) << with_cert.err;
  EXPECT_EQ(with_cert.out, "world\n") << with_cert.err;
  Outcome without = SClient("hello\n", {});
  EXPECT_EQ(without.out, "") << without.err;
  const std::string transcript = StopFake();
  EXPECT_THAT(transcript, HasSubstr("client certificate CN=s_client"));
  EXPECT_THAT(transcript, HasSubstr("peer did not return a certificate"));
}

TEST_F(TlsClientsTest, OpenSslClientSeesHandshakeFaultsAndVersions) {
  StartFake({"--tls_handshake_fault=fail"});
  Outcome failed = SClient("", {});
  EXPECT_NE(failed.code, 0);
  EXPECT_THAT(failed.out + failed.err, HasSubstr("handshake failure"));
  StopFake();

  StartFake({"--tls_handshake_fault=close"});
  Outcome closed = SClient("", {});
  EXPECT_NE(closed.code, 0);
  EXPECT_THAT(StopFake(), HasSubstr("TLS handshake fault: close"));

  StartFake({"--tls_min_version=1.3"});
  Outcome old = SClient("", {"-tls1_2"});
  EXPECT_NE(old.code, 0);
  EXPECT_THAT(old.out + old.err, HasSubstr("protocol version"));
  EXPECT_THAT(StopFake(), HasSubstr("unsupported protocol"));
}

TEST_F(TlsClientsTest, HealthEndpointOverTlsAnswersTheProbe) {
  StartFake({"--health_tls"});
  Outcome verified =
      Exec({probe_, "-addr=" + health_address_, "-tls", "-tls-ca-cert=" + ca_});
  EXPECT_EQ(verified.code, 0) << verified.err;
  Outcome plaintext =
      Exec({probe_, "-addr=" + health_address_, "-connect-timeout=1s"});
  EXPECT_EQ(plaintext.code, 2) << plaintext.err;
}

}  // namespace
}  // namespace fake_tcp
