// Tests of the GoogleTest integration itself: the fixture, waits, matchers, the
// out-of-process harness, transcripts.

#include "testing/fake_tcp_server.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/control/control.pb.h"
#include "server/script.h"
#include "server/testing/test_util.h"
#include "server/testing/tls_test_client.h"
#include "testing/transcript.h"

namespace fake_tcp::testing {
namespace {

using ::fake_tcp::testing::TlsClientOptions;
using ::fake_tcp::testing::TlsTestClient;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// Sends `data` on a new connection and returns the reply's first `n` bytes.
std::string Exchange(const std::string& address, const std::string& data,
                     size_t n = 8) {
  absl::StatusOr<TcpClient> c = TcpClient::Connect(address, kTimeout);
  if (!c.ok()) return c.status().ToString();
  if (absl::Status s = c->SendAll(data, kTimeout); !s.ok()) return s.ToString();
  absl::StatusOr<std::string> r = c->ReceiveExactly(n, kTimeout);
  return r.ok() ? *r : r.status().ToString();
}

// The fixture's tests run in both modes, in process and out of process: the
// same body must pass in each.
class DefaultFixtureTest : public FakeTcpServerTest,
                           public ::testing::WithParamInterface<bool> {
 protected:
  FixtureOptions Options() const override {
    FixtureOptions o;
    o.out_of_process = GetParam();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, DefaultFixtureTest, ::testing::Bool(),
                         ModeName);

TEST_P(DefaultFixtureTest, ServesOnPort9500AndIsServingAfterSetUp) {
  EXPECT_EQ(address(), "127.0.0.1:9500");
  EXPECT_EQ(port(), 9500);
  absl::StatusOr<HealthStatus> health =
      CheckHealth(health_address(), "fake_tcp_server", kTimeout);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(Exchange("127.0.0.1:9500", "Hello, world"), "Received");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("Hello, world")));
}

TEST_P(DefaultFixtureTest, WaitsSucceedOnWhatCameBeforeThem) {
  EXPECT_EQ(Exchange(address(), "early"), "Received");
  // Everything already happened: each wait returns at once.
  EXPECT_TRUE(WaitForConnections(1));
  EXPECT_TRUE(WaitForMessages(1));
  EXPECT_TRUE(WaitForMessage("early"));
  EXPECT_TRUE(WaitForMessage(HasSubstr("ear")));
  uint64_t id = 0;
  ASSERT_TRUE(WaitForNextConnection(&id));
  EXPECT_TRUE(WaitForClientClose(id));
  EXPECT_TRUE(WaitForConnectionClosed(id));
}

TEST_P(DefaultFixtureTest, FailedWaitSaysWhatWasReceivedAndIsRecorded) {
  EXPECT_EQ(Exchange(address(), std::string("\x01\x02\x03\xff", 4), 8),
            "Received");
  // The reply came, so the server has logged the message; out of process the
  // test's mirror of the log catches up here, so the short wait below sees it.
  ASSERT_TRUE(SyncLog());
  ::testing::AssertionResult r =
      WaitForMessage("GET k", absl::Milliseconds(50));
  EXPECT_FALSE(r);
  EXPECT_THAT(r.message(),
              HasSubstr("wait for a message that is equal to \"GET k\""));
  EXPECT_THAT(r.message(), HasSubstr("received 4 bytes hex: 01 02 03 ff"));
  ASSERT_EQ(harness().failed_waits().size(), 1u);
  EXPECT_THAT(harness().failed_waits()[0].what, HasSubstr("GET k"));
}

TEST_P(DefaultFixtureTest, ResetAndCloseAreTold) {
  absl::StatusOr<TcpClient> a = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(a.ok());
  uint64_t a_id = 0;
  ASSERT_TRUE(WaitForNextConnection(&a_id));
  a->Close(/*reset=*/true);
  EXPECT_TRUE(WaitForClientReset(a_id));
  ::testing::AssertionResult r =
      WaitForClientClose(a_id, absl::Milliseconds(50));
  EXPECT_FALSE(r);
  EXPECT_THAT(r.message(),
              HasSubstr(absl::StrCat("connection ", a_id, " ended otherwise")));
  EXPECT_THAT(r.message(), HasSubstr("reset"));

  // A half-close is a FIN: WaitForClientClose sees it.
  absl::StatusOr<TcpClient> b = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(b.ok());
  uint64_t b_id = 0;
  ASSERT_TRUE(WaitForNextConnection(&b_id));
  EXPECT_GT(b_id, a_id);
  ASSERT_TRUE(b->ShutdownWrite().ok());
  EXPECT_TRUE(WaitForClientClose(b_id));
}

TEST_P(DefaultFixtureTest, NextConnectionHandsBackEachIdInTurnAndTimesOut) {
  absl::StatusOr<TcpClient> a = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(a.ok());
  absl::StatusOr<TcpClient> b = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(b.ok());
  uint64_t first = 0, second = 0, third = 0;
  ASSERT_TRUE(WaitForNextConnection(&first));
  ASSERT_TRUE(WaitForNextConnection(&second));
  EXPECT_LT(first, second);
  // Each id goes to the right client: a message on `a` arrives on `first`.
  ASSERT_TRUE(a->SendAll("from a", kTimeout).ok());
  absl::StatusOr<Event> from_a = log().WaitForMessage(
      [](const Event& e) { return e.bytes == "from a"; }, kTimeout);
  ASSERT_TRUE(from_a.ok()) << from_a.status();
  EXPECT_EQ(from_a->connection_id, first);
  ::testing::AssertionResult r =
      WaitForNextConnection(&third, absl::Milliseconds(50));
  EXPECT_FALSE(r);
  EXPECT_THAT(r.message(),
              HasSubstr(absl::StrCat("wait for a connection after ", second)));
  EXPECT_EQ(third, 0u);
}

TEST_P(DefaultFixtureTest, Matchers) {
  EXPECT_EQ(Exchange(address(), "SET k v"), "Received");
  EXPECT_EQ(Exchange(address(), "GET k"), "Received");
  ASSERT_TRUE(WaitForMessages(2));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("SET k v", "GET k")));
  EXPECT_THAT(log(), HasReceived(HasSubstr("GET")));
  EXPECT_THAT(log(), Not(HasReceived("DEL k")));
  EXPECT_THAT(log(), HasSent("Received"));
  EXPECT_THAT(log(), ConnectionsAccepted(2));
  EXPECT_THAT(log(), ConnectionsAccepted(Ge(1u)));

  // Failures explain themselves.
  const ::testing::Matcher<const MessageLog&> m = HasReceived("DEL k");
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(m.MatchAndExplain(log(), &listener));
  EXPECT_THAT(listener.str(), HasSubstr("\"SET k v\", \"GET k\""));
  EXPECT_EQ(::testing::DescribeMatcher<const MessageLog&>(m),
            "has received a message that is equal to \"DEL k\"");
}

