// The fixture's control(): every runtime operation, run in process and out of
// process with the same test body (the parity suite).

#include "testing/server_control.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control.pb.h"
#include "server/script/script_builders.h"
#include "server/testing/test_util.h"
#include "testing/fake_tcp_server.h"

namespace fake_tcp::testing {
namespace {

using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kTimeout = absl::Seconds(30);

class ControlTest : public FakeTcpServerTest,
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

  // A client whose connection the server has accepted; its id in `*id`.
  TcpClient Connect(uint64_t* id) {
    absl::StatusOr<TcpClient> c = TcpClient::Connect(address(), kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(WaitForNextConnection(id));
    return *std::move(c);
  }

  HealthStatus Health() {
    absl::StatusOr<HealthStatus> s =
        CheckHealth(health_address(), "fake_tcp_server", kTimeout);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(HealthCheckResponse::UNKNOWN);
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, ControlTest, ::testing::Bool(), ModeName);

TEST_P(ControlTest, SendBroadcastAndCloseReachTheClients) {
  uint64_t a_id = 0, b_id = 0;
  TcpClient a = Connect(&a_id);
  TcpClient b = Connect(&b_id);
  ASSERT_TRUE(control().Send(a_id, "PUSH\n").ok());
  EXPECT_EQ(a.ReceiveExactly(5, kTimeout).value_or("?"), "PUSH\n");
  absl::StatusOr<int> sent = control().Broadcast("ALL\n");
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 2);
  EXPECT_EQ(a.ReceiveExactly(4, kTimeout).value_or("?"), "ALL\n");
  EXPECT_EQ(b.ReceiveExactly(4, kTimeout).value_or("?"), "ALL\n");
  ASSERT_TRUE(control().Close(a_id).ok());
  EXPECT_TRUE(a.ReceiveEof(kTimeout).ok());
  EXPECT_TRUE(WaitForConnectionClosed(a_id));
  absl::StatusOr<int> reset = control().CloseAll(/*reset=*/true);
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(*reset, 1);
  ASSERT_TRUE(WaitForConnectionClosed(b_id));
  EXPECT_EQ(log().EventsOfType(EventType::kServerReset).size(), 1u);
  EXPECT_THAT(log(), HasSent("PUSH\n"));
}

TEST_P(ControlTest, AFaultOnASendClosesAfterIt) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  Fault fault;
  fault.set_action(Fault::CLOSE);
  ASSERT_TRUE(control().Send(id, "BYE\n", fault).ok());
  EXPECT_EQ(c.ReceiveExactly(4, kTimeout).value_or("?"), "BYE\n");
  EXPECT_TRUE(c.ReceiveEof(kTimeout).ok());
  EXPECT_TRUE(WaitForConnectionClosed(id));
}

TEST_P(ControlTest, BadCallsAreClearErrorsAndChangeNothing) {
  const absl::Status unknown = control().Send(99, "x");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("99"));
  EXPECT_EQ(control().Close(99).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(control().Send(0, "x").code(), absl::StatusCode::kInvalidArgument);
  Script bad;
  *bad.add_rules() = script::When(script::Regex("("), script::Bytes("x"), "b");
  EXPECT_EQ(control().SetScript(bad).code(),
            absl::StatusCode::kInvalidArgument);
  Script other_framing;
  other_framing.mutable_framing()->set_fixed_size(4);
  const absl::Status framing = control().SetScript(other_framing);
  EXPECT_EQ(framing.code(), absl::StatusCode::kInvalidArgument) << framing;
  EXPECT_THAT(std::string(framing.message()), HasSubstr("framing"));
  // Still answering as it started.
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("ping\n", kTimeout).ok());
  EXPECT_EQ(c.ReceiveExactly(3, kTimeout).value_or("?"), "OK\n");
}

TEST_P(ControlTest, PauseAndResumeAcceptingAndHealthFollows) {
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(control().PauseAccepting().ok());
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->listener(), "paused");
  ASSERT_TRUE(control().ResumeAccepting().ok());
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  ASSERT_TRUE(control().StopAccepting().ok());
  EXPECT_EQ(Health(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(TcpClient::Connect(address(), kTimeout).ok());
  ASSERT_TRUE(control().ResumeAccepting().ok());
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("back\n", kTimeout).ok());
  EXPECT_EQ(c.ReceiveExactly(3, kTimeout).value_or("?"), "OK\n");
}

