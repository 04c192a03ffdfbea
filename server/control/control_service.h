#ifndef SERVER_CONTROL_CONTROL_SERVICE_H_
#define SERVER_CONTROL_CONTROL_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/control/control.pb.h"
#include "server/fake_tcp_server.h"
#include "server/log/message_log.h"
#include "server/script.h"
#include "server/script/script_matcher.h"

namespace fake_tcp {

// What a ControlService may do beyond the server itself, and its bounds.
struct ControlServiceOptions {
  // Reported by status (the health sidecar's "host:port"; empty if none).
  std::string health_address;
  // The script the server was started with (its ScriptedResponder is the
  // server's responder), or null; PUT /v1/script makes one when there is none.
  std::shared_ptr<ScriptedResponder> script;
  // Writes the transcript now and returns where it went; null: the transcript
  // is only returned.
  std::function<absl::StatusOr<std::string>(const std::string& text)>
      write_transcript;
  // Writes the recording (--record) now; null: recording is
  // FAILED_PRECONDITION (the fake does not record).
  std::function<absl::StatusOr<control::RecordingResult>()> write_recording;
  // Shuts the whole fake down (gracefully, the transcript kept), after the
  // answer has gone out; null: shutdown is UNIMPLEMENTED.
  std::function<void()> shutdown;
  // Called before the log is cleared (Clear, Reset) with the sequence number
  // of its last entry: blocks until whatever passes the log on (the event
  // stream, which other processes mirror) has every entry up to it, so the
  // clear drops nothing they have not seen. Null: nothing to wait for.
  std::function<void(uint64_t through)> before_clear;
  // Bounds: entries in one log page, and the longest wait.
  uint32_t max_page = 1000;
  absl::Duration max_wait = absl::Minutes(10);
};

// The operations of the control API (server/control/control.proto) on one
// running FakeTcpServer, independent of the transport: each takes a request
// message and returns the answer, or a status whose message names the
// operation and its inputs (INVALID_ARGUMENT for a bad request, NOT_FOUND for
// an unknown connection, FAILED_PRECONDITION when the server's state forbids
// it). Actions reach the I/O thread as the server's own commands do.
//
// Thread-safe: every method may be called from any thread, concurrently; Wait
// blocks its caller (never the server's I/O thread) until its condition holds,
// its deadline passes, the server stops, or `cancelled` is raised and
// Wake() called.
// GetStatus() lists at most this many connections, rules and unused rules; the
// status counts the rest (`*_not_shown`). Near misses are bounded by the
// script.
inline constexpr int kStatusListCap = 1000;

class ControlService;

// One wait (control.WaitRequest) in progress. Check() looks at what the log
// holds now, without blocking, each entry once across calls, and says whether
// it is over (the condition held, or the log finished); Result() is the answer
// then, or at the deadline. ControlService::Wait blocks on it; the control
// server's event loop calls Check() after each change of the log instead, so a
// pending wait holds no thread. Not thread-safe: one caller at a time.
class WaitInProgress {
 public:
  bool Check();
  control::WaitResult Result();
  // How long it may wait: the request's timeout (5 s if none), at most
  // max_wait.
  absl::Duration timeout() const { return timeout_; }

 private:
  friend class ControlService;
  WaitInProgress(const ControlService& service, const MessageLog& log,
                 control::WaitRequest request, absl::Duration timeout,
                 std::optional<CompiledMatcher> matcher, std::string what);
  // Check() under the log's lock.
  bool CheckLocked(const MessageLog::View& view);

  const ControlService& service_;
  const MessageLog& log_;
  const control::WaitRequest request_;
  const absl::Duration timeout_;
  const std::optional<CompiledMatcher> matcher_;
  const std::string what_;
  const absl::Time start_;
  const absl::Time origin_;
  // Scan state: the next sequence to look at, messages seen that count.
  uint64_t next_ = 1;
  uint64_t seen_messages_ = 0;
  std::optional<Event> found_;
  bool held_ = false;
  bool finished_ = false;
};

class ControlService {
 public:
  // `server` is not owned and must outlive the service.
  ControlService(FakeTcpServer* server, ControlServiceOptions options);
  ControlService(const ControlService&) = delete;
  ControlService& operator=(const ControlService&) = delete;

  control::Status GetStatus() ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the page `query` asks for; with `query.wait`, blocks until it
  // holds an entry, the wait passes, or `*cancelled` is true after a Wake()
  // (then CANCELLED).
  absl::StatusOr<control::LogPage> ReadLog(
      const control::LogQuery& query,
      const std::atomic<bool>* cancelled = nullptr) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until the condition holds, `request.timeout` (at most max_wait)
  // passes, the log finishes, or `*cancelled` is true after a Wake(). A
  // timeout is an answer (satisfied: false, with what was seen), not an error.
  // CANCELLED when cancelled; INVALID_ARGUMENT for a bad request.
  absl::StatusOr<control::WaitResult> Wait(
      const control::WaitRequest& request,
      const std::atomic<bool>* cancelled = nullptr);
  // Makes every pending Wait check its `cancelled` flag.
  void Wake();
  // A wait to check without blocking (see WaitInProgress); INVALID_ARGUMENT
  // for a bad request, as Wait.
  absl::StatusOr<std::unique_ptr<WaitInProgress>> BeginWait(
      const control::WaitRequest& request) const;

  absl::StatusOr<control::ActionResult> Send(uint64_t connection,
                                             const control::SendRequest& r);
  absl::StatusOr<control::ActionResult> Broadcast(
      const control::SendRequest& r);
  // Closes one connection (0: every open one).
  absl::StatusOr<control::ActionResult> Close(uint64_t connection,
                                              const control::CloseRequest& r);
  // "pause", "resume" or "stop" accepting.
  absl::Status Listener(const std::string& action);
  // Replaces the rules, fallback and seed (append: adds `request.script`'s
  // rules after the current ones).
  absl::Status SetScript(const control::ScriptRequest& request, bool append)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Replaces how messages are answered: a fixed reply with faults, or none
  // (the script, if any, stops answering).
  absl::Status SetReply(const control::ReplyRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Clears the log and the script's match counts and near misses.
  absl::Status Clear() ABSL_LOCKS_EXCLUDED(mu_);
  // The fake as it started (control.ResetRequest says what that restores).
  absl::StatusOr<control::ResetResult> Reset(const control::ResetRequest& r)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<control::TranscriptResult> Transcript();
  // Writes the recording now.
  absl::StatusOr<control::RecordingResult> Recording();
  absl::Status Shutdown();

  // The log's counters and caps, as the API reports them.
  control::LogStats Stats() const;

 private:
  // The reply `data`/`text` and `fault` say; INVALID_ARGUMENT naming `op`.
  static absl::StatusOr<Reply> MakeReply(const std::string& op,
                                         const control::SendRequest& r);

  FakeTcpServer& server_;
  const ControlServiceOptions options_;
  // The script options_.script held at construction, for Reset.
  const std::optional<Script> initial_script_;

  // Guards which script is in use (null after SetReply or with none).
  absl::Mutex mu_;
  std::shared_ptr<ScriptedResponder> script_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fake_tcp

#endif  // SERVER_CONTROL_CONTROL_SERVICE_H_