class LineFixtureTest : public FakeTcpServerTest,
                        public ::testing::WithParamInterface<bool> {
 protected:
  FixtureOptions Options() const override {
    FixtureOptions o;
    o.out_of_process = GetParam();
    o.server.port = 0;
    o.server.framing = Framing::Delimiter("\n");
    o.server.reply = "OK\n";
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, LineFixtureTest, ::testing::Bool(), ModeName);

TEST_P(LineFixtureTest, OptionsAreUsed) {
  EXPECT_NE(port(), 9500);
  EXPECT_EQ(Exchange(address(), "a\nb\n", 6), "OK\nOK\n");
  ASSERT_TRUE(SyncLog());
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("a", "b")));
  // The C++ server handle is there in process only; control() is in both.
  EXPECT_EQ(server() != nullptr, !GetParam());
}

TEST(TranscriptPathTest, StableOutputsPathFollowsTheTestTarget) {
  EXPECT_EQ(StableOutputsPath("//testing/examples:hello_world_test"),
            "bazel-testlogs/testing/examples/hello_world_test/test.outputs/"
            "outputs.zip");
  EXPECT_EQ(StableOutputsPath("//:top_test"),
            "bazel-testlogs/top_test/test.outputs/outputs.zip");
  EXPECT_EQ(StableOutputsPath("@//server:t"),
            "bazel-testlogs/server/t/test.outputs/outputs.zip");
  EXPECT_EQ(StableOutputsPath("@fake_tcp_server//testing:t"),
            "bazel-testlogs/external/fake_tcp_server/testing/t/test.outputs/"
            "outputs.zip");
  EXPECT_EQ(StableOutputsPath("//pkg/sub"),
            "bazel-testlogs/pkg/sub/sub/test.outputs/outputs.zip");
  EXPECT_EQ(StableOutputsPath(""), "");
  EXPECT_EQ(StableOutputsPath("not a label"), "");
}

