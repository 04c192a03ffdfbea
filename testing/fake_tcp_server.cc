#include "testing/fake_tcp_server.h"

#include <stdlib.h>

#include <iostream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "testing/transcript.h"

namespace fake_tcp::testing {

void WriteTranscriptForCurrentTest(const Harness& harness) {
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info != nullptr ? absl::StrCat(info->test_suite_name(), ".", info->name())
                      : "environment";
  const char* dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (dir == nullptr) dir = getenv("TEST_TMPDIR");
  if (dir == nullptr) {
    std::cerr
        << "fake_tcp_server: no $TEST_UNDECLARED_OUTPUTS_DIR; transcript of "
        << name << " not written\n";
    return;
  }
  TranscriptInput input;
  input.title = name;
  input.address = harness.address();
  input.events = harness.log().Events();
  input.counts = harness.log().counts();
  input.origin = harness.log().origin();
  input.failed_waits = harness.failed_waits();
  const absl::Status s = WriteTranscripts(dir, name, input);
  if (!s.ok()) {
    std::cerr << "fake_tcp_server: transcript of " << name << ": " << s << "\n";
    return;
  }
  std::cerr << "fake_tcp_server: transcript of " << name << " written to "
            << dir << "/" << name << ".transcript.{txt,html}";
  // The directory above is the sandbox's and is gone when the test ends;
  // Bazel keeps its files in a zip beside the test's log.
  const char* target = getenv("TEST_TARGET");
  const std::string kept = StableOutputsPath(target != nullptr ? target : "");
  if (!kept.empty()) {
    std::cerr << "; after the test: unzip -o " << kept << " '" << name
              << ".transcript.*'";
  }
  std::cerr << "\n";
}

void FakeTcpServerTest::SetUp() {
  harness_ = std::make_unique<Harness>(Options());
  set_waits_harness(harness_.get());
  const absl::Status started = harness_->Start();
  ASSERT_TRUE(started.ok()) << started.message();
}

void FakeTcpServerTest::TearDown() {
  if (harness_ == nullptr) return;
  harness_->Stop();  // the log is complete before it is written
  if (HasFailure()) WriteTranscriptForCurrentTest(*harness_);
}

namespace {
SharedFakeTcpServer* registered = nullptr;
}  // namespace

SharedFakeTcpServer::SharedFakeTcpServer(FixtureOptions options)
    : ServerWaits(&harness_), harness_(std::move(options)) {}

void SharedFakeTcpServer::SetUp() {
  const absl::Status started = harness_.Start();
  ASSERT_TRUE(started.ok()) << started.message();
}

void SharedFakeTcpServer::TearDown() { harness_.Stop(); }

absl::Status SharedFakeTcpServer::Reset(bool drop_connections) {
  absl::StatusOr<int> reset = harness_.control().Reset(drop_connections);
  if (!reset.ok()) return reset.status();
  harness_.ClearFailedWaits();
  return absl::OkStatus();
}

SharedFakeTcpServer* SharedFakeTcpServer::Get() { return registered; }

SharedFakeTcpServer* RegisterSharedFakeTcpServer(FixtureOptions options) {
  registered = new SharedFakeTcpServer(std::move(options));
  ::testing::AddGlobalTestEnvironment(registered);
  return registered;
}

SharedFakeTcpServerTest::SharedFakeTcpServerTest()
    : ServerWaits(SharedFakeTcpServer::Get() != nullptr
                      ? &SharedFakeTcpServer::Get()->harness()
                      : nullptr) {}

void SharedFakeTcpServerTest::SetUp() {
  ASSERT_NE(SharedFakeTcpServer::Get(), nullptr)
      << "no shared fake server: call RegisterSharedFakeTcpServer() once";
  const absl::Status reset = shared().Reset();
  ASSERT_TRUE(reset.ok()) << reset.message();
}

void SharedFakeTcpServerTest::TearDown() {
  if (HasFailure() && SharedFakeTcpServer::Get() != nullptr) {
    WriteTranscriptForCurrentTest(shared().harness());
  }
}

}  // namespace fake_tcp::testing
