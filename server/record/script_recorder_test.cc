// RecordScript: a log becomes a script; a proxied session recorded over real
// sockets replays with no upstream.

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/script.h"
#include "server/testing/server_test_util.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::AnyPort;
using ::fake_tcp::testing::MustConnect;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = ::fake_tcp::testing::kSocketTimeout;

Event E(EventType type, uint64_t conn, std::string bytes = "",
        std::string detail = "") {
  Event e;
  e.type = type;
  e.connection_id = conn;
  e.bytes = std::move(bytes);
  e.detail = std::move(detail);
  return e;
}

TEST(RecordScriptTest, OneRulePerRequestWithItsRepliesInOrder) {
  const std::vector<Event> events = {
      E(EventType::kAccepted, 1),
      E(EventType::kSent, 1, "HELLO\n"),
      E(EventType::kReceived, 1, "GET a"),
      E(EventType::kSent, 1, "NIL\n"),
      E(EventType::kAccepted, 2),
      E(EventType::kSent, 2, "HELLO\n"),
      E(EventType::kReceived, 2, "SET a 1"),
      E(EventType::kSent, 2, "O"),  // one reply in two writes
      E(EventType::kSent, 2, "K\n"),
      E(EventType::kReceived, 1, "GET a"),
      E(EventType::kSent, 1, "1\n"),
      E(EventType::kReceived, 1, "PING"),
      E(EventType::kSent, 1, "PONG\n"),
      E(EventType::kReceived, 2, "PING"),
      E(EventType::kSent, 2, "PONG\n"),
      E(EventType::kReceived, 2, "NOISE"),  // no answer
      E(EventType::kReceived, 1, "QUIT"),
      E(EventType::kSent, 1, "BYE\n"),
      E(EventType::kServerClosed, 1, "", "upstream gone: 127.0.0.1:1 closed"),
      E(EventType::kServerClosed, 2, "", "server stopped"),
  };
  absl::StatusOr<Script> script =
      RecordScript(events, Framing::Delimiter("\n"));
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->framing().delimiter(), "\n");
  EXPECT_EQ(script->greeting().bytes(), "HELLO\n");
  ASSERT_EQ(script->rules_size(), 5);
  const Rule& get = script->rules(0);
  EXPECT_EQ(get.name(), "GET a");
  EXPECT_EQ(get.when().equals(), "GET a");
  ASSERT_EQ(get.responses_size(), 2);
  EXPECT_EQ(get.responses(0).bytes(), "NIL\n");
  EXPECT_EQ(get.responses(1).bytes(), "1\n");
  EXPECT_EQ(get.fault().action(), Fault::NONE);
  const Rule& set = script->rules(1);
  ASSERT_EQ(set.responses_size(), 1);
  EXPECT_EQ(set.responses(0).bytes(), "OK\n");
  const Rule& ping = script->rules(2);
  ASSERT_EQ(ping.responses_size(), 1);  // the same reply twice: once
  EXPECT_EQ(ping.responses(0).bytes(), "PONG\n");
  const Rule& noise = script->rules(3);
  ASSERT_EQ(noise.responses_size(), 1);
  EXPECT_TRUE(noise.responses(0).none());
  EXPECT_EQ(noise.fault().action(),
            Fault::NONE);  // "server stopped" is no fault
  const Rule& quit = script->rules(4);
  EXPECT_EQ(quit.fault().action(), Fault::CLOSE);
  // What it says loads back as a valid script.
  EXPECT_TRUE(ScriptedResponder::Create(*script).ok());
}

TEST(RecordScriptTest, NamesAreUniqueAndReadable) {
  const std::string long_request(100, 'x');
  std::vector<Event> events = {
      E(EventType::kReceived, 1, long_request),
      E(EventType::kReceived, 1, long_request + "y"),
      E(EventType::kReceived, 1, std::string("\x01\x02", 2)),
  };
  absl::StatusOr<Script> script = RecordScript(events, Framing::Raw());
  ASSERT_TRUE(script.ok()) << script.status();
  ASSERT_EQ(script->rules_size(), 3);
  EXPECT_EQ(script->rules(0).name(), std::string(40, 'x') + "...");
  EXPECT_EQ(script->rules(1).name(), std::string(40, 'x') + "... #2");
  EXPECT_EQ(script->rules(2).name(), "\\x01\\x02");
  EXPECT_TRUE(script->framing().raw());
  EXPECT_TRUE(ScriptedResponder::Create(*script).ok());
}