TEST(HarnessTest, PortInUseSaysToUseTheMacroOrPortZero) {
  FakeTcpServer holder;  // 127.0.0.1:9500, as another test would hold it
  ASSERT_TRUE(holder.Start().ok());
  for (bool out_of_process : {false, true}) {
    FixtureOptions options;
    options.out_of_process = out_of_process;
    Harness harness(options);
    const absl::Status s = harness.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_THAT(
        std::string(s.message()),
        AllOf(HasSubstr("127.0.0.1:9500"), HasSubstr("fake_tcp_server_test()"),
              HasSubstr("options.server.port = 0")));
  }
}

TEST(HarnessTest, OutOfProcessLogIsMirroredAndCompleteAfterStop) {
  FixtureOptions options;
  options.out_of_process = true;
  options.server.port = 0;
  options.server.framing = Framing::Delimiter("\n");
  options.server.reply = "pong\n";
  Harness harness(options);
  const absl::Status started = harness.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(harness.server(), nullptr);
  absl::StatusOr<TcpClient> c = TcpClient::Connect(harness.address(), kTimeout);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("ping\nping\n", kTimeout).ok());
  EXPECT_EQ(*c->ReceiveExactly(10, kTimeout), "pong\npong\n");
  // Waits work on the mirror, while the child runs.
  ASSERT_TRUE(harness.log().WaitForMessages(2, kTimeout).ok());
  EXPECT_THAT(harness.log().ReceivedMessages(), ElementsAre("ping", "ping"));
  harness.Stop();
  // After the child stopped: its last events (closing our connection) are here.
  EXPECT_TRUE(harness.log().finished());
  EXPECT_EQ(harness.log().EventsOfType(EventType::kServerClosed).size(), 1u);
  EXPECT_EQ(harness.log().Events().front().sequence, 1u);
}

TEST(HarnessTest, OutOfProcessChildGetsEveryServerOption) {
  FixtureOptions options;
  options.out_of_process = true;
  options.server.port = 0;
  options.server.greeting = Reply("hello\n");
  options.server.reply = "ok\n";
  options.server.close_after_bytes = 9;  // "hello\n" + "ok\n"
  options.server.max_connections = 1;
  Harness harness(options);
  const absl::Status started = harness.Start();
  ASSERT_TRUE(started.ok()) << started;
  absl::StatusOr<TcpClient> c = TcpClient::Connect(harness.address(), kTimeout);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ReceiveExactly(6, kTimeout).value_or(""), "hello\n");
  ASSERT_TRUE(c->SendAll("x", kTimeout).ok());
  EXPECT_EQ(c->ReceiveExactly(3, kTimeout).value_or(""), "ok\n");
  // close_after_bytes reached the child: it closed after 9 bytes.
  ASSERT_TRUE(harness.log()
                  .WaitForEvent(
                      [](const Event& e) {
                        return e.type == EventType::kServerClosed &&
                               absl::StrContains(e.detail, "close_after_bytes");
                      },
                      kTimeout)
                  .ok());
}

