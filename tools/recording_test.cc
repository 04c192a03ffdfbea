// --record while the fake runs: the recording follows the session on disk
// (a SIGKILL keeps it), redaction keeps secrets out of it, shape matching
// replays it for messages whose ids differ, and the control API writes it on
// request.

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/control/control.pb.h"
#include "server/control/control_client.h"
#include "server/script.h"
#include "testing/subprocess.h"
#include "tools/tool_test.h"

namespace fake_tcp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = kToolTimeout;

class RecordingTest : public ToolTest {
 protected:
  // Sends each of `lines` on one connection; returns the replies, each read
  // up to "\n" ("" when none came within a short while).
  std::vector<std::string> Exchange(const std::vector<std::string>& lines) {
    std::vector<std::string> replies;
    absl::StatusOr<TcpClient> c = TcpClient::Connect(address_, kTimeout);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return replies;
    for (const std::string& line : lines) {
      EXPECT_TRUE(c->SendAll(line + "\n", kTimeout).ok());
      absl::StatusOr<std::string> reply =
          c->ReceiveUntil("\n", absl::Seconds(2));
      replies.push_back(reply.ok() ? *reply : "");
    }
    return replies;
  }

  ControlClient Control() {
    EXPECT_TRUE(
        WaitForAddressFile(dir_ + "/control.json", kTimeout, server_->pidfd())
            .ok());
    absl::StatusOr<control::AddressFile> address =
        ReadControlAddressFile(dir_ + "/control.json");
    EXPECT_TRUE(address.ok()) << address.status();
    return ControlClient(address.ok() ? *address : control::AddressFile());
  }
};

TEST_F(RecordingTest, TheRecordingOnDiskSurvivesSigkillAndReplaysNewIds) {
  const std::string path = dir_ + "/rec.textproto";
  StartServer({"--framing=line", "--reply=OK\\n", "--record=" + path,
               "--record_match=shape", "--redact=AUTH (\\S+)"});
  EXPECT_THAT(Exchange({"AUTH hunter2", "GET user:1234 at 2026-12-06T10:00:00Z",
                        "DEL 9f8e7d6c5b4a"}),
              ::testing::ElementsAre("OK\n", "OK\n", "OK\n"));
  // The background write, within about a second; no exit needed.
  absl::StatusOr<std::string> written = WaitForFile(
      path,
      [](const std::string& text) {
        return absl::StrContains(text, "3 messages");
      },
      kTimeout, server_->pidfd());
  ASSERT_TRUE(written.ok()) << written.status() << "\n" << server_->Stderr();
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(*written, Not(HasSubstr("hunter2")));
  absl::StatusOr<Script> script = LoadScript(path);
  ASSERT_TRUE(script.ok()) << script.status() << "\n" << *written;
  ASSERT_EQ(script->rules_size(), 3) << *written;

  // The replay answers the same requests with other ids, a secret and a
  // time, and nothing else.
  StartServer({"--script=" + path});
  EXPECT_THAT(
      Exchange({"AUTH s3cr3t", "GET user:77 at 2031-01-02T03:04:05Z",
                "DEL 0123abcdef99", "GET group:77 at 2031-01-02T03:04:05Z"}),
      ::testing::ElementsAre("OK\n", "OK\n", "OK\n", ""));
}

TEST_F(RecordingTest, TheControlApiWritesTheRecordingAtOnce) {
  const std::string path = dir_ + "/rec.json";
  StartServer({"--framing=line", "--reply=PONG\\n", "--record=" + path,
               "--control_address_file=" + dir_ + "/control.json"});
  EXPECT_THAT(Exchange({"PING"}), ::testing::ElementsAre("PONG\n"));
  ControlClient control = Control();
  control::RecordingResult result;
  ASSERT_TRUE(control.Call("POST", "/v1/recording", nullptr, &result).ok());
  EXPECT_EQ(result.path(), path);
  EXPECT_EQ(result.rules(), 1);
  absl::StatusOr<Script> script = LoadScript(path);
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->rules(0).when().equals(), "PING");
}

TEST_F(RecordingTest, WithoutRecordTheControlApiSaysSo) {
  StartServer({"--control_address_file=" + dir_ + "/control.json"});
  ControlClient control = Control();
  control::RecordingResult result;
  absl::Status s = control.Call("POST", "/v1/recording", nullptr, &result);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("start it with --record=PATH"));
}

TEST_F(RecordingTest, BadRecordAndRedactFlagsAreUsageErrors) {
  for (const auto& [flag, says] :
       std::vector<std::pair<std::string, std::string>>{
           {"--record_match=fuzzy",
            "--record_match must be exact, prefix:N or shape"},
           {"--record_match=prefix:0", "needs N >= 1"},
           {"--record_vary=(x", "--record_vary: record: vary \"(x\""},
           {"--redact=(x", "redact \"(x\": not a valid RE2"},
           {"--redact=a*", "matches the empty string"},
       }) {
    std::string err;
    EXPECT_EQ(Run({server_binary_, "--port=0", flag}, nullptr, &err), 2)
        << flag;
    EXPECT_THAT(err, HasSubstr(says)) << flag;
  }
}

}  // namespace
}  // namespace fake_tcp