TEST(RecordScriptTest, CustomFramingHasNoScriptForm) {
  const absl::StatusOr<Script> script = RecordScript(
      {}, Framing::Custom(
              [](absl::string_view) -> absl::StatusOr<std::optional<Frame>> {
                return std::nullopt;
              }));
  EXPECT_EQ(script.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(script.status().message(), HasSubstr("custom framing"));
}

// A small key-value store: the upstream to record.
ServerOptions KeyValueUpstream() {
  ServerOptions options = AnyPort();
  options.framing = Framing::Delimiter("\n");
  auto store =
      std::make_shared<absl::flat_hash_map<std::string, std::string>>();
  options.responder =
      [store](const ReceivedMessage& m) -> std::optional<Reply> {
    std::vector<std::string> words = absl::StrSplit(m.bytes, ' ');
    if (words[0] == "SET" && words.size() == 3) {
      (*store)[words[1]] = words[2];
      return Reply("OK\n");
    }
    if (words[0] == "GET" && words.size() == 2) {
      auto it = store->find(words[1]);
      return Reply(it == store->end() ? "NIL\n" : it->second + "\n");
    }
    if (words[0] == "QUIT") {
      Reply bye("BYE\n");
      bye.then = Reply::Then::kClose;
      return bye;
    }
    return Reply("ERR unknown command\n");
  };
  return options;
}

// Runs the session on `address`; returns what the client read, one line per
// command, and "<closed>" once the server closed.
std::string Session(const std::string& address) {
  TcpClient client = MustConnect(address);
  std::string transcript;
  for (const char* command :
       {"GET k", "SET k v1", "GET k", "FLY", "SET k v2", "GET k", "QUIT"}) {
    if (!client.SendAll(absl::StrCat(command, "\n"), kTimeout).ok()) break;
    absl::StatusOr<std::string> line = client.ReceiveUntil("\n", kTimeout);
    absl::StrAppend(&transcript, command, " -> ",
                    line.ok() ? *line : std::string(line.status().message()));
  }
  if (client.ReceiveEof(kTimeout).ok()) transcript += "<closed>";
  return transcript;
}

TEST(RecordScriptTest, ProxiedSessionReplaysWithNoUpstream) {
  std::string recorded;
  std::string path_text =
      absl::StrCat(getenv("TEST_TMPDIR"), "/recorded.textproto");
  std::string path_json = absl::StrCat(getenv("TEST_TMPDIR"), "/recorded.json");
  {
    FakeTcpServer upstream(KeyValueUpstream());
    ASSERT_TRUE(upstream.Start().ok());
    ServerOptions options = AnyPort();
    options.framing = Framing::Delimiter("\n");
    options.proxy = ProxyOptions{};
    options.proxy->upstream = upstream.address();
    FakeTcpServer proxy(options);
    ASSERT_TRUE(proxy.Start().ok());
    recorded = Session(proxy.address());
    ASSERT_TRUE(proxy.log().WaitForConnectionClosed(1, kTimeout).ok());
    proxy.Stop();
    absl::StatusOr<Script> script =
        RecordScript(proxy.log().Events(), options.framing);
    ASSERT_TRUE(script.ok()) << script.status();
    ASSERT_TRUE(WriteScript(*script, path_text, "recorded by a test").ok());
    ASSERT_TRUE(WriteScript(*script, path_json).ok());
  }  // the upstream is gone
  EXPECT_EQ(recorded,
            "GET k -> NIL\nSET k v1 -> OK\nGET k -> v1\n"
            "FLY -> ERR unknown command\nSET k v2 -> OK\nGET k -> v2\n"
            "QUIT -> BYE\n<closed>");
  for (const std::string& path : {path_text, path_json}) {
    absl::StatusOr<Script> script = LoadScript(path);
    ASSERT_TRUE(script.ok()) << script.status();
    absl::StatusOr<std::shared_ptr<ScriptedResponder>> responder =
        ScriptedResponder::Create(*script);
    ASSERT_TRUE(responder.ok()) << responder.status();
    ServerOptions options = AnyPort();
    ASSERT_TRUE((*responder)->ApplyTo(&options).ok());
    FakeTcpServer replay(options);
    ASSERT_TRUE(replay.Start().ok());
    EXPECT_EQ(Session(replay.address()), recorded) << path;
  }
}

TEST(RecordScriptTest, WriteScriptNamesAPathItCannotWrite) {
  const absl::Status s =
      WriteScript(Script(), "/nonexistent-dir/recorded.textproto");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("write script: "));
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent-dir/recorded.textproto"));
}

}  // namespace
}  // namespace fake_tcp
