// Record and replay with a real server nobody here wrote: Debian's redis-server
// on loopback, driven by Debian's redis-cli through //tools:fake_tcp_server
// --proxy_to --record; then the same redis-cli commands against the recorded
// script (--script) give the same answers with redis-server stopped; and the
// same over Unix-domain sockets (redis-cli -s).

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/testing/server_test_util.h"
#include "testing/subprocess.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::RefusingPort;
using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::ShortSocketPath;
using ::fake_tcp::testing::Subprocess;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// The commands of the session: replies of every kind (status, bulk string,
// integer, nil, error).
const std::vector<std::vector<std::string>>& Commands() {
  static const auto* const commands =
      new std::vector<std::vector<std::string>>{{"PING"},
                                                {"SET", "greeting", "hello"},
                                                {"GET", "greeting"},
                                                {"INCR", "counter"},
                                                {"INCR", "counter"},
                                                {"GET", "missing"},
                                                {"INCR", "greeting"}};
  return *commands;
}

class RedisRecordReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [path, runfile] :
         {std::pair{&redis_server_, "host_tools/redis-server"},
          std::pair{&redis_cli_, "host_tools/redis-cli"},
          std::pair{&fake_, "fake_tcp_server/tools/fake_tcp_server"}}) {
      absl::StatusOr<std::string> found = Runfile(runfile);
      ASSERT_TRUE(found.ok()) << found.status();
      *path = *found;
    }
    dir_ = getenv("TEST_TMPDIR");
  }

  // A port nothing listens on now (the test has a network namespace of its
  // own, so nothing else takes it meanwhile).
  static int FreePort() {
    absl::StatusOr<BoundListener> l = Listen("127.0.0.1", 0, 1);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? l->port : 0;
  }

  // Starts redis-server on `port` (or, with `unix_socket`, on that socket
  // only); returns once it accepts connections.
  Subprocess StartRedis(int port, const std::string& unix_socket = "",
                        const std::string& password = "") {
    std::vector<std::string> argv = {redis_server_,
                                     "--port",
                                     absl::StrCat(port),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--daemonize",
                                     "no"};
    if (!unix_socket.empty()) {
      argv.insert(argv.end(), {"--unixsocket", unix_socket});
    }
    if (!password.empty()) argv.insert(argv.end(), {"--requirepass", password});
    absl::StatusOr<Subprocess> redis = Subprocess::Start(argv);
    EXPECT_TRUE(redis.ok()) << redis.status();
    absl::StatusOr<std::string> log = WaitForFile(
        redis->stdout_path(),
        [](const std::string& text) {
          return absl::StrContains(text, "eady to accept connections");
        },
        kTimeout, redis->pidfd());
    EXPECT_TRUE(log.ok()) << log.status() << "\n" << redis->Stdout();
    return *std::move(redis);
  }

  // Starts the fake with `flags`; returns once it accepts, with its address.
  Subprocess StartFake(std::vector<std::string> flags, std::string* address) {
    const std::string address_file =
        absl::StrCat(dir_, "/addr", ++fakes_started_);
    std::vector<std::string> argv = {fake_, "--port=0", "--quiet",
                                     "--address_file=" + address_file};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<Subprocess> fake = Subprocess::Start(argv);
    EXPECT_TRUE(fake.ok()) << fake.status();
    absl::StatusOr<std::string> addr =
        WaitForAddressFile(address_file, kTimeout, fake->pidfd());
    EXPECT_TRUE(addr.ok()) << addr.status() << "\n" << fake->Stderr();
    *address = addr.ok() ? *addr : "127.0.0.1:1";
    return *std::move(fake);
  }

  // Runs every command (Commands() by default) with redis-cli against
  // `address`, each after AUTH `password` if given; returns "command ->
  // output" lines.
  std::string RunCommands(
      const std::string& address,
      const std::vector<std::vector<std::string>>& commands = Commands(),
      const std::string& password = "") {
    const size_t colon = address.rfind(':');
    std::string transcript;
    for (const std::vector<std::string>& command : commands) {
      std::vector<std::string> argv =
          IsUnixAddress(address)
              ? std::vector<std::string>{redis_cli_, "-s", address.substr(5)}
              : std::vector<std::string>{redis_cli_, "-h",
                                         address.substr(0, colon), "-p",
                                         address.substr(colon + 1)};
      if (!password.empty()) {
        argv.insert(argv.end(), {"-a", password, "--no-auth-warning"});
      }
      argv.insert(argv.end(), command.begin(), command.end());
      absl::StatusOr<Subprocess> cli = Subprocess::Start(argv);
      EXPECT_TRUE(cli.ok()) << cli.status();
      absl::StatusOr<int> code = cli->Wait(kTimeout);
      EXPECT_TRUE(code.ok()) << code.status();
      absl::StrAppend(&transcript, absl::StrJoin(command, " "), " -> ",
                      cli->Stdout(), cli->Stderr());
    }
    return transcript;
  }

  // Stops `process` with SIGTERM; returns its exit code.
  static int Stop(Subprocess& process) {
    process.Signal(SIGTERM);
    absl::StatusOr<int> code = process.Wait(kTimeout);
    EXPECT_TRUE(code.ok()) << code.status();
    return code.ok() ? *code : -1;
  }

  std::string redis_server_;
  std::string redis_cli_;
  std::string fake_;
  std::string dir_;
  // Across the tests of this binary, so no address file is used twice.
  static inline int fakes_started_ = 0;
};

