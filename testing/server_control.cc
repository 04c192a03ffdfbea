#include "testing/server_control.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/duration.pb.h"
#include "server/control/control_client.h"
#include "server/control/control_service.h"

namespace fake_tcp::testing {

absl::Status ServerControl::Send(uint64_t connection_id,
                                 absl::string_view bytes, const Fault& fault) {
  if (connection_id == 0) {
    return absl::InvalidArgumentError(
        "Send(0, ...): connection ids start at 1 (Broadcast sends to all)");
  }
  control::SendRequest request;
  request.set_data(std::string(bytes));
  *request.mutable_fault() = fault;
  return DoSend(connection_id, request).status();
}

absl::StatusOr<int> ServerControl::Broadcast(absl::string_view bytes) {
  control::SendRequest request;
  request.set_data(std::string(bytes));
  absl::StatusOr<control::ActionResult> result = DoSend(0, request);
  if (!result.ok()) return result.status();
  return static_cast<int>(result->connections());
}

absl::Status ServerControl::Close(uint64_t connection_id, bool reset) {
  if (connection_id == 0) {
    return absl::InvalidArgumentError(
        "Close(0): connection ids start at 1 (CloseAll closes every one)");
  }
  control::CloseRequest request;
  request.set_reset(reset);
  return DoClose(connection_id, request).status();
}

absl::StatusOr<int> ServerControl::CloseAll(bool reset) {
  control::CloseRequest request;
  request.set_reset(reset);
  absl::StatusOr<control::ActionResult> result = DoClose(0, request);
  if (!result.ok()) return result.status();
  return static_cast<int>(result->connections());
}

absl::Status ServerControl::PauseAccepting() { return DoListener("pause"); }
absl::Status ServerControl::ResumeAccepting() { return DoListener("resume"); }
absl::Status ServerControl::StopAccepting() { return DoListener("stop"); }

absl::Status ServerControl::SetScript(const Script& script) {
  control::ScriptRequest request;
  *request.mutable_script() = script;
  return DoScript(request, /*append=*/false);
}

absl::Status ServerControl::AppendRules(const Script& script) {
  control::ScriptRequest request;
  *request.mutable_script() = script;
  return DoScript(request, /*append=*/true);
}

absl::Status ServerControl::SetReply(std::optional<std::string> bytes,
                                     const Fault& fault) {
  control::ReplyRequest request;
  if (bytes.has_value()) {
    request.set_data(*std::move(bytes));
  } else {
    request.set_none(true);
  }
  *request.mutable_fault() = fault;
  return DoReply(request);
}

absl::Status ServerControl::ClearLog() { return DoClear(); }

absl::StatusOr<int> ServerControl::Reset(bool drop_connections) {
  control::ResetRequest request;
  request.set_keep_connections(!drop_connections);
  absl::StatusOr<control::ResetResult> result = DoReset(request);
  if (!result.ok()) return result.status();
  return static_cast<int>(result->connections_closed());
}

absl::Status AwaitMirror(const MessageLog& mirror, uint64_t sequence,
                         absl::Duration timeout, absl::string_view op) {
  if (sequence == 0) return absl::OkStatus();
  const bool caught_up = mirror.Await(
      [sequence](const MessageLog::View& view) {
        // A mirror whose follower stopped will not catch up.
        return view.last_sequence >= sequence || view.finished;
      },
      timeout);
  if (caught_up) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      op, ": the test's mirror of the child's log did not reach entry ",
      sequence, " within ", absl::FormatDuration(timeout)));
}

namespace {

// The operations on the server itself, through the control API's service:
// the same code the HTTP API runs.
class InProcess final : public ServerControl {
 public:
  InProcess(FakeTcpServer* server, std::shared_ptr<ScriptedResponder> script,
            std::string health_address)
      : service_(server,
                 Options(std::move(script), std::move(health_address))) {}

  absl::StatusOr<control::Status> Status() override {
    return service_.GetStatus();
  }
  absl::StatusOr<control::WaitResult> Wait(
      const control::WaitRequest& request) override {
    return service_.Wait(request);
  }
  std::string Describe() const override { return "in process"; }

 protected:
  absl::StatusOr<control::ActionResult> DoSend(
      uint64_t connection_id, const control::SendRequest& request) override {
    return connection_id == 0 ? service_.Broadcast(request)
                              : service_.Send(connection_id, request);
  }
  absl::StatusOr<control::ActionResult> DoClose(
      uint64_t connection_id, const control::CloseRequest& request) override {
    return service_.Close(connection_id, request);
  }
  absl::Status DoListener(const std::string& action) override {
    return service_.Listener(action);
  }
  absl::Status DoScript(const control::ScriptRequest& request,
                        bool append) override {
    return service_.SetScript(request, append);
  }
  absl::Status DoReply(const control::ReplyRequest& request) override {
    return service_.SetReply(request);
  }
  absl::Status DoClear() override { return service_.Clear(); }
  absl::StatusOr<control::ResetResult> DoReset(
      const control::ResetRequest& request) override {
    return service_.Reset(request);
  }

