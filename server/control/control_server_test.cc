#include "server/control/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control_client.h"
#include "server/control/control_codec.h"
#include "server/fake_tcp_server.h"
#include "server/script.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(10);

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(ControlOptions()); }

  void Start(ControlOptions options,
             std::shared_ptr<ScriptedResponder> script = nullptr) {
    control_.reset();
    server_.reset();
    ServerOptions server_options;
    server_options.port = 0;
    if (script != nullptr) {
      ASSERT_TRUE(script->ApplyTo(&server_options).ok());
    }
    server_ = std::make_unique<FakeTcpServer>(server_options);
    ASSERT_TRUE(server_->Start().ok());
    options.service.script = script;
    control_ = std::make_unique<ControlServer>(server_.get(), options);
    ASSERT_TRUE(control_->Start().ok());
    client_ = std::make_unique<ControlClient>(Address());
  }

  control::AddressFile Address() const {
    control::AddressFile address;
    address.set_url(control_->url());
    address.set_token(control_->token());
    return address;
  }

  TcpClient Connect() {
    absl::StatusOr<TcpClient> c =
        TcpClient::Connect(server_->address(), kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  // Sends `text` and reads the default reply.
  void Exchange(TcpClient& c, absl::string_view text) {
    ASSERT_TRUE(c.SendAll(text, kTimeout).ok());
    absl::StatusOr<std::string> reply = c.ReceiveExactly(8, kTimeout);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "Received");
  }

  ControlAnswer Raw(absl::string_view method, absl::string_view path,
                    absl::string_view body = "") {
    absl::StatusOr<ControlAnswer> answer = client_->Raw(method, path, body);
    EXPECT_TRUE(answer.ok()) << answer.status();
    return answer.ok() ? *answer : ControlAnswer();
  }

  control::Status GetStatus() {
    control::Status status;
    EXPECT_TRUE(client_->Call("GET", "/v1/status", nullptr, &status).ok());
    return status;
  }

  std::unique_ptr<FakeTcpServer> server_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(ControlServerTest, StatusNamesPortsConnectionsAndCounts) {
  TcpClient c = Connect();
  Exchange(c, "Hello, world");
  const control::Status status = GetStatus();
  EXPECT_EQ(status.port(), server_->port());
  EXPECT_EQ(status.listener(), "accepting");
  ASSERT_EQ(status.connections_size(), 1);
  EXPECT_EQ(status.connections(0).bytes_received(), 12u);
  EXPECT_EQ(status.connections(0).bytes_sent(), 8u);
  EXPECT_EQ(status.connections(0).state(), "open");
  EXPECT_EQ(status.log().received(), 1u);
  EXPECT_EQ(status.log().max_events(), LogLimits().max_events);
  EXPECT_FALSE(status.scripted());
}

TEST_F(ControlServerTest, WithoutTheTokenNothingHappens) {
  control::AddressFile wrong = Address();
  wrong.set_token("not-the-token");
  ControlClient intruder(wrong);
  absl::StatusOr<ControlAnswer> answer =
      intruder.Raw("POST", "/v1/listener:pause", "");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->code, 401);
  EXPECT_THAT(answer->body, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(answer->body, HasSubstr("wrong token"));
  wrong.set_token("");
  ControlClient anonymous(wrong);
  answer = anonymous.Raw("GET", "/v1/status", "");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->code, 401);
  EXPECT_EQ(server_->state(), ListenerState::kAccepting);
}

