#include "testing/harness.h"

#include <unistd.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/health_client.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/testing/network_isolation.h"

namespace fake_tcp::testing {

FixtureOptions::FixtureOptions() { server.port = 9500; }

Harness::Harness(FixtureOptions options) : options_(std::move(options)) {}

Harness::~Harness() { Stop(); }

absl::Status Harness::Start() {
  if (!options_.out_of_process) return StartInProcess();
  child_ = std::make_unique<ChildServer>(&options_);
  if (absl::Status s = child_->Start(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<ServerControl>> control =
      RemoteControl(child_->control_address_file(), &child_->log());
  if (!control.ok()) {
    return absl::Status(
        control.status().code(),
        absl::StrCat("out of process: the child's control API: ",
                     control.status().message()));
  }
  control_ = *std::move(control);
  return absl::OkStatus();
}

absl::Status Harness::StartInProcess() {
  ServerOptions server_options = options_.server;
  if (options_.script.has_value()) {
    absl::StatusOr<std::shared_ptr<ScriptedResponder>> script =
        ScriptedResponder::Create(*options_.script);
    if (!script.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("options.script: ", script.status().message()));
    }
    script_ = *std::move(script);
    if (absl::Status s = script_->ApplyTo(&server_options); !s.ok()) return s;
  }
  server_ = std::make_unique<FakeTcpServer>(server_options);
  health_ = std::make_unique<HealthSidecar>(server_.get(), options_.health);
  if (absl::Status s = health_->Start(); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("fake server health endpoint: ", s.message()));
  }
  control_ = InProcessControl(server_.get(), script_, health_->address());
  if (absl::Status s = server_->Start(); !s.ok()) {
    if (absl::IsUnavailable(s) && options_.server.port != 0) {
      return absl::UnavailableError(PortInUseMessage(
          JoinHostPort(options_.server.address, options_.server.port),
          s.message()));
    }
    return s;
  }
  if (const std::string ca = server_->tls_ca_pem(); !ca.empty()) {
    static std::atomic<int> counter{0};
    const char* dir = getenv("TEST_TMPDIR");
    tls_ca_file_ =
        absl::StrCat(dir != nullptr ? dir : "/tmp", "/fake_tcp_server_ca_",
                     getpid(), "_", counter.fetch_add(1), ".pem");
    if (absl::Status s = WriteFileAtomically(tls_ca_file_, ca); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = WaitUntilServing(
          health_->address(), options_.health.service, options_.ready_timeout);
      !s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("the fake server never became SERVING: ", s.message()));
  }
  return absl::OkStatus();
}

void Harness::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_ != nullptr) server_->Stop();
  if (health_ != nullptr) health_->Stop();
  if (child_ != nullptr) child_->Stop();
}

const MessageLog& Harness::log() const {
  if (child_ != nullptr && child_->has_log()) return child_->log();
  return server_ != nullptr ? server_->log() : empty_log_;
}

MessageLog& Harness::mutable_log() {
  if (child_ != nullptr && child_->has_log()) return child_->log();
  return server_ != nullptr ? server_->log() : empty_log_;
}

std::string Harness::address() const {
  if (server_ != nullptr) return server_->address();
  return child_ != nullptr ? child_->address() : "";
}

int Harness::port() const {
  if (server_ != nullptr) return server_->port();
  absl::StatusOr<HostPort> address = ParseHostPort(this->address());
  return address.ok() ? address->port : 0;
}

std::string Harness::tls_ca_file() const {
  if (child_ != nullptr) return child_->tls_ca_file();
  return tls_ca_file_;
}

std::string Harness::health_address() const {
  if (health_ != nullptr) return health_->address();
  return child_ != nullptr ? child_->health_address() : "";
}

void Harness::RecordFailedWait(FailedWait wait) {
  absl::MutexLock lock(&mu_);
  failed_waits_.push_back(std::move(wait));
}

std::vector<FailedWait> Harness::failed_waits() const {
  absl::MutexLock lock(&mu_);
  return failed_waits_;
}

void Harness::ClearFailedWaits() {
  absl::MutexLock lock(&mu_);
  failed_waits_.clear();
}

}  // namespace fake_tcp::testing
