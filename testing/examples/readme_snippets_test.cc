// The C++ snippets of the READMEs, each verbatim in a test that runs it
// (//tools:readme_snippets_test checks that every snippet is in a file like
// this one). The hello-world snippet is hello_world_test.cc.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control.pb.h"
#include "server/fake_tcp_server.h"
#include "server/health/health_sidecar.h"
#include "server/script.h"
#include "server/testing/tls_test_client.h"
#include "testing/fake_tcp_server.h"

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Code under test: sends "Hello, world" to `address` (127.0.0.1:port).
void SendHelloWorld(const std::string& address) {
  absl::StatusOr<fake_tcp::TcpClient> c =
      fake_tcp::TcpClient::Connect(address, absl::Seconds(10));
  if (c.ok()) (void)c->SendAll("Hello, world", absl::Seconds(10));
}

// client/README.md.
TEST(ClientReadmeTest, ConnectSendReceive) {
  fake_tcp::FakeTcpServer server;
  ASSERT_TRUE(server.Start().ok());

  const absl::Duration kTimeout = absl::Seconds(5);
  absl::StatusOr<fake_tcp::TcpClient> c =
      fake_tcp::TcpClient::Connect("127.0.0.1:9500", kTimeout);
  if (c.ok() && c->SendAll("Hello, world", kTimeout).ok()) {
    absl::StatusOr<std::string> reply = c->ReceiveExactly(8, kTimeout);
    EXPECT_EQ(reply.value_or(""), "Received");
  }

  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(server.log().WaitForMessages(1, kTimeout).ok());
}

// server/README.md, "Run the fake from C++".
TEST(ServerReadmeTest, TheFakeWithoutTheFixture) {
  fake_tcp::FakeTcpServer server;    // 127.0.0.1:9500, replies "Received"
  ASSERT_TRUE(server.Start().ok());  // listening when this returns
  SendHelloWorld("127.0.0.1:9500");  // the code under test
  ASSERT_TRUE(server.log().WaitForMessages(1, absl::Seconds(10)).ok());
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("Hello, world"));
}

// server/README.md, "Listen on a Unix-domain socket". A short path: inside
// Bazel's sandbox TEST_TMPDIR alone can be longer than a socket path may be.
TEST(ServerReadmeTest, OnAUnixSocket) {
  const std::string socket_path =
      absl::StrCat("/tmp/fake_tcp_readme.", getpid(), ".sock");

  fake_tcp::ServerOptions options;
  options.unix_socket = socket_path;  // or "@name": the abstract namespace
  fake_tcp::FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());  // the file exists, mode 0600
  SendHelloWorld(server.address());  // "unix:/tmp/...": TcpClient takes it
  ASSERT_TRUE(server.log().WaitForMessages(1, absl::Seconds(10)).ok());
  EXPECT_EQ(server.log().Events()[0].peer,
            absl::StrCat("unix pid=", getpid(), " uid=", getuid()));
  server.Stop();  // the file is gone

  EXPECT_NE(access(socket_path.c_str(), F_OK), 0);
}

// Code under test for the recording snippet: asks "ping" and "time" over a
// line protocol; returns the answers.
std::string RunTheClient(const std::string& address) {
  absl::StatusOr<fake_tcp::TcpClient> c =
      fake_tcp::TcpClient::Connect(address, absl::Seconds(10));
  if (!c.ok()) return std::string(c.status().message());
  std::string answers;
  for (const char* question : {"ping\n", "time\n"}) {
    if (!c->SendAll(question, absl::Seconds(10)).ok()) break;
    answers += c->ReceiveUntil("\n", absl::Seconds(10)).value_or("?");
  }
  return answers;
}