TEST_F(RedisRecordReplayTest, RedisCliGetsTheSameAnswersFromTheReplay) {
  const std::string script = dir_ + "/redis.textproto";
  const int redis_port = FreePort();
  std::string recorded;
  {
    Subprocess redis = StartRedis(redis_port);
    std::string address;
    Subprocess proxy =
        StartFake({absl::StrCat("--proxy_to=127.0.0.1:", redis_port),
                   "--record=" + script},
                  &address);
    recorded = RunCommands(address);
    EXPECT_EQ(Stop(proxy), 0) << proxy.Stderr();
    EXPECT_THAT(proxy.Stderr(), HasSubstr("recorded 6 rules to " + script));
    Stop(redis);
  }
  // What redis-cli printed through the proxy: redis-server's own answers.
  EXPECT_EQ(recorded,
            "PING -> PONG\n"
            "SET greeting hello -> OK\n"
            "GET greeting -> hello\n"
            "INCR counter -> 1\n"
            "INCR counter -> 2\n"
            "GET missing -> \n"
            // redis-cli ends an error reply with an empty line.
            "INCR greeting -> ERR value is not an integer or out of range\n"
            "\n");

  // redis-server is stopped: the script alone answers the same.
  std::string address;
  Subprocess replay = StartFake({"--script=" + script}, &address);
  EXPECT_EQ(RunCommands(address), recorded);
  EXPECT_EQ(Stop(replay), 0);
  EXPECT_THAT(replay.Stderr(), Not(HasSubstr("no rule matched")));
  EXPECT_THAT(replay.Stderr(), Not(HasSubstr("never matched")));

  // A proxy whose upstream is down answers from the recording instead
  // (--upstream_gone=reply), and its log says why.
  // Its port is held, bound and not listening, so no server started now gets
  // it (a proxy of its own port would loop) and connects are refused.
  const RefusingPort down;
  Subprocess fallback = StartFake(
      {"--proxy_to=" + down.address(), "--upstream_gone=reply",
       "--script=" + script, "--transcript=" + dir_ + "/fallback.txt"},
      &address);
  EXPECT_EQ(RunCommands(address), recorded);
  EXPECT_EQ(Stop(fallback), 0);
  absl::StatusOr<std::string> transcript = ReadFile(dir_ + "/fallback.txt");
  ASSERT_TRUE(transcript.ok()) << transcript.status();
  EXPECT_THAT(*transcript,
              HasSubstr(absl::StrCat("upstream (connect ", down.address(),
                                     ": Connection refused; upstream_gone: "
                                     "reply)")));
}