TEST(HarnessTest, OutOfProcessProxiesAndItsLogRecordsTheSession) {
  ServerOptions upstream_options;
  upstream_options.port = 0;
  upstream_options.framing = Framing::Delimiter("\n");
  upstream_options.reply = "pong\n";
  FakeTcpServer upstream(upstream_options);
  ASSERT_TRUE(upstream.Start().ok());
  FixtureOptions options;
  options.out_of_process = true;
  options.server.port = 0;
  options.server.framing = Framing::Delimiter("\n");
  options.server.proxy = ProxyOptions{};
  options.server.proxy->upstream = upstream.address();
  Harness harness(options);
  const absl::Status started = harness.Start();
  ASSERT_TRUE(started.ok()) << started;
  absl::StatusOr<TcpClient> c = TcpClient::Connect(harness.address(), kTimeout);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("ping\n", kTimeout).ok());
  EXPECT_EQ(c->ReceiveExactly(5, kTimeout).value_or(""), "pong\n");
  EXPECT_THAT(upstream.log().ReceivedMessages(), ElementsAre("ping"));
  harness.Stop();
  // The child's log, mirrored here, is a recording like an in-process one.
  absl::StatusOr<Script> script =
      RecordScript(harness.log().Events(), options.server.framing);
  ASSERT_TRUE(script.ok()) << script.status();
  ASSERT_EQ(script->rules_size(), 1);
  EXPECT_EQ(script->rules(0).when().equals(), "ping");
  EXPECT_EQ(script->rules(0).responses(0).bytes(), "pong\n");
}

TEST(HarnessTest, TlsInAndOutOfProcessWritesTheCaForTheCodeUnderTest) {
  for (const bool out_of_process : {false, true}) {
    FixtureOptions options;
    options.out_of_process = out_of_process;
    options.server.port = 0;
    options.server.framing = Framing::Delimiter("\n");
    options.server.tls = TlsOptions{};
    options.server.tls->alpn = {"x-test"};
    Harness harness(options);
    const absl::Status started = harness.Start();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<std::string> ca =
        ::fake_tcp::ReadFile(harness.tls_ca_file());
    ASSERT_TRUE(ca.ok()) << out_of_process << ": " << ca.status();
    TlsClientOptions client_options;
    client_options.ca_pem = *ca;
    client_options.verify_name = "127.0.0.1";
    client_options.alpn = {"x-test"};
    absl::StatusOr<TlsTestClient> client =
        TlsTestClient::Connect(harness.address(), client_options);
    ASSERT_TRUE(client.ok()) << out_of_process << ": " << client.status();
    EXPECT_EQ(client->alpn(), "x-test");
    ASSERT_TRUE(client->Send("hi\n").ok());
    EXPECT_EQ(client->ReceiveExactly(8).value_or("?"), "Received");
    absl::StatusOr<Event> tls = harness.log().WaitForEvent(
        [](const Event& e) { return e.type == EventType::kTls; }, kTimeout);
    ASSERT_TRUE(tls.ok()) << tls.status();
    EXPECT_THAT(tls->detail, HasSubstr("ALPN x-test"));
    harness.Stop();
  }
}

TEST(HarnessTest, OutOfProcessRejectsCppOnlyOptions) {
  FixtureOptions options;
  options.out_of_process = true;
  options.server.responder =
      [](const ReceivedMessage&) -> std::optional<Reply> {
    return std::nullopt;
  };
  Harness harness(options);
  const absl::Status s = harness.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("responder"));
}

TEST(TranscriptTest, WrittenForTheCurrentTestAsTextAndHtml) {
  FixtureOptions options;
  options.server.port = 0;
  Harness harness(options);
  ASSERT_TRUE(harness.Start().ok());
  EXPECT_EQ(Exchange(harness.address(), "<b>&\"hi\""), "Received");
  ASSERT_TRUE(harness.log().WaitForConnectionClosed(1, kTimeout).ok());
  harness.RecordFailedWait(
      {absl::Now(), "3 messages", "waited 1s for 3 messages"});
  harness.Stop();
  WriteTranscriptForCurrentTest(harness);
  const std::string base =
      absl::StrCat(getenv("TEST_UNDECLARED_OUTPUTS_DIR"),
                   "/TranscriptTest.WrittenForTheCurrentTestAsTextAndHtml"
                   ".transcript");
  const std::string text = ReadFile(base + ".txt");
  EXPECT_THAT(text, HasSubstr("received 8 bytes \"<b>&\\\"hi\\\"\""));
  EXPECT_THAT(text, HasSubstr("WAIT FAILED for 3 messages"));
  const std::string html = ReadFile(base + ".html");
  EXPECT_THAT(html, HasSubstr("<!doctype html>"));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;&amp;"));  // bytes escaped
  EXPECT_THAT(html, HasSubstr("connection 1"));    // a lane
  EXPECT_THAT(html, HasSubstr("wait failed: 3 messages"));
  EXPECT_THAT(html, HasSubstr("client closed (FIN)"));
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("http")));
}