TEST_F(ControlServerTest, BadRequestsAreClearErrors) {
  ControlAnswer a = Raw("POST", "/v1/wait", "{\"messages\": ");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(a.body, HasSubstr("POST /v1/wait"));
  a = Raw("POST", "/v1/wait", "{\"messagez\": 1}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("messagez"));
  a = Raw("POST", "/v1/wait", "{\"messages\": \"many\"}");
  EXPECT_EQ(a.code, 400);
  a = Raw("POST", "/v1/wait", "{}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("no condition"));
  a = Raw("POST", "/v1/connections/7/send", "{\"text\": \"x\"}");
  EXPECT_EQ(a.code, 404);
  EXPECT_THAT(a.body, HasSubstr("connection 7"));
  a = Raw("GET", "/v1/nothing");
  EXPECT_EQ(a.code, 404);
  a = Raw("GET", "/v1/log?after=x");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("after=x"));
  a = Raw("GET", "/v1/log?kind=nonsense");
  EXPECT_EQ(a.code, 400);
  a = Raw("PUT", "/v1/script",
          "{\"script\": {\"rules\": [{\"when\": {\"regex\": \"(\"}}]}}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("rules[0].when.regex"));
  // Strict JSON, as for script files: what protobuf's parser alone would let
  // through.
  a = Raw("PUT", "/v1/script",
          "{\"script\": {\"rules\": [{\"when\": {\"any\": true}},]}}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("1:46: a trailing comma"));
  a = Raw("PUT", "/v1/script",
          "{\"script\": {\"rules\": [{\"when\": {\"any\": \"yes\"}}]}}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body,
              HasSubstr("script.rules[0].when.any: wants true or false"));
  a = Raw("POST", "/v1/wait", "{\"messages\": 1, \"messages\": 2}");
  EXPECT_EQ(a.code, 400);
  EXPECT_THAT(a.body, HasSubstr("\\\"messages\\\" appears twice"));
  a = Raw("POST", "/v1/listener:explode");
  EXPECT_EQ(a.code, 400);
  a = Raw("POST", "/v1/shutdown");
  EXPECT_EQ(a.code, 501);
}

TEST_F(ControlServerTest, BodyTooLargeIs413) {
  ControlOptions options;
  options.max_body_bytes = 1024;
  Start(options);
  const std::string big =
      absl::StrCat("{\"text\": \"", std::string(4096, 'x'), "\"}");
  EXPECT_EQ(Raw("POST", "/v1/broadcast", big).code, 413);
}

TEST_F(ControlServerTest, WaitBlocksUntilTheMessageArrives) {
  absl::Notification asked;
  std::thread sender([&] {
    asked.WaitForNotification();
    TcpClient c = Connect();
    Exchange(c, "one");
    Exchange(c, "two");
  });
  control::WaitRequest request;
  request.set_messages(2);
  request.mutable_timeout()->set_seconds(30);
  control::WaitResult result;
  std::thread waiter([&] {
    ControlClient client(Address());
    EXPECT_TRUE(client.Call("POST", "/v1/wait", &request, &result).ok());
  });
  // The wait is pending on the server before the client connects.
  ASSERT_TRUE(control_->AwaitPendingWaits(1, kTimeout));
  asked.Notify();
  waiter.join();
  sender.join();
  EXPECT_TRUE(result.satisfied()) << result.DebugString();
  EXPECT_EQ(result.seen().received(), 2u);
}

TEST_F(ControlServerTest, WaitTimesOutWithWhatWasSeen) {
  TcpClient c = Connect();
  Exchange(c, "GET a");
  control::WaitRequest request;
  request.mutable_matching()->set_regex("SET .*");
  request.mutable_timeout()->set_nanos(200000000);
  control::WaitResult result;
  ASSERT_TRUE(client_->Call("POST", "/v1/wait", &request, &result).ok());
  EXPECT_FALSE(result.satisfied());
  EXPECT_THAT(result.waited_for(), HasSubstr("SET"));
  EXPECT_EQ(result.seen().received(), 1u);
  ASSERT_GE(result.last_entries_size(), 2);
  bool saw = false;
  for (const control::Entry& e : result.last_entries()) {
    saw = saw || (e.kind() == "received" && e.text() == "GET a");
  }
  EXPECT_TRUE(saw) << result.DebugString();
}

TEST_F(ControlServerTest, WaitForAMatchingMessageReturnsIt) {
  TcpClient c = Connect();
  Exchange(c, "GET a");
  Exchange(c, "SET b 1");
  control::WaitRequest request;
  request.mutable_matching()->set_prefix("SET ");
  control::WaitResult result;
  ASSERT_TRUE(client_->Call("POST", "/v1/wait", &request, &result).ok());
  EXPECT_TRUE(result.satisfied());
  EXPECT_EQ(result.event().text(), "SET b 1");
  EXPECT_EQ(result.event().connection(), 1u);
}

TEST_F(ControlServerTest, TooManyWaitsIs429AndAVanishedClientFreesItsWait) {
  ControlOptions options;
  options.max_pending_waits = 1;
  Start(options);
  // A raw client asks for a long wait, then goes away.
  absl::StatusOr<TcpClient> raw =
      TcpClient::Connect(control_->url().substr(7), kTimeout);
  ASSERT_TRUE(raw.ok());
  const std::string body = "{\"messages\": 5, \"timeout\": \"600s\"}";
  ASSERT_TRUE(raw->SendAll(absl::StrCat("POST /v1/wait HTTP/1.1\r\nHost: x\r\n"
                                        "Authorization: Bearer ",
                                        control_->token(),
                                        "\r\nContent-Length: ", body.size(),
                                        "\r\n\r\n", body),
                           kTimeout)
                  .ok());
  ASSERT_TRUE(control_->AwaitPendingWaits(1, kTimeout));
  control::WaitRequest request;
  request.set_messages(1);
  ControlAnswer a = Raw("POST", "/v1/wait", ControlJson(request));
  EXPECT_EQ(a.code, 429);
  EXPECT_THAT(a.body, HasSubstr("RESOURCE_EXHAUSTED"));
  raw->Close();
  // The server notices the client left and ends its wait long before 600 s.
  EXPECT_TRUE(control_->AwaitPendingWaits(0, kTimeout));
}

TEST_F(ControlServerTest, SendBroadcastCloseAndReset) {
  TcpClient a = Connect();
  Exchange(a, "hi");
  TcpClient b = Connect();
  Exchange(b, "hi");
  control::SendRequest push;
  push.set_text("PUSH\n");
  control::ActionResult result;
  ASSERT_TRUE(
      client_->Call("POST", "/v1/connections/1/send", &push, &result).ok());
  EXPECT_EQ(*a.ReceiveExactly(5, kTimeout), "PUSH\n");
  push.set_text("ALL\n");
  ASSERT_TRUE(client_->Call("POST", "/v1/broadcast", &push, &result).ok());
  EXPECT_EQ(result.connections(), 2u);
  EXPECT_EQ(*a.ReceiveExactly(4, kTimeout), "ALL\n");
  EXPECT_EQ(*b.ReceiveExactly(4, kTimeout), "ALL\n");
  control::CloseRequest close;
  ASSERT_TRUE(
      client_->Call("POST", "/v1/connections/1/close", &close, &result).ok());
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  close.set_reset(true);
  ASSERT_TRUE(
      client_->Call("POST", "/v1/connections:close", &close, &result).ok());
  EXPECT_EQ(result.connections(), 1u);
  control::WaitRequest closed;
  closed.set_closed(true);
  closed.set_connection(2);
  control::WaitResult waited;
  ASSERT_TRUE(client_->Call("POST", "/v1/wait", &closed, &waited).ok());
  EXPECT_TRUE(waited.satisfied());
  EXPECT_EQ(waited.event().kind(), "server_reset");
}

TEST_F(ControlServerTest, PauseResumeAndStopAccepting) {
  EXPECT_EQ(Raw("POST", "/v1/listener:pause").code, 200);
  EXPECT_EQ(server_->state(), ListenerState::kPaused);
  EXPECT_EQ(GetStatus().listener(), "paused");
  EXPECT_EQ(Raw("POST", "/v1/listener:resume").code, 200);
  EXPECT_EQ(server_->state(), ListenerState::kAccepting);
  EXPECT_EQ(Raw("POST", "/v1/listener:stop").code, 200);
  EXPECT_EQ(server_->state(), ListenerState::kRefusing);
  EXPECT_FALSE(TcpClient::Connect(server_->address(), kTimeout).ok());
  EXPECT_EQ(Raw("POST", "/v1/listener:resume").code, 200);
  TcpClient c = Connect();
  Exchange(c, "back");
}

TEST_F(ControlServerTest, StatusListsAreCappedAndCountTheRest) {
  std::string rules;
  for (int i = 0; i < kStatusListCap + 200; ++i) {
    absl::StrAppend(&rules, i == 0 ? "" : ",", R"({"name": "r)", i,
                    R"(", "when": {"prefix": "eA=="}})");
  }
  ControlAnswer a =
      Raw("PUT", "/v1/script",
          absl::StrCat(R"({"script": {"rules": [)", rules, "]}}"));
  ASSERT_EQ(a.code, 200) << a.body;
  const control::Status status = GetStatus();
  EXPECT_EQ(status.rules_size(), kStatusListCap);
  EXPECT_EQ(status.rules_not_shown(), 200u);
  EXPECT_EQ(status.unused_rules_size(), kStatusListCap);
  EXPECT_EQ(status.unused_rules_not_shown(), 200u);
  EXPECT_EQ(status.unused_rules(0), "r0");
  EXPECT_EQ(status.connections_not_shown(), 0u);
}

TEST_F(ControlServerTest, ScriptReplyAndClearChangeAnswersWhileRunning) {
  TcpClient c = Connect();
  Exchange(c, "before");
  ControlAnswer a =
      Raw("PUT", "/v1/script",
          R"({"script": {"rules": [{"name": "get", "when": {"prefix": "R0VU"},)"
          R"( "responses": [{"bytes": "VkFMVUUK"}]}]}})");
  ASSERT_EQ(a.code, 200) << a.body;
  ASSERT_TRUE(c.SendAll("GET k", kTimeout).ok());
  EXPECT_EQ(*c.ReceiveExactly(6, kTimeout), "VALUE\n");
  a = Raw(
      "POST", "/v1/script/rules",
      R"({"script": {"rules": [{"name": "set", "when": {"prefix": "U0VU"}}]}})");
  ASSERT_EQ(a.code, 200) << a.body;
  // A new script (appended to or not) counts matches afresh.
  ASSERT_TRUE(c.SendAll("GET k", kTimeout).ok());
  EXPECT_EQ(*c.ReceiveExactly(6, kTimeout), "VALUE\n");
  control::Status status = GetStatus();
  EXPECT_TRUE(status.scripted());
  ASSERT_EQ(status.rules_size(), 2);
  EXPECT_EQ(status.rules(0).matches(), 1u);
  EXPECT_THAT(status.unused_rules(), ::testing::ElementsAre("set"));

  control::ReplyRequest reply;
  reply.set_text("OK\n");
  ASSERT_TRUE(client_->Call("PUT", "/v1/reply", &reply, nullptr).ok());
  ASSERT_TRUE(c.SendAll("anything", kTimeout).ok());
  EXPECT_EQ(*c.ReceiveExactly(3, kTimeout), "OK\n");
  EXPECT_FALSE(GetStatus().scripted());

  ASSERT_EQ(Raw("POST", "/v1/log:clear").code, 200);
  status = GetStatus();
  EXPECT_EQ(status.log().received(), 0u);
  EXPECT_EQ(status.log().open(), 1u);  // connections stay open
}

TEST_F(ControlServerTest, LogPagesFollowWithACursorAndFilters) {
  TcpClient c = Connect();
  for (int i = 0; i < 5; ++i) Exchange(c, absl::StrCat("m", i));
  control::LogPage page;
  ASSERT_TRUE(
      client_->Call("GET", "/v1/log?direction=received&limit=3", nullptr, &page)
          .ok());
  ASSERT_EQ(page.entries_size(), 3);
  EXPECT_TRUE(page.more());
  EXPECT_EQ(page.entries(0).text(), "m0");
  EXPECT_EQ(page.entries(2).text(), "m2");
  control::LogPage next;
  ASSERT_TRUE(client_
                  ->Call("GET",
                         absl::StrCat("/v1/log?direction=received&after=",
                                      page.next_after()),
                         nullptr, &next)
                  .ok());
  ASSERT_EQ(next.entries_size(), 2);
  EXPECT_EQ(next.entries(0).text(), "m3");
  EXPECT_FALSE(next.more());
  control::LogPage kinds;
  ASSERT_TRUE(
      client_->Call("GET", "/v1/log?kind=accepted", nullptr, &kinds).ok());
  ASSERT_EQ(kinds.entries_size(), 1);
  EXPECT_EQ(kinds.entries(0).kind(), "accepted");
  // A read with a wait blocks until there is something after the cursor.
  control::LogPage later;
  std::thread reader([&] {
    ControlClient client(Address());
    EXPECT_TRUE(
        client
            .Call("GET",
                  absl::StrCat("/v1/log?wait=30s&direction=received&after=",
                               next.next_after()),
                  nullptr, &later)
            .ok());
  });
  Exchange(c, "late");
  reader.join();
  ASSERT_GE(later.entries_size(), 1);
  EXPECT_EQ(later.entries(0).text(), "late");
}

TEST_F(ControlServerTest, ControlCallsWhileSixtyFourClientsAreServed) {
  constexpr int kClients = 64;
  constexpr int kMessages = 20;
  std::atomic<bool> done{false};
  std::thread controller([&] {
    ControlClient client(Address());
    while (!done.load()) {
      control::Status status;
      EXPECT_TRUE(client.Call("GET", "/v1/status", nullptr, &status).ok());
      control::LogPage page;
      EXPECT_TRUE(client.Call("GET", "/v1/log?limit=10", nullptr, &page).ok());
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      TcpClient c = Connect();
      for (int m = 0; m < kMessages; ++m) Exchange(c, "ping");
    });
  }
  for (std::thread& t : clients) t.join();
  control::WaitRequest request;
  request.set_messages(kClients * kMessages);
  control::WaitResult result;
  ASSERT_TRUE(client_->Call("POST", "/v1/wait", &request, &result).ok());
  EXPECT_TRUE(result.satisfied());
  done = true;
  controller.join();
}

TEST_F(ControlServerTest, StopEndsPendingWaits) {
  control::WaitRequest request;
  request.set_messages(100);
  request.mutable_timeout()->set_seconds(600);
  absl::Status got;
  std::thread waiter([&] {
    ControlClient client(Address());
    got = client.Call("POST", "/v1/wait", &request, nullptr);
  });
  ASSERT_TRUE(control_->AwaitPendingWaits(1, kTimeout));
  control_->Stop();
  waiter.join();
  EXPECT_FALSE(got.ok());
}

TEST_F(ControlServerTest, StopEndsPendingLogReads) {
  absl::Status got;
  std::thread reader([&] {
    ControlClient client(Address());
    control::LogPage page;
    got = client.Call("GET", "/v1/log?wait=600s&after=1000", nullptr, &page);
  });
  ASSERT_TRUE(control_->AwaitPendingWaits(1, kTimeout));
  control_->Stop();
  reader.join();
  EXPECT_FALSE(got.ok());
}

TEST_F(ControlServerTest, AddressFileIsPrivateJson) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/control.json");
  ASSERT_TRUE(control_->WriteAddressFile(path).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  absl::StatusOr<control::AddressFile> read = ReadControlAddressFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->url(), control_->url());
  EXPECT_EQ(read->token(), control_->token());
  EXPECT_EQ(read->tcp_address(), server_->address());
}

TEST(ControlServerOptionsTest, NonLoopbackNeedsAnExplicitFlag) {
  ServerOptions server_options;
  server_options.port = 0;
  FakeTcpServer server(server_options);
  ASSERT_TRUE(server.Start().ok());
  ControlOptions options;
  options.address = "0.0.0.0";
  ControlServer control(&server, options);
  const absl::Status s = control.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("allow_non_loopback"));
}

}  // namespace
}  // namespace fake_tcp