// server/record/README.md, "Record a real server and replay it".
TEST(ServerReadmeTest, RecordAndReplay) {
  fake_tcp::ServerOptions real_options;  // stands in for the real server
  real_options.port = 0;
  real_options.framing = fake_tcp::Framing::Delimiter("\n");
  real_options.responder = [](const fake_tcp::ReceivedMessage& m) {
    return std::optional<fake_tcp::Reply>(m.bytes == "ping" ? "pong\n"
                                                            : "12:00\n");
  };
  fake_tcp::FakeTcpServer real(real_options);
  ASSERT_TRUE(real.Start().ok());
  const std::string real_server_address = real.address();
  const std::string path =
      std::string(getenv("TEST_TMPDIR")) + "/recorded.textproto";

  fake_tcp::ServerOptions options;
  options.port = 0;
  options.framing = fake_tcp::Framing::Delimiter("\n");
  options.proxy = fake_tcp::ProxyOptions{};
  options.proxy->upstream = real_server_address;  // e.g. "127.0.0.1:6379"
  fake_tcp::FakeTcpServer proxy(options);
  ASSERT_TRUE(proxy.Start().ok());
  const std::string live = RunTheClient(proxy.address());  // the real answers
  proxy.Stop();
  absl::StatusOr<fake_tcp::Script> script =
      fake_tcp::RecordScript(proxy.log().Events(), options.framing);
  ASSERT_TRUE(script.ok()) << script.status();
  ASSERT_TRUE(fake_tcp::WriteScript(*script, path).ok());  // .json: JSON

  // Later, with no real server: the recording answers.
  absl::StatusOr<std::shared_ptr<fake_tcp::ScriptedResponder>> replay =
      fake_tcp::ScriptedResponder::Create(*fake_tcp::LoadScript(path));
  ASSERT_TRUE(replay.ok()) << replay.status();
  fake_tcp::ServerOptions replay_options;
  replay_options.port = 0;
  ASSERT_TRUE((*replay)->ApplyTo(&replay_options).ok());
  fake_tcp::FakeTcpServer fake(replay_options);
  ASSERT_TRUE(fake.Start().ok());
  EXPECT_EQ(RunTheClient(fake.address()), live);
  EXPECT_EQ(live, "pong\n12:00\n");
  EXPECT_EQ(real.log().counts().received, 2u);  // the replay never reached it
}

// Code under test for the TLS snippet: sends `message` over TLS, trusting
// `ca_pem` for "localhost".
void ConnectOverTls(const std::string& address, const std::string& ca_pem,
                    const std::string& message) {
  fake_tcp::testing::TlsClientOptions options;
  options.ca_pem = ca_pem;
  options.verify_name = "localhost";
  options.sni = "localhost";
  absl::StatusOr<fake_tcp::testing::TlsTestClient> c =
      fake_tcp::testing::TlsTestClient::Connect(address, options);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->Send(message).ok());
  EXPECT_EQ(c->ReceiveExactly(8).value_or("?"), "Received");
}

// server/tls/README.md, "Speak TLS".
TEST(ServerReadmeTest, Tls) {
  fake_tcp::ServerOptions options;
  options.port = 0;
  options.framing = fake_tcp::Framing::Delimiter("\n");
  // A CA and a certificate for localhost, made at Start:
  options.tls = fake_tcp::TlsOptions{};
  options.tls->alpn = {"h2", "http/1.1"};
  fake_tcp::FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  // The code under test trusts server.tls_ca_pem() (PEM) for localhost,
  // 127.0.0.1 or ::1, and connects to server.address().
  ConnectOverTls(server.address(), server.tls_ca_pem(), "hello\n");
  ASSERT_TRUE(server.log().WaitForMessages(1, absl::Seconds(10)).ok());
  EXPECT_THAT(server.log().ReceivedMessages(), ElementsAre("hello"));
  // Version, cipher, SNI, ALPN, client certificate: one kTls event each.
  EXPECT_EQ(server.log().EventsOfType(fake_tcp::EventType::kTls).size(), 1u);
}

// server/README.md, "Shape replies, inject faults".
TEST(ServerReadmeTest, AResponderWithFaults) {
  fake_tcp::ServerOptions options;
  options.port = 0;
  options.framing = fake_tcp::Framing::Delimiter("\n");

  options.responder =
      [](const fake_tcp::ReceivedMessage& m) -> std::optional<fake_tcp::Reply> {
    if (m.bytes == "GET slow") {
      fake_tcp::Reply r("value\n");
      r.delay = absl::Seconds(2);  // the client's timeout fires first
      return r;
    }
    if (m.bytes == "GET broken") {
      fake_tcp::Reply r;
      r.then = fake_tcp::Reply::Then::kReset;  // the client sees ECONNRESET
      return r;
    }
    return fake_tcp::Reply("OK\n");
  };

  fake_tcp::FakeTcpServer server(options);
  ASSERT_TRUE(server.Start().ok());
  absl::StatusOr<fake_tcp::TcpClient> c =
      fake_tcp::TcpClient::Connect(server.address(), absl::Seconds(10));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("GET k\n", absl::Seconds(10)).ok());
  EXPECT_EQ(c->ReceiveUntil("\n", absl::Seconds(10)).value_or(""), "OK\n");
  ASSERT_TRUE(c->SendAll("GET slow\n", absl::Seconds(10)).ok());
  EXPECT_EQ(c->ReceiveAvailable(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(c->SendAll("GET broken\n", absl::Seconds(10)).ok());
  EXPECT_EQ(c->ReceiveEof(absl::Seconds(10)).code(),
            absl::StatusCode::kUnavailable);
}

// server/health/README.md, "Report readiness".
TEST(ServerReadmeTest, TheHealthSidecar) {
  fake_tcp::FakeTcpServer server;
  // HealthOptions: address, port (0), service, address_file.
  fake_tcp::HealthSidecar health(&server);
  ASSERT_TRUE(health.Start().ok());  // NOT_SERVING
  ASSERT_TRUE(server.Start().ok());  // SERVING, for "" and "fake_tcp_server"

  EXPECT_TRUE(fake_tcp::WaitUntilServing(health.address(), "fake_tcp_server",
                                         absl::Seconds(10))
                  .ok());
}

// server/script/README.md, "Script replies and faults as data".
// Code under test for testing/docs/control.md's control() snippet: a subscriber
// that keeps its connection and reads what the server pushes.
class Subscriber {
 public:
  explicit Subscriber(const std::string& address)
      : client_(fake_tcp::TcpClient::Connect(address, absl::Seconds(10))) {}
  // The next line the server pushed ("" if none came).
  std::string Next() {
    if (!client_.ok()) return "";
    return client_->ReceiveUntil("\r\n", absl::Seconds(10)).value_or("");
  }

 private:
  absl::StatusOr<fake_tcp::TcpClient> client_;
};

// testing/docs/control.md, "Change the fake while a test runs".
class PushTest : public fake_tcp::testing::FakeTcpServerTest,
                 public ::testing::WithParamInterface<bool> {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.out_of_process = GetParam();  // the same body, in and out of process
    return o;
  }
};
INSTANTIATE_TEST_SUITE_P(Modes, PushTest, ::testing::Bool());