// The same session over Unix-domain sockets: redis-server listens on one, the
// recording proxy on another (--unix_socket, --proxy_to=unix:), redis-cli -s
// talks to the proxy, then to the replay; the socket files go with the fakes.
TEST_F(RedisRecordReplayTest, OverUnixSocketsRecordsAndReplays) {
  const std::string script = dir_ + "/redis_unix.textproto";
  const std::string redis_socket = ShortSocketPath("redis.sock");
  const std::string fake_socket = ShortSocketPath("fake.sock");
  std::string recorded;
  {
    Subprocess redis = StartRedis(0, redis_socket);
    std::string address;
    Subprocess proxy = StartFake(
        {"--unix_socket=" + fake_socket, "--proxy_to=unix:" + redis_socket,
         "--record=" + script, "--transcript=" + dir_ + "/unix.txt"},
        &address);
    EXPECT_EQ(address, "unix:" + fake_socket);
    recorded = RunCommands(address);
    EXPECT_EQ(Stop(proxy), 0) << proxy.Stderr();
    EXPECT_THAT(proxy.Stderr(), HasSubstr("recorded 6 rules to " + script));
    Stop(redis);
  }
  EXPECT_THAT(recorded, HasSubstr("GET greeting -> hello\n"));
  EXPECT_THAT(recorded, HasSubstr("INCR counter -> 2\n"));
  struct stat st;
  EXPECT_NE(lstat(fake_socket.c_str(), &st), 0)
      << "the fake left its socket file";
  absl::StatusOr<std::string> transcript = ReadFile(dir_ + "/unix.txt");
  ASSERT_TRUE(transcript.ok()) << transcript.status();
  // Each redis-cli run is a process of its own: the log says which.
  EXPECT_THAT(*transcript, HasSubstr(" unix pid="));
  EXPECT_THAT(*transcript, HasSubstr(absl::StrCat(" uid=", getuid())));

  std::string address;
  Subprocess replay = StartFake(
      {"--unix_socket=" + fake_socket, "--script=" + script}, &address);
  EXPECT_EQ(RunCommands(address), recorded);
  EXPECT_EQ(Stop(replay), 0);
  EXPECT_THAT(replay.Stderr(), Not(HasSubstr("no rule matched")));
}

// A client whose keys and ids change from run to run, behind a password:
// recorded with --record_match=shape and --redact, the second run's other keys
// and ids replay (ECHO answers with the new id) and the password is nowhere
// in the recording or the transcript.
TEST_F(RedisRecordReplayTest,
       ShapeRecordingReplaysOtherKeysWithoutThePassword) {
  const std::string script = dir_ + "/redis_shape.textproto";
  const std::string transcript_path = dir_ + "/shape.txt";
  const int redis_port = FreePort();
  auto session = [](const std::string& id) {
    return std::vector<std::vector<std::string>>{{"SET", "user:" + id, "alice"},
                                                 {"GET", "user:" + id},
                                                 {"ECHO", "req-" + id},
                                                 {"INCR", "visits:" + id}};
  };
  std::string recorded;
  {
    Subprocess redis = StartRedis(redis_port, "", "hunter2secret");
    std::string address;
    // RESP: AUTH's argument is the bulk string after "$<length>".
    Subprocess proxy =
        StartFake({absl::StrCat("--proxy_to=127.0.0.1:", redis_port),
                   "--record=" + script, "--record_match=shape",
                   "--redact=AUTH\\r\\n\\$[0-9]+\\r\\n([^\\r]+)",
                   "--transcript=" + transcript_path},
                  &address);
    recorded = RunCommands(address, session("20411"), "hunter2secret");
    EXPECT_EQ(Stop(proxy), 0) << proxy.Stderr();
    Stop(redis);
  }
  EXPECT_EQ(recorded,
            "SET user:20411 alice -> OK\n"
            "GET user:20411 -> alice\n"
            "ECHO req-20411 -> req-20411\n"
            "INCR visits:20411 -> 1\n");
  for (const std::string& path : {script, transcript_path}) {
    absl::StatusOr<std::string> text = ReadFile(path);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_THAT(*text, Not(HasSubstr("hunter2secret"))) << path;
    EXPECT_THAT(*text, HasSubstr("<redacted>")) << path;
  }

  // Another run: other ids, another password; redis-server is gone.
  std::string address;
  Subprocess replay = StartFake({"--script=" + script}, &address);
  EXPECT_EQ(RunCommands(address, session("30522"), "otherpass"),
            "SET user:30522 alice -> OK\n"
            "GET user:30522 -> alice\n"
            "ECHO req-30522 -> req-30522\n"
            "INCR visits:30522 -> 1\n");
  EXPECT_EQ(Stop(replay), 0);
  EXPECT_THAT(replay.Stderr(), Not(HasSubstr("no rule matched")));
}

}  // namespace
}  // namespace fake_tcp