TEST_P(ControlTest, ReplyChangesForExistingConnectionsAndCanBeNone) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(control().SetReply("CHANGED\n").ok());
  ASSERT_TRUE(c.SendAll("a\n", kTimeout).ok());
  EXPECT_EQ(c.ReceiveExactly(8, kTimeout).value_or("?"), "CHANGED\n");
  ASSERT_TRUE(control().SetReply(std::nullopt).ok());
  ASSERT_TRUE(c.SendAll("b\n", kTimeout).ok());
  ASSERT_TRUE(WaitForMessages(2));
  // No answer to "b": the next bytes are what the test pushes.
  ASSERT_TRUE(control().Send(id, "PUSHED\n").ok());
  EXPECT_EQ(c.ReceiveExactly(7, kTimeout).value_or("?"), "PUSHED\n");
}

TEST_P(ControlTest, ClearLogEmptiesTheLogTheTestReads) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("before\n", kTimeout).ok());
  ASSERT_TRUE(WaitForMessages(1));
  ASSERT_TRUE(control().ClearLog().ok());
  EXPECT_THAT(log().Events(), IsEmpty());
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->log().received(), 0u);
  ASSERT_TRUE(c.SendAll("after\n", kTimeout).ok());
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("after")));
}

TEST_P(ControlTest, ResetRestoresTheStartingServer) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(control().SetReply("CHANGED\n").ok());
  ASSERT_TRUE(control().PauseAccepting().ok());
  absl::StatusOr<int> closed = control().Reset();
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(*closed, 1);
  EXPECT_TRUE(c.ReceiveEof(kTimeout).ok());
  EXPECT_THAT(log().Events(), IsEmpty());
  EXPECT_EQ(Health(), HealthCheckResponse::SERVING);
  uint64_t next = 0;
  TcpClient d = Connect(&next);
  ASSERT_TRUE(d.SendAll("x\n", kTimeout).ok());
  EXPECT_EQ(d.ReceiveExactly(3, kTimeout).value_or("?"), "OK\n");
  ASSERT_TRUE(WaitForMessages(1));
  EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("x")));
}

TEST_P(ControlTest, StatusNamesConnectionsAndCounts) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("hello\n", kTimeout).ok());
  EXPECT_EQ(c.ReceiveExactly(3, kTimeout).value_or("?"), "OK\n");
  absl::StatusOr<control::Status> status = control().Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->port(), port());
  EXPECT_EQ(status->health_address(), health_address());
  ASSERT_EQ(status->connections_size(), 1);
  EXPECT_EQ(status->connections(0).id(), id);
  EXPECT_EQ(status->connections(0).bytes_received(), 6u);
  EXPECT_EQ(status->connections(0).bytes_sent(), 3u);
  EXPECT_EQ(status->log().received(), 1u);
  EXPECT_EQ(status->log().accepted(), 1u);
}

TEST_P(ControlTest, ServerSideWaitReturnsTheMatchingMessage) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("noise\nGET key7\n", kTimeout).ok());
  control::WaitRequest request;
  *request.mutable_matching() = script::Regex("GET key\\d+");
  request.mutable_timeout()->set_seconds(30);
  absl::StatusOr<control::WaitResult> found = control().Wait(request);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->satisfied());
  EXPECT_EQ(found->event().text(), "GET key7");
  EXPECT_EQ(found->event().connection(), id);
  // A timeout is an answer with what was seen.
  control::WaitRequest never;
  never.set_messages(5);
  never.mutable_timeout()->set_nanos(50000000);
  absl::StatusOr<control::WaitResult> missed = control().Wait(never);
  ASSERT_TRUE(missed.ok()) << missed.status();
  EXPECT_FALSE(missed->satisfied());
  EXPECT_EQ(missed->seen().received(), 2u);
}

TEST_P(ControlTest, FailedWaitsSayWhatTheServerSaw) {
  uint64_t id = 0;
  TcpClient c = Connect(&id);
  ASSERT_TRUE(c.SendAll("only\n", kTimeout).ok());
  EXPECT_EQ(c.ReceiveExactly(3, kTimeout).value_or("?"), "OK\n");
  ::testing::AssertionResult r = WaitForMessages(2, absl::Milliseconds(50));
  EXPECT_FALSE(r);
  EXPECT_THAT(r.message(), HasSubstr("waited 50ms for 2 messages"));
  EXPECT_THAT(r.message(), HasSubstr("1 messages received"));
  EXPECT_THAT(r.message(), HasSubstr("received 4 bytes \"only\""));
  ::testing::AssertionResult closed =
      WaitForConnectionClosed(id, absl::Milliseconds(50));
  EXPECT_FALSE(closed);
  EXPECT_THAT(closed.message(),
              HasSubstr(absl::StrCat("connection ", id, " to close")));
}

}  // namespace
}  // namespace fake_tcp::testing
