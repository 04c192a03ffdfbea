#include "testing/harness.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/health_client.h"
#include "server/event_stream.h"
#include "server/framing.h"
#include "server/options_flags.h"
#include "testing/network_isolation.h"
#include "tools/base/file.h"
#include "tools/base/net.h"

namespace fake_tcp::testing {
namespace {

constexpr absl::Duration kChildExitTimeout = absl::Seconds(30);

std::string PortInUseMessage(const std::string& address,
                             absl::string_view why) {
  return absl::StrCat("the fake server cannot listen on ", address, ": ", why,
                      ". ", PortInUseHint(address));
}

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

FixtureOptions::FixtureOptions() { server.port = 9500; }

Harness::Harness(FixtureOptions options) : options_(std::move(options)) {}

Harness::~Harness() { Stop(); }

absl::Status Harness::Start() {
  return options_.out_of_process ? StartChild() : StartInProcess();
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
  if (absl::Status s = server_->Start(); !s.ok()) {
    if (absl::IsUnavailable(s) && options_.server.port != 0) {
      return absl::UnavailableError(PortInUseMessage(
          absl::StrCat(options_.server.address, ":", options_.server.port),
          s.message()));
    }
    return s;
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

absl::Status Harness::StartChild() {
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
  std::vector<std::string> argv = {
      *binary,
      absl::StrCat("--health_port=", options_.health.port),
      absl::StrCat("--health_service=", options_.health.service),
      absl::StrCat("--address_file=", address_file),
      absl::StrCat("--health_address_file=", health_file),
      absl::StrCat("--event_log=", event_log),
      "--quiet",
  };
  argv.insert(argv.end(), server_flags->begin(), server_flags->end());
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

  auto child_failed = [&](absl::string_view what) {
    absl::StatusOr<int> code = child_->Wait(absl::Seconds(5));
    const std::string err = child_->Stderr();
    if (absl::StrContains(err, "Address already in use")) {
      return absl::UnavailableError(PortInUseMessage(
          absl::StrCat(o.address, ":", o.port), "Address already in use"));
    }
    return absl::UnavailableError(absl::StrCat(
        "out of process: ", what, "; the child ",
        code.ok() ? absl::StrCat("exited with ", *code) : "is still running",
        "; its stderr:\n", err));
  };
  const absl::Time deadline = absl::Now() + options_.ready_timeout;
  absl::StatusOr<std::string> health =
      WaitForAddressFile(health_file, options_.ready_timeout, child_->pidfd());
  if (!health.ok()) return child_failed(health.status().message());
  child_health_address_ = *health;
  // The event log exists before the health file does.
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  follower_ = std::thread(&Harness::Follow, this, event_log);
  absl::StatusOr<std::string> address =
      WaitForAddressFile(address_file, deadline - absl::Now(), child_->pidfd());
  if (!address.ok()) return child_failed(address.status().message());
  child_address_ = *address;
  if (absl::Status s =
          WaitUntilServing(child_health_address_, options_.health.service,
                           deadline - absl::Now());
      !s.ok()) {
    return child_failed(
        absl::StrCat("the fake server never became SERVING: ", s.message()));
  }
  return absl::OkStatus();
}

void Harness::Follow(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const int notify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (notify >= 0 && fd >= 0) {
    inotify_add_watch(notify, path.c_str(), IN_MODIFY | IN_CLOSE_WRITE);
  }
  EventStreamDecoder decoder;
  bool stopping = false;
  while (fd >= 0) {
    // Read everything there is; then, unless stopping, wait for more.
    char buffer[65536];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
      absl::StatusOr<std::vector<Event>> events =
          decoder.Feed(absl::string_view(buffer, static_cast<size_t>(n)));
      if (!events.ok()) {
        Event error;
        error.type = EventType::kFramingError;
        error.time = absl::Now();
        error.detail =
            absl::StrCat("event log unreadable: ", events.status().message());
        mirror_->Append(std::move(error));
        stopping = true;
        break;
      }
      for (Event& e : *events) mirror_->AppendMirrored(std::move(e));
    }
    if (stopping) break;
    pollfd fds[2] = {{notify, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents & POLLIN) stopping = true;  // one more read, then done
    char events[sizeof(inotify_event) + NAME_MAX + 1];
    while (notify >= 0 && read(notify, events, sizeof(events)) > 0) {
    }
  }
  if (fd >= 0) close(fd);
  if (notify >= 0) close(notify);
  mirror_->Finish();
}

void Harness::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (server_ != nullptr) server_->Stop();
  if (health_ != nullptr) health_->Stop();
  if (child_ != nullptr) {
    child_->Signal(SIGTERM);
    if (!child_->Wait(kChildExitTimeout).ok()) {
      child_->Signal(SIGKILL);
      (void)child_->Wait(kChildExitTimeout);
    }
  }
  if (follower_.joinable()) {
    const uint64_t one = 1;
    (void)write(stop_fd_, &one, sizeof(one));
    follower_.join();
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  stop_fd_ = -1;
}

const MessageLog& Harness::log() const {
  if (mirror_ != nullptr) return *mirror_;
  return server_ != nullptr ? server_->log() : empty_log_;
}

MessageLog& Harness::mutable_log() {
  if (mirror_ != nullptr) return *mirror_;
  return server_ != nullptr ? server_->log() : empty_log_;
}

std::string Harness::address() const {
  return server_ != nullptr ? server_->address() : child_address_;
}

int Harness::port() const {
  if (server_ != nullptr) return server_->port();
  absl::StatusOr<HostPort> address = ParseHostPort(child_address_);
  return address.ok() ? address->port : 0;
}

std::string Harness::health_address() const {
  return health_ != nullptr ? health_->address() : child_health_address_;
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