 private:
  static ControlServiceOptions Options(
      std::shared_ptr<ScriptedResponder> script, std::string health_address) {
    ControlServiceOptions options;
    options.script = std::move(script);
    options.health_address = std::move(health_address);
    return options;
  }

  ControlService service_;
};

// The child's control API over HTTP.
class Remote final : public ServerControl {
 public:
  Remote(control::AddressFile address, MessageLog* mirror,
         absl::Duration timeout)
      : address_(std::move(address)),
        client_(address_),
        mirror_(mirror),
        timeout_(timeout) {}

  absl::StatusOr<control::Status> Status() override {
    control::Status status;
    if (absl::Status s = Call("GET", "/v1/status", nullptr, &status); !s.ok()) {
      return s;
    }
    return status;
  }
  absl::StatusOr<control::WaitResult> Wait(
      const control::WaitRequest& request) override {
    const absl::Duration wait = absl::Seconds(request.timeout().seconds()) +
                                absl::Nanoseconds(request.timeout().nanos());
    // On a connection of its own, so a wait never holds up other calls.
    ControlClient client(address_);
    control::WaitResult result;
    if (absl::Status s =
            client.Call("POST", "/v1/wait", &request, &result, wait + timeout_);
        !s.ok()) {
      return s;
    }
    return result;
  }
  std::string Describe() const override { return address_.url(); }

 protected:
  absl::StatusOr<control::ActionResult> DoSend(
      uint64_t connection_id, const control::SendRequest& request) override {
    return Action(connection_id == 0 ? std::string("/v1/broadcast")
                                     : absl::StrCat("/v1/connections/",
                                                    connection_id, "/send"),
                  request);
  }
  absl::StatusOr<control::ActionResult> DoClose(
      uint64_t connection_id, const control::CloseRequest& request) override {
    return Action(connection_id == 0 ? std::string("/v1/connections:close")
                                     : absl::StrCat("/v1/connections/",
                                                    connection_id, "/close"),
                  request);
  }
  absl::Status DoListener(const std::string& action) override {
    return Call("POST", absl::StrCat("/v1/listener:", action), nullptr,
                nullptr);
  }
  absl::Status DoScript(const control::ScriptRequest& request,
                        bool append) override {
    return append ? Call("POST", "/v1/script/rules", &request, nullptr)
                  : Call("PUT", "/v1/script", &request, nullptr);
  }
  absl::Status DoReply(const control::ReplyRequest& request) override {
    return Call("PUT", "/v1/reply", &request, nullptr);
  }
  absl::Status DoClear() override {
    if (mirror_ != nullptr) {
      // What the child logged before the clear must reach the mirror before
      // the mirror is cleared, or it would come in after, as this test's.
      absl::StatusOr<control::Status> status = Status();
      if (!status.ok()) return status.status();
      if (absl::Status s = AwaitMirror(*mirror_, status->log().last_sequence(),
                                       timeout_, "clear the log");
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = Call("POST", "/v1/log:clear", nullptr, nullptr);
        !s.ok()) {
      return s;
    }
    if (mirror_ != nullptr) mirror_->Clear();
    return absl::OkStatus();
  }
  absl::StatusOr<control::ResetResult> DoReset(
      const control::ResetRequest& request) override {
    control::ResetResult result;
    if (absl::Status s = Call("POST", "/v1/reset", &request, &result);
        !s.ok()) {
      return s;
    }
    if (mirror_ != nullptr) {
      // Everything the reset cleared (the closes of the connections it
      // dropped too) reaches the mirror first, then goes with it.
      if (absl::Status s = AwaitMirror(*mirror_, result.cleared_through(),
                                       timeout_, "reset");
          !s.ok()) {
        return s;
      }
      mirror_->Clear();
    }
    return result;
  }

 private:
  absl::StatusOr<control::ActionResult> Action(
      const std::string& path, const google::protobuf::Message& request) {
    control::ActionResult result;
    if (absl::Status s = Call("POST", path, &request, &result); !s.ok()) {
      return s;
    }
    return result;
  }

  absl::Status Call(absl::string_view method, absl::string_view path,
                    const google::protobuf::Message* request,
                    google::protobuf::Message* answer)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return client_.Call(method, path, request, answer, timeout_);
  }

  const control::AddressFile address_;
  // Serialises calls: the client is one connection.
  absl::Mutex mu_;
  ControlClient client_ ABSL_GUARDED_BY(mu_);
  MessageLog* const mirror_;
  const absl::Duration timeout_;
};

}  // namespace

std::unique_ptr<ServerControl> InProcessControl(
    FakeTcpServer* server, std::shared_ptr<ScriptedResponder> script,
    std::string health_address) {
  return std::make_unique<InProcess>(server, std::move(script),
                                     std::move(health_address));
}

absl::StatusOr<std::unique_ptr<ServerControl>> RemoteControl(
    const std::string& address_file, MessageLog* mirror,
    absl::Duration timeout) {
  absl::StatusOr<control::AddressFile> address =
      ReadControlAddressFile(address_file);
  if (!address.ok()) return address.status();
  return std::make_unique<Remote>(*std::move(address), mirror, timeout);
}

}  // namespace fake_tcp::testing
