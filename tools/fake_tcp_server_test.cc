// Runs //tools:fake_tcp_server as a user would, as a child process: flags,
// scripts, exit codes, printed lines, address files, and shutdown on SIGTERM
// with clients connected. //tools:send and the load tool: send_test.cc.

#include "server/fake_tcp_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/health_client.h"
#include "client/tcp_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/base/file.h"
#include "server/testing/test_util.h"
#include "testing/subprocess.h"
#include "tools/tool_test.h"

namespace fake_tcp {
namespace {

using ::fake_tcp::testing::ReadFile;

using ::fake_tcp::testing::Runfile;
using ::fake_tcp::testing::Subprocess;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = kToolTimeout;

TEST_F(ToolTest, InvalidFlagsAndScriptsExitTwoNamingTheProblem) {
  const std::string bad_script = dir_ + "/bad.textproto";
  std::ofstream(bad_script)
      << "rules { when { equals: 'x' } fault { probability: 2 } }";
  const std::string lenient_json = dir_ + "/lenient.json";
  std::ofstream(lenient_json) << "{\"rules\": [{\"when\": {\"any\": true}},]}";
  const std::string bad_flags = dir_ + "/bad.flags";
  std::ofstream(bad_flags) << "# a flag file\n--port=0\n  --bogus=1\n";
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, "unknown flag --bogus"},
      {{"--port=abc"}, "invalid value \"abc\" for --port"},
      {{"--port=70000"}, "--port must be 0..65535, got 70000"},
      {{"--framing=lines"}, "--framing: framing \"lines\""},
      {{"--max_connections=0"}, "--max_connections must be positive"},
      {{"--reply=\\q"}, "--reply:"},
      {{"--script=" + bad_script},
       "rules[0].fault.probability: must be in [0, 1], got 2"},
      {{"--script=" + dir_ + "/missing.textproto"}, "cannot read it"},
      {{"--script=" + lenient_json},
       lenient_json + ":1:35: a trailing comma (JSON has none)"},
      {{"--flagfile=" + dir_ + "/missing.flags"},
       "--flagfile: cannot read " + dir_ + "/missing.flags: No such file"},
      {{"--flagfile", bad_flags}, "unknown flag --bogus"},
      {{"--reply_file=" + lenient_json, "--reply=x"},
       "--reply_file replaces --reply"},
      {{"--reply_file=" + dir_ + "/missing.bin"},
       "--reply_file: read " + dir_ + "/missing.bin: No such file"},
      {{"--framing=length:4:big:little"}, "the byte order is given twice"},
      {{"--framing=fixed:100", "--max_message_size=10"},
       "fixed-size framing of 100 bytes is larger than max_message_size 10"},
      {{"--transcript=" + dir_ + "/no/such/dir/t.txt"},
       "--transcript: no directory " + dir_ + "/no/such/dir"},
      {{"--port=0", "9500"}, "unexpected argument \"9500\""},
      {{"--proxy_to=127.0.0.1:1", "--upstream_gone=explode"},
       "--upstream_gone must be close, reset or reply, got explode"},
      {{"--upstream_gone=reset"}, "--upstream_gone needs --proxy_to"},
      {{"--proxy_to=nowhere"}, "proxy.upstream: nowhere: expected host:port"},
      {{"--record=" + dir_ + "/no/such/dir/r.textproto"},
       "--record: no directory " + dir_ + "/no/such/dir"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {server_binary_};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    std::string err;
    EXPECT_EQ(Run(argv, nullptr, &err), 2) << c.flags[0] << ": " << err;
    EXPECT_THAT(err, HasSubstr(c.message)) << c.flags[0];
  }
}

TEST_F(ToolTest, PortInUseExitsOneWithTheAddress) {
  FakeTcpServer holder;  // 127.0.0.1:9500
  ASSERT_TRUE(holder.Start().ok());
  std::string err;
  EXPECT_EQ(Run({server_binary_}, nullptr, &err), 1);
  EXPECT_THAT(err, HasSubstr("bind 127.0.0.1:9500: Address already in use"));
}

TEST_F(ToolTest, PrintsWhereItListensAndEachEventAsItHappens) {
  StartServer({"--framing=line"});
  EXPECT_THAT(ReadFile(dir_ + "/addr"), Not(HasSubstr("\n")));
  absl::StatusOr<HealthStatus> health =
      CheckHealth(health_address_, "fake_tcp_server", kTimeout);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);

