#ifndef TESTING_SERVER_CONTROL_H_
#define TESTING_SERVER_CONTROL_H_

// ServerControl: the runtime operations on a test's fake server that work the
// same in process and out of process, so a test body does not change with
// FixtureOptions::out_of_process.
//
//   uint64_t id;
//   ASSERT_TRUE(WaitForNextConnection(&id));
//   ASSERT_TRUE(control().Send(id, "+PONG\r\n").ok());
//   ASSERT_TRUE(control().PauseAccepting().ok());
//   absl::StatusOr<fake_tcp::control::Status> status = control().Status();
//
// In process it calls the server's own commands through the control API's
// service (server/control/control_service.h); out of process it calls the
// child's control API over HTTP (server/control/control_client.h). Both speak
// server/control/control.proto, so answers and errors are the same messages in
// both modes. What only C++ can do in process (a Responder, custom framing)
// stays on FakeTcpServer (the fixture's server()).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/control/control.pb.h"
#include "server/fake_tcp_server.h"
#include "server/log/message_log.h"
#include "server/script.h"

namespace fake_tcp::testing {

// Thread-safe: calls may come from any thread (out of process they are
// serialised on one HTTP connection).
class ServerControl {
 public:
  virtual ~ServerControl() = default;

  // Listener state, addresses, connections (id, peer, bytes in and out), log
  // counts and caps, rule use, unused rules and near misses.
  virtual absl::StatusOr<control::Status> Status() = 0;

  // Sends `bytes` to connection `connection_id` (with `fault`, e.g. a latency
  // or a close after sending). NOT_FOUND for an unknown or closed connection.
  absl::Status Send(uint64_t connection_id, absl::string_view bytes,
                    const Fault& fault = Fault());
  // Sends `bytes` to every open connection; returns how many.
  absl::StatusOr<int> Broadcast(absl::string_view bytes);
  // Closes connection `connection_id` (with an RST if `reset`).
  absl::Status Close(uint64_t connection_id, bool reset = false);
  // Closes every open connection; returns how many.
  absl::StatusOr<int> CloseAll(bool reset = false);

  // Health follows, as it does for FakeTcpServer's own commands.
  absl::Status PauseAccepting();
  absl::Status ResumeAccepting();
  absl::Status StopAccepting();

  // Replaces the script's rules, fallback and seed (its framing, greeting and
  // server faults stay as the server started), or appends `script`'s rules
  // after the current ones. Match counts and near misses start over with each
  // change. Framing, greeting and server faults left out of `script` stay as
  // they are; given, they must equal the running ones (INVALID_ARGUMENT).
  absl::Status SetScript(const Script& script);
  absl::Status AppendRules(const Script& script);
  // Answers every message with `bytes` and `fault` from now on (std::nullopt:
  // answers nothing), for new and existing connections; the script, if any,
  // stops answering.
  absl::Status SetReply(std::optional<std::string> bytes,
                        const Fault& fault = Fault());

  // Clears the server's log (and, out of process, the test's mirror of it)
  // and the script's match counts and near misses.
  absl::Status ClearLog();

  // The server as it started, for the next test on a shared server: how
  // messages are answered (the starting script with its counts from zero, or
  // the starting reply or responder), accepting again, every connection closed
  // (unless !drop_connections), the log cleared (out of process, the mirror
  // too, once it has caught up). Returns how many connections it closed.
  absl::StatusOr<int> Reset(bool drop_connections = true);

  // Blocks on the server until `request`'s condition holds or its timeout
  // passes; a timeout is an answer (satisfied: false, with what was seen).
  virtual absl::StatusOr<control::WaitResult> Wait(
      const control::WaitRequest& request) = 0;

  // "in process" or the control API's URL.
  virtual std::string Describe() const = 0;

 protected:
  // The control API's operations (server/control/control.proto), as
  // ControlService has them: connection 0 means every open connection.
  virtual absl::StatusOr<control::ActionResult> DoSend(
      uint64_t connection_id, const control::SendRequest& request) = 0;
  virtual absl::StatusOr<control::ActionResult> DoClose(
      uint64_t connection_id, const control::CloseRequest& request) = 0;
  // "pause", "resume" or "stop".
  virtual absl::Status DoListener(const std::string& action) = 0;
  virtual absl::Status DoScript(const control::ScriptRequest& request,
                                bool append) = 0;
  virtual absl::Status DoReply(const control::ReplyRequest& request) = 0;
  virtual absl::Status DoClear() = 0;
  virtual absl::StatusOr<control::ResetResult> DoReset(
      const control::ResetRequest& request) = 0;
};

// In process: the operations of `server` (not owned), with `script` (its
// responder, or null).
std::unique_ptr<ServerControl> InProcessControl(
    FakeTcpServer* server, std::shared_ptr<ScriptedResponder> script,
    std::string health_address);

// Out of process: the control API the address file names
// (fake_tcp_server --control_address_file), with `timeout` for each call
// beyond its own wait. `mirror` (not owned; null if none) is the test's mirror
// of the child's log: ClearLog() lets it catch up with the child, then clears
// both.
absl::StatusOr<std::unique_ptr<ServerControl>> RemoteControl(
    const std::string& address_file, MessageLog* mirror,
    absl::Duration timeout = absl::Seconds(30));

// Waits up to `timeout` until `mirror` holds every entry up to `sequence` (a
// sequence number of the log it mirrors), or its follower stopped. On timeout
// DEADLINE_EXCEEDED "<op>: the test's mirror of the child's log did not reach
// entry <sequence> within <timeout>".
absl::Status AwaitMirror(const MessageLog& mirror, uint64_t sequence,
                         absl::Duration timeout, absl::string_view op);

}  // namespace fake_tcp::testing

#endif  // TESTING_SERVER_CONTROL_H_