TEST_P(PushTest, PushesToTheSubscriberThenPauses) {
  Subscriber subscriber("127.0.0.1:9500");  // the code under test connects
  uint64_t id;
  ASSERT_TRUE(WaitForNextConnection(&id));
  ASSERT_TRUE(control().Send(id, "+PUSH\r\n").ok());
  EXPECT_EQ(subscriber.Next(), "+PUSH\r\n");
  ASSERT_TRUE(control().PauseAccepting().ok());  // health says NOT_SERVING
  absl::StatusOr<fake_tcp::control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->listener(), "paused");
}

class ScriptReadmeTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;

    namespace s = fake_tcp::script;
    fake_tcp::Script script;
    script.mutable_framing()->set_delimiter("\n");
    *script.add_rules() =
        s::When(s::Regex("GET (\\w+)"), s::Rewrite("VALUE \\1\n"), "get");
    *script.add_rules() = s::When(s::Prefix("SET "), s::Bytes("OK\n"), "set");
    script.mutable_fallback()->set_reply("ERR unknown command\n");
    o.script = script;  // in a FixtureOptions
    // later: harness().script()->UnusedRules(), ->UnmatchedMessages()

    return o;
  }
};

TEST_F(ScriptReadmeTest, RulesAnswerAndReport) {
  absl::StatusOr<fake_tcp::TcpClient> c =
      fake_tcp::TcpClient::Connect(address(), absl::Seconds(10));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("GET k\nSET k v\nDEL k\n", absl::Seconds(10)).ok());
  EXPECT_EQ(c->ReceiveUntil("\n", absl::Seconds(10)).value_or(""), "VALUE k\n");
  EXPECT_EQ(c->ReceiveUntil("\n", absl::Seconds(10)).value_or(""), "OK\n");
  EXPECT_EQ(c->ReceiveUntil("\n", absl::Seconds(10)).value_or(""),
            "ERR unknown command\n");
  EXPECT_THAT(harness().script()->UnusedRules(), IsEmpty());
  EXPECT_EQ(harness().script()->UnmatchedMessages().size(), 1u);
}

// testing/README.md, "Choose how the fake runs".
class KvTest : public fake_tcp::testing::FakeTcpServerTest {
 protected:
  fake_tcp::testing::FixtureOptions Options() const override {
    fake_tcp::testing::FixtureOptions o;
    o.server.framing = fake_tcp::Framing::Delimiter("\n");
    o.server.reply = "OK\n";  // or o.server.responder, or o.script
    return o;
  }
};

// testing/README.md, "Wait for what the code under test does".
TEST_F(KvTest, WaitForTheNextConnectionAndItsClose) {
  absl::StatusOr<fake_tcp::TcpClient> client =
      fake_tcp::TcpClient::Connect(address(), absl::Seconds(10));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendAll("PING\n", absl::Seconds(10)).ok());
  EXPECT_EQ(client->ReceiveUntil("\n", absl::Seconds(10)).value_or(""), "OK\n");
  client->Close();

  uint64_t id;
  ASSERT_TRUE(WaitForNextConnection(&id));
  ASSERT_TRUE(WaitForMessage("PING"));
  EXPECT_TRUE(WaitForClientClose(id, absl::Seconds(1)));
}

}  // namespace