  std::string out;
  EXPECT_EQ(Run({send_binary_, "--address=" + address_, "--data=Hello, world",
                 "--framing=line", "--wait=bytes:8"},
                &out),
            0);
  EXPECT_EQ(out, "Received");
  // Lines are flushed at once: visible while the server still runs.
  const std::string line = "received 12 bytes \"Hello, world\"";
  EXPECT_TRUE(
      WaitForFile(
          server_->stdout_path(),
          [&](const std::string& c) { return absl::StrContains(c, line); },
          kTimeout)
          .ok());
  const std::string first = server_->Stdout();
  EXPECT_THAT(first,
              HasSubstr(absl::StrCat("fake_tcp_server: listening on ", address_,
                                     " (delimiter \"\\n\" framing, reply "
                                     "\"Received\"); health on ",
                                     health_address_)));
  EXPECT_THAT(first, HasSubstr("received 12 bytes \"Hello, world\""));
  server_->Signal(SIGTERM);
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
}

TEST_F(ToolTest, SigtermWithClientsConnectedWritesTheWholeTranscript) {
  const std::string transcript = dir_ + "/transcript.txt";
  StartServer({"--framing=line", "--quiet", "--transcript=" + transcript});
  // A watcher of the health endpoint sees NOT_SERVING when shutdown begins.
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(health_address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  grpc::health::v1::HealthCheckRequest request;
  auto watch = stub->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse status;
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  std::vector<TcpClient> clients;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<TcpClient> c = TcpClient::Connect(address_, kTimeout);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->SendAll(absl::StrCat("client ", i, "\n"), kTimeout).ok());
    ASSERT_TRUE(c->ReceiveExactly(8, kTimeout).ok());
    clients.push_back(*std::move(c));
  }
  server_->Signal(SIGTERM);
  ASSERT_TRUE(watch->Read(&status));
  EXPECT_EQ(status.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  for (TcpClient& c : clients) EXPECT_TRUE(c.ReceiveEof(kTimeout).ok());
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << server_->Stderr();
  const std::string text = ReadFile(transcript);
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(text,
                HasSubstr(absl::StrCat("received 8 bytes \"client ", i, "\"")));
  }
  EXPECT_EQ(absl::StrContains(text, "closed by server (server stopped)"), true);
  size_t closes = 0;
  for (size_t at = 0;
       (at = text.find("(server stopped)", at)) != std::string::npos; ++at) {
    ++closes;
  }
  EXPECT_EQ(closes, 3u);
  EXPECT_THAT(server_->Stdout(), Not(HasSubstr("received")));  // --quiet
  EXPECT_THAT(server_->Stderr(), HasSubstr("SIGTERM, shutting down"));
  context.TryCancel();
}