TEST(TranscriptTest, HtmlHasALanePerConnection) {
  TranscriptInput in;
  in.title = "Suite.Name";
  in.address = "127.0.0.1:9500";
  in.origin = absl::FromUnixSeconds(1000);
  for (uint64_t id : {1, 2, 3}) {
    Event e;
    e.sequence = id;
    e.type = EventType::kAccepted;
    e.connection_id = id;
    e.peer = absl::StrCat("127.0.0.1:4000", id);
    e.time = in.origin + absl::Milliseconds(id);
    in.events.push_back(e);
  }
  const std::string html = HtmlTranscript(in);
  EXPECT_THAT(html,
              AllOf(HasSubstr("connection 1"), HasSubstr("connection 2"),
                    HasSubstr("connection 3"), HasSubstr("127.0.0.1:40002")));
  EXPECT_EQ(HtmlEscape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;");
}

Script KvScript() {
  Script script;
  script.mutable_framing()->set_delimiter("\n");
  *script.add_rules() = script::When(script::Regex("GET (\\w+)"),
                                     script::Rewrite("VALUE \\1\n"), "get");
  *script.add_rules() =
      script::When(script::Prefix("SET "), script::Bytes("OK\n"), "set");
  *script.add_rules() =
      script::When(script::Equals("DEL"), script::Bytes("GONE\n"), "del");
  script.mutable_fallback()->set_reply("ERR\n");
  return script;
}

class ScriptedFixtureTest : public FakeTcpServerTest,
                            public ::testing::WithParamInterface<bool> {
 protected:
  FixtureOptions Options() const override {
    FixtureOptions o;
    o.out_of_process = GetParam();
    o.server.port = 0;
    o.script = KvScript();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, ScriptedFixtureTest, ::testing::Bool(),
                         ModeName);

TEST_P(ScriptedFixtureTest, ScriptAnswersAndReportsWhatNeverMatched) {
  EXPECT_EQ(Exchange(address(), "GET k\nSET k v\nbogus\n", 15),
            "VALUE k\nOK\nERR\n");
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->scripted());
  EXPECT_THAT(status->unused_rules(), ElementsAre("del"));
  ASSERT_EQ(status->near_misses_size(), 1);
  EXPECT_EQ(status->near_misses(0).bytes(), "bogus");
  // The rule that answered is in the log, across the process boundary too.
  ASSERT_TRUE(WaitForMessages(3));
  EXPECT_EQ(log().EventsOfType(EventType::kReceived)[0].detail, "rule \"get\"");
}

TEST_P(ScriptedFixtureTest, ScriptSwappedWhileRunningAnswersTheNextMessage) {
  Script swapped;
  *swapped.add_rules() =
      script::When(script::Prefix("GET "), script::Bytes("MISS\n"), "miss");
  const absl::Status swap = control().SetScript(swapped);
  ASSERT_TRUE(swap.ok()) << swap;
  EXPECT_EQ(Exchange(address(), "GET k\n", 5), "MISS\n");
  Script more;
  *more.add_rules() =
      script::When(script::Equals("PING"), script::Bytes("PONG\n"), "ping");
  ASSERT_TRUE(control().AppendRules(more).ok());
  EXPECT_EQ(Exchange(address(), "PING\nGET j\n", 10), "PONG\nMISS\n");
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->rules_size(), 2);
  EXPECT_EQ(status->rules(0).name(), "miss");
  // Counted since the last change of the script (the append).
  EXPECT_EQ(status->rules(0).matches(), 1u);
  EXPECT_EQ(status->rules(1).name(), "ping");
  // A bad script is refused, naming the rule, and the running one stays.
  Script bad;
  *bad.add_rules() = script::When(script::Regex("("), script::Bytes("x"), "b");
  const absl::Status refused = control().SetScript(bad);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("script"));
  EXPECT_EQ(Exchange(address(), "PING\n", 5), "PONG\n");
}

}  // namespace
}  // namespace fake_tcp::testing
