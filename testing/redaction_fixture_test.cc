// ServerOptions::redact in the fixture, in process and out of process: the
// secret reaches the client (the wire is untouched) but never the log, the
// control API's answers or the transcripts (text and HTML).

#include <string>

#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control/control.pb.h"
#include "server/testing/server_test_util.h"
#include "server/testing/test_util.h"
#include "testing/fake_tcp_server.h"
#include "testing/transcript.h"

namespace fake_tcp::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(30);

class RedactionFixtureTest : public FakeTcpServerTest,
                             public ::testing::WithParamInterface<bool> {
 protected:
  FixtureOptions Options() const override {
    FixtureOptions o;
    o.out_of_process = GetParam();
    o.server.port = 0;
    o.server.framing = Framing::Delimiter("\n");
    o.server.reply = "+OK\n";
    o.server.redact = {"secret-[0-9]+", "password=(\\w+)"};
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Modes, RedactionFixtureTest, ::testing::Bool(),
                         ModeName);

TEST_P(RedactionFixtureTest, SecretsGoOverTheWireButNeverIntoAnyRecord) {
  absl::StatusOr<TcpClient> client = TcpClient::Connect(address(), kTimeout);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(
      client->SendAll("AUTH secret-42 password=hunter2\n", kTimeout).ok());
  ASSERT_TRUE(client->ReceiveExactly(4, kTimeout).ok());
  ASSERT_TRUE(WaitForMessages(1));
  ASSERT_TRUE(control().Send(1, "TOKEN secret-77\n").ok());
  absl::StatusOr<std::string> pushed = client->ReceiveUntil("\n", kTimeout);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ(*pushed, "TOKEN secret-77\n");  // untouched on the wire

  EXPECT_THAT(log(), ReceivedMessagesAre(
                         ElementsAre("AUTH <redacted> password=<redacted>")));
  // The control API (out of process: over HTTP from the child) answers with
  // what the log holds.
  control::WaitRequest wait;
  wait.mutable_matching()->set_regex("AUTH .*");
  absl::StatusOr<control::WaitResult> found = control().Wait(wait);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->satisfied());
  EXPECT_EQ(found->event().bytes(), "AUTH <redacted> password=<redacted>");
  ASSERT_TRUE(SyncLog());
  TranscriptInput input;
  input.title = "RedactionFixtureTest";
  input.events = log().Events();
  input.counts = log().counts();
  input.origin = log().origin();
  for (const std::string& transcript :
       {TextTranscript(input), HtmlTranscript(input)}) {
    EXPECT_THAT(transcript,
                ::testing::AnyOf(HasSubstr("TOKEN <redacted>"),
                                 HasSubstr("TOKEN &lt;redacted&gt;")));
    EXPECT_THAT(transcript, Not(HasSubstr("secret-")));
    EXPECT_THAT(transcript, Not(HasSubstr("hunter2")));
  }
}

}  // namespace
}  // namespace fake_tcp::testing
