#include "testing/child_server.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/health_client.h"
#include "server/base/file.h"
#include "server/base/net.h"
#include "server/options/options_flags.h"
#include "server/testing/network_isolation.h"

namespace fake_tcp::testing {
namespace {

constexpr absl::Duration kChildExitTimeout = absl::Seconds(30);

// A fresh directory under $TEST_TMPDIR for one child's files.
std::string NewTempDir() {
  static std::atomic<int> counter{0};
  const char* base = getenv("TEST_TMPDIR");
  const std::string dir =
      absl::StrCat(base != nullptr ? base : "/tmp", "/fake_tcp_server_",
                   absl::ToUnixNanos(absl::Now()), "_", counter.fetch_add(1));
  mkdir(dir.c_str(), 0755);
  return dir;
}

}  // namespace

absl::Status ChildServer::Start() {
  const ServerOptions& o = options_.server;
  absl::StatusOr<std::vector<std::string>> server_flags =
      ServerOptionsToFlags(o);
  if (!server_flags.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "out of process: options.server.", server_flags.status().message(),
        "; it cannot reach the child (pass flags in extra_flags, or a "
        "script)"));
  }
  absl::StatusOr<std::string> binary =
      Runfile("fake_tcp_server/tools/fake_tcp_server");
  if (!binary.ok()) {
    return absl::NotFoundError(
        absl::StrCat("out of process: ", binary.status().message(),
                     " (add //tools:fake_tcp_server to the test's data, as the "
                     "fake_tcp_server_test() macro does)"));
  }
  const std::string dir = NewTempDir();
  const std::string address_file = dir + "/address";
  const std::string health_file = dir + "/health";
  const std::string event_log = dir + "/events";
  control_address_file_ = dir + "/control.json";
  std::vector<std::string> argv = {
      *binary,
      absl::StrCat("--health_port=", options_.health.port),
      absl::StrCat("--health_service=", options_.health.service),
      absl::StrCat("--address_file=", address_file),
      absl::StrCat("--health_address_file=", health_file),
      absl::StrCat("--event_log=", event_log),
      absl::StrCat("--control_address_file=", control_address_file_),
      "--quiet",
  };
  argv.insert(argv.end(), server_flags->begin(), server_flags->end());
  if (o.tls.has_value() && o.tls->cert_file.empty()) {
    // Written before the address file, so there once the child accepts.
    tls_ca_file_ = dir + "/ca.pem";
    argv.push_back(absl::StrCat("--tls_ca_file=", tls_ca_file_));
  }
  if (options_.script.has_value()) {
    if (absl::Status s = ValidateScript(*options_.script); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("options.script: ", s.message()));
    }
    const std::string script_file = dir + "/script.textproto";
    if (absl::Status s =
            WriteFileAtomically(script_file, ScriptToText(*options_.script));
        !s.ok()) {
      return s;
    }
    argv.push_back(absl::StrCat("--script=", script_file));
  }
  argv.insert(argv.end(), options_.extra_flags.begin(),
              options_.extra_flags.end());
  absl::StatusOr<Subprocess> child = Subprocess::Start(argv);
  if (!child.ok()) return child.status();
  child_ = std::make_unique<Subprocess>(*std::move(child));
  mirror_ = std::make_unique<MessageLog>(o.log_limits);

  const absl::Time deadline = absl::Now() + options_.ready_timeout;
  absl::StatusOr<std::string> health =
      WaitForAddressFile(health_file, options_.ready_timeout, child_->pidfd());
  if (!health.ok()) return Failed(health.status().message());
  health_address_ = *health;
  // The event log exists before the health file does.
  follower_.Start(event_log, mirror_.get());
  absl::StatusOr<std::string> address =
      WaitForAddressFile(address_file, deadline - absl::Now(), child_->pidfd());
  if (!address.ok()) return Failed(address.status().message());
  address_ = *address;
  // Written after the health file (the control API's status names it).
  if (absl::StatusOr<std::string> control = WaitForAddressFile(
          control_address_file_, deadline - absl::Now(), child_->pidfd());
      !control.ok()) {
    return Failed(control.status().message());
  }
  if (absl::Status s = WaitUntilServing(
          health_address_, options_.health.service, deadline - absl::Now());
      !s.ok()) {
    return Failed(
        absl::StrCat("the fake server never became SERVING: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ChildServer::Failed(absl::string_view what) {
  absl::StatusOr<int> code = child_->Wait(absl::Seconds(5));
  const std::string err = child_->Stderr();
  const ServerOptions& o = options_.server;
  if (absl::StrContains(err, "Address already in use")) {
    return absl::UnavailableError(PortInUseMessage(
        JoinHostPort(o.address, o.port), "Address already in use"));
  }
  return absl::UnavailableError(absl::StrCat(
      "out of process: ", what, "; the child ",
      code.ok() ? absl::StrCat("exited with ", *code) : "is still running",
      "; its stderr:\n", err));
}

void ChildServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (child_ != nullptr) {
    child_->Signal(SIGTERM);
    if (!child_->Wait(kChildExitTimeout).ok()) {
      child_->Signal(SIGKILL);
      (void)child_->Wait(kChildExitTimeout);
    }
  }
  follower_.Stop();
}

}  // namespace fake_tcp::testing