// What `fake_tcp_server | head -1` does to the server: its first line is read,
// then the reader goes away. It used to die of SIGPIPE (141) at its next line,
// losing the transcript.
TEST_F(ToolTest, AReaderThatGoesAwayDoesNotEndTheServer) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  // The event log too: a FIFO whose reader leaves after the first bytes.
  const std::string fifo = dir_ + "/events";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int events = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(events, 0);
  const std::string transcript = dir_ + "/transcript.txt";
  Subprocess::Options options;
  options.stdout_fd = out[1];
  StartServer(
      {"--framing=line", "--transcript=" + transcript, "--event_log=" + fifo},
      options);
  close(out[1]);
  std::string first;
  char c = 0;
  pollfd readable{out[0], POLLIN, 0};
  while (first.find('\n') == std::string::npos &&
         poll(&readable, 1, absl::ToInt64Milliseconds(kTimeout)) == 1 &&
         read(out[0], &c, 1) == 1) {
    first += c;
  }
  EXPECT_THAT(first, HasSubstr("listening on"));
  close(out[0]);
  close(events);

  for (const char* message : {"one", "two", "three"}) {
    absl::StatusOr<TcpClient> client = TcpClient::Connect(address_, kTimeout);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(client->SendAll(absl::StrCat(message, "\n"), kTimeout).ok());
    absl::StatusOr<std::string> reply = client->ReceiveExactly(8, kTimeout);
    ASSERT_TRUE(reply.ok()) << message << ": " << reply.status() << "\n"
                            << server_->Stderr();
    EXPECT_EQ(*reply, "Received");
  }
  server_->Signal(SIGTERM);
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << server_->Stderr();
  EXPECT_THAT(server_->Stderr(),
              AllOf(HasSubstr("stdout: Broken pipe; events are no longer "
                              "printed"),
                    HasSubstr("--event_log")));
  const std::string text = ReadFile(transcript);
  for (const char* message : {"one", "two", "three"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\"", message, "\"")));
  }
}

// A reader that stays but stops reading (a full pipe) used to hold shutdown
// for ever: now what stdout does not take within 2 s of SIGTERM is not
// printed, and the transcript is written all the same.
TEST_F(ToolTest, AStdoutNobodyReadsDoesNotHoldShutdown) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const std::string transcript = dir_ + "/transcript.txt";
  Subprocess::Options options;
  options.stdout_fd = out[1];
  StartServer({"--framing=line", "--verbose", "--transcript=" + transcript},
              options);
  close(out[1]);
  // ~1 MB of hex dump: far more than the pipe holds, and nobody reads it.
  absl::StatusOr<TcpClient> client = TcpClient::Connect(address_, kTimeout);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(client->SendAll(std::string(200000, 'x') + "\n", kTimeout).ok());
  ASSERT_TRUE(client->ReceiveExactly(8, kTimeout).ok());
  server_->Signal(SIGTERM);
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  close(out[0]);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->Stderr();
  EXPECT_THAT(server_->Stderr(),
              HasSubstr("stdout: not read within 2s of shutdown"));
  EXPECT_THAT(ReadFile(transcript), HasSubstr("received 200000 bytes"));
}

// Under a low descriptor limit (1,024 is a common default) the server runs out
// of descriptors before max_connections and accept fails with EMFILE. It used
// to spin on the listener, clients waiting unserved and nothing logged; now it
// says so once, waits for a descriptor, and then serves the waiting clients.
TEST_F(ToolTest, SecondSignalExitsAtOnce) {
  // The event log is a pipe nobody reads: once its buffer is full, the server's
  // shutdown waits on it forever, so the second signal surely lands
  // mid-shutdown.
  const std::string fifo = dir_ + "/events.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  StartServer({"--quiet", "--event_log=" + fifo});
  absl::StatusOr<TcpClient> c = TcpClient::Connect(address_, kTimeout);
  ASSERT_TRUE(c.ok());
  const std::string big(size_t{256} << 10, 'x');  // more than the pipe holds
  ASSERT_TRUE(c->SendAll(big, kTimeout).ok());
  ASSERT_TRUE(c->ReceiveExactly(8, kTimeout).ok());
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(absl::Milliseconds(500)).status().code(),
            absl::StatusCode::kDeadlineExceeded);  // stuck in shutdown
  server_->Signal(SIGTERM);
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGTERM);
  close(reader);
}

