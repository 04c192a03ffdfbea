#ifndef TESTING_FAKE_TCP_SERVER_H_
#define TESTING_FAKE_TCP_SERVER_H_

// GoogleTest integration for the fake TCP server: a per-test fixture, a shared
// per-binary server, waits that explain themselves, gMock matchers on the log,
// and transcripts of failed tests in $TEST_UNDECLARED_OUTPUTS_DIR.
//
//   class HelloTest : public fake_tcp::testing::FakeTcpServerTest {};
//
//   // The fake listens on 127.0.0.1:9500; SendHelloWorld is the code under
//   // test.
//   TEST_F(HelloTest, SaysHello) {
//     SendHelloWorld("127.0.0.1:9500");
//     ASSERT_TRUE(WaitForMessages(1));
//     EXPECT_THAT(log(), ReceivedMessagesAre(ElementsAre("Hello, world")));
//   }

#include <memory>
#include <string>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/fake_tcp_server.h"
#include "server/log/message_log.h"
#include "testing/harness.h"
#include "testing/matchers.h"
#include "testing/server_control.h"
#include "testing/server_waits.h"

namespace fake_tcp::testing {

// A fixture that gives each test its own fake server. SetUp starts it
// (127.0.0.1:9500 by default) with its health endpoint and blocks until the
// endpoint says SERVING; TearDown stops it and, if the test failed, writes the
// transcript. Override Options() to change how it runs:
//
//   class KvTest : public fake_tcp::testing::FakeTcpServerTest {
//    protected:
//     fake_tcp::testing::FixtureOptions Options() const override {
//       fake_tcp::testing::FixtureOptions o;
//       o.server.port = 0;  // a free port, where tests share the network
//       o.server.framing = fake_tcp::Framing::Delimiter("\n");
//       return o;
//     }
//   };
class FakeTcpServerTest : public ::testing::Test, public ServerWaits {
 protected:
  // How the server runs; called once, in SetUp.
  virtual FixtureOptions Options() const { return FixtureOptions(); }

  void SetUp() override;
  void TearDown() override;

  // Valid from SetUp to the end of the test.
  Harness& harness() { return *harness_; }
  // Send, close, pause, resume, swap the script or reply, clear, status: the
  // same calls in and out of process (testing/server_control.h).
  ServerControl& control() { return harness_->control(); }
  // The in-process server (C++ responders, custom framing); null out of
  // process. Prefer control() for what it offers.
  FakeTcpServer* server() { return harness_->server(); }
  const MessageLog& log() const { return harness_->log(); }
  std::string address() const { return harness_->address(); }
  int port() const { return harness_->port(); }
  std::string health_address() const { return harness_->health_address(); }
  // With options.server.tls (a made certificate): a PEM file of the CA the
  // code under test must trust.
  std::string tls_ca_file() const { return harness_->tls_ca_file(); }

 private:
  std::unique_ptr<Harness> harness_;
};

// One fake server for every test of a binary, started before the first test and
// stopped after the last. Register it once, e.g. at namespace scope:
//
//   const auto* const kServer =
//       fake_tcp::testing::RegisterSharedFakeTcpServer();
//
// and derive tests from SharedFakeTcpServerTest, which resets it before each
// test.
class SharedFakeTcpServer : public ::testing::Environment, public ServerWaits {
 public:
  explicit SharedFakeTcpServer(FixtureOptions options = FixtureOptions());

  void SetUp() override;
  void TearDown() override;

  // Gets the server ready for the next test, in or out of process: restores
  // the responder of the options (the script as the options gave it, with its
  // counts from zero; out of process, the child's reply or script), accepts
  // again if a test paused or stopped accepting, (with `drop_connections`)
  // closes connections a previous test left open, then clears the log and
  // failed waits.
  absl::Status Reset(bool drop_connections = true);

  // The same accessors as FakeTcpServerTest's, and SharedFakeTcpServerTest's.
  Harness& harness() { return harness_; }
  ServerControl& control() { return harness_.control(); }
  FakeTcpServer* server() { return harness_.server(); }
  const MessageLog& log() const { return harness_.log(); }
  std::string address() const { return harness_.address(); }
  int port() const { return harness_.port(); }
  std::string health_address() const { return harness_.health_address(); }
  std::string tls_ca_file() const { return harness_.tls_ca_file(); }

  // The registered shared server, or null.
  static SharedFakeTcpServer* Get();

 private:
  Harness harness_;
};

// Creates the shared server and registers it with GoogleTest (which owns it).
SharedFakeTcpServer* RegisterSharedFakeTcpServer(
    FixtureOptions options = FixtureOptions());

// A fixture for tests on the shared server: resets it in SetUp, writes the
// transcript (of this test's part of the log) in TearDown if the test failed.
class SharedFakeTcpServerTest : public ::testing::Test, public ServerWaits {
 protected:
  SharedFakeTcpServerTest();
  void SetUp() override;
  void TearDown() override;

  SharedFakeTcpServer& shared() { return *SharedFakeTcpServer::Get(); }
  ServerControl& control() { return shared().control(); }
  FakeTcpServer* server() { return shared().server(); }
  const MessageLog& log() const { return SharedFakeTcpServer::Get()->log(); }
  std::string address() const { return SharedFakeTcpServer::Get()->address(); }
  int port() const { return SharedFakeTcpServer::Get()->port(); }
  std::string health_address() const {
    return SharedFakeTcpServer::Get()->health_address();
  }
  std::string tls_ca_file() const {
    return SharedFakeTcpServer::Get()->tls_ca_file();
  }
};

// Writes the current test's transcript (text and HTML) for `harness` to
// $TEST_UNDECLARED_OUTPUTS_DIR (or $TEST_TMPDIR outside Bazel), named after the
// test, and prints where. The fixtures call it when a test fails.
void WriteTranscriptForCurrentTest(const Harness& harness);

}  // namespace fake_tcp::testing

#endif  // TESTING_FAKE_TCP_SERVER_H_