TEST_F(ToolTest, StopOnStdinEofShutsDownCleanlyWhenTheLauncherGoes) {
  // The launcher's end of the pipe closing (it exited, however) stops the fake
  // as SIGTERM does: transcript written, exit 0.
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  Subprocess::Options options;
  options.stdin_fd = pipe_fds[0];
  const std::string transcript = dir_ + "/stdin.transcript";
  StartServer({"--stop_on_stdin_eof", "--transcript=" + transcript}, options);
  close(pipe_fds[0]);
  std::string out;
  EXPECT_EQ(Run({send_binary_, "--address=" + address_, "--data=hi"}, &out), 0);
  EXPECT_EQ(out, "Received");
  ASSERT_EQ(write(pipe_fds[1], "ignored\n", 8),
            8);  // input is read and dropped
  close(pipe_fds[1]);
  absl::StatusOr<int> code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->Stderr();
  EXPECT_THAT(server_->Stderr(),
              HasSubstr("standard input ended, shutting down"));
  std::ifstream in(transcript);
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("received 2 bytes \"hi\""));

  // After a SIGTERM, the end of input (the launcher going once it has
  // signalled) is not a second signal that would cut the shutdown short.
  ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  options.stdin_fd = pipe_fds[0];
  StartServer({"--stop_on_stdin_eof"}, options);
  close(pipe_fds[0]);
  server_->Signal(SIGTERM);
  close(pipe_fds[1]);
  code = server_->Wait(kTimeout);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->Stderr();
  EXPECT_THAT(server_->Stderr(), HasSubstr("SIGTERM, shutting down"));
}

TEST_F(ToolTest, VerbosePrintsHexDumps) {
  StartServer({"--verbose"});
  std::string out;
  EXPECT_EQ(Run({send_binary_, "--address=" + address_, "--data=\\001\\002AB",
                 "--wait=bytes:8"},
                &out),
            0);
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(
      server_->Stdout(),
      HasSubstr(
          "00000000  01 02 41 42                                      |..AB|"));
}

TEST_F(ToolTest, ScriptFileDrivesTheReplies) {
  const std::string script = dir_ + "/kv.json";
  // JSON spells bytes in base64: "Cg==" is "\n", "RVJSCg==" is "ERR\n".
  std::ofstream(script) << R"json({
    "framing": {"delimiter": "Cg=="},
    "rules": [{"name": "get", "when": {"regex": "GET (\\w+)"},
               "responses": [{"rewrite": "VALUE \\1\n"}]}],
    "fallback": {"reply": "RVJSCg=="}
  })json";
  StartServer({"--script=" + script});
  std::string out;
  EXPECT_EQ(
      Run({send_binary_, "--address=" + address_, "--data=GET k\\nPUT\\n"},
          &out),
      0);
  EXPECT_EQ(out, "VALUE k\nERR\n");
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(server_->Stdout(),
              HasSubstr("script " + script + " with 1 rules"));
  EXPECT_THAT(server_->Stderr(), HasSubstr("\"PUT\" matched no rule"));
}

TEST_F(ToolTest, ReplyFileRepliesWithTheFileAsItIs) {
  const std::string file = dir_ + "/reply.bin";
  const std::string bytes("\0\x01\\n not escaped\n", 17);
  std::ofstream(file, std::ios::binary) << bytes;
  StartServer({"--reply_file=" + file});
  absl::StatusOr<TcpClient> c = TcpClient::Connect(address_, kTimeout);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendAll("x", kTimeout).ok());
  absl::StatusOr<std::string> reply = c->ReceiveExactly(bytes.size(), kTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, bytes);
}

TEST_F(ToolTest, LongListsAtExitAreCapped) {
  const std::string script = dir_ + "/many.textproto";
  {
    std::ofstream out(script);
    for (int i = 0; i < 30; ++i) {
      out << "rules { name: 'r" << i << "' when { equals: 'never' } }\n";
    }
  }
  StartServer({"--script=" + script});
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->Wait(kTimeout).ok());
  EXPECT_THAT(server_->Stderr(),
              HasSubstr("rules that never matched: r0, r1, r2, r3, r4, r5, r6, "
                        "r7, r8, r9, r10, r11, r12, r13, r14, r15, r16, r17, "
                        "r18, r19 and 10 more\n"));
}

}  // namespace
}  // namespace fake_tcp
