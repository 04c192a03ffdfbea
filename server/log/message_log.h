#ifndef SERVER_LOG_MESSAGE_LOG_H_
#define SERVER_LOG_MESSAGE_LOG_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/log/redactor.h"

namespace fake_tcp {

// What happened on a connection.
enum class EventType {
  // A connection was accepted.
  kAccepted,
  // A framed message arrived; `bytes` is the message.
  kReceived,
  // Bytes were fully written to the socket; `bytes` says which.
  kSent,
  // The peer closed (EOF); `bytes` holds an unfinished frame, if any.
  kPeerClosed,
  // The peer reset the connection (ECONNRESET) or another error.
  kReset,
  // The server closed the connection (`detail` says why)
  kServerClosed,
  // A message exceeded max_message_size; the connection is closed.
  kOversize,
  // Malformed framing (e.g. a bad length header); closed.
  kFramingError,
  // Accepted past max_connections and closed at once.
  kConnectionLimit,
  // The server reset the connection (a fault, or a drop)
  kServerReset,
  // The server shut down its write side (a fault)
  kServerHalfClosed,
  // The server will send nothing more on it (a fault)
  kStalled,
  // Proxy mode: the connection's upstream connected, failed or closed
  // (`detail` says which and where).
  kUpstream,
  // TLS: the handshake completed; `detail` says what was negotiated.
  kTls,
};

// Returns the event type's name, e.g. "received".
absl::string_view EventTypeName(EventType type);

// Returns true iff `type` ends a connection.
bool IsCloseEvent(EventType type);

// One entry in the log: a message or a connection event.
struct Event {
  // 1, 2, ... per server, in the order events were logged.
  uint64_t sequence = 0;
  EventType type = EventType::kReceived;
  // 1, 2, ... per server, in accept order.
  uint64_t connection_id = 0;
  // "127.0.0.1:54321" or "[::1]:54321"; on a Unix-domain socket the client's
  // process and user (SO_PEERCRED), "unix pid=4242 uid=1000".
  std::string peer;
  // When it happened.
  absl::Time time;
  // The message (received/sent) or leftover bytes.
  std::string bytes;
  // Why, for closes and errors; empty otherwise.
  std::string detail;

  // Formats the event on one line, e.g.
  // `#3 +0.012s conn 1 127.0.0.1:40000 received 12 bytes "Hello, world"`, with
  // times relative to `origin` and long or binary payloads shortened or shown
  // in hex.
  std::string ToString(absl::Time origin = absl::InfinitePast()) const;
};

// Shows `bytes` for people: quoted and C-escaped when mostly text, otherwise as
// hex; at most `max_bytes` of them, then "... (N bytes)".
std::string FormatBytes(absl::string_view bytes, size_t max_bytes = 64);

// Bounds on what the log keeps. Past either one, the oldest entries are dropped
// and counted (`dropped_events()`), never silently.
struct LogLimits {
  size_t max_events = 100000;
  // Of message bytes and details kept. One entry keeps at most a quarter of it
  // (at least 1 KiB): the rest of a bigger message is cut, and its detail says
  // "<n> bytes, the first <m> kept in the log".
  size_t max_bytes = size_t{64} << 20;
};

// The most bytes one entry keeps: a quarter of `limits.max_bytes` (at least
// 1 KiB), so a huge message never evicts everything before it. An entry cut to
// it says so in its detail, with TrimmedNote.
size_t MaxEntryBytes(const LogLimits& limits);
// "104857600 bytes, the first 16777216 kept in the log".
std::string TrimmedNote(size_t size, size_t kept);

// Counters over everything logged since construction or the last Clear(),
// including entries the bounds have since dropped.
struct LogCounts {
  // kReceived events.
  uint64_t received = 0;
  // kSent events.
  uint64_t sent = 0;
  // kAccepted events.
  uint64_t accepted = 0;
  // Close events of accepted connections.
  uint64_t closed = 0;
  // Entries dropped to stay within LogLimits.
  uint64_t dropped = 0;
  // Connections accepted and not yet closed (never reset)
  uint64_t open = 0;
};

// The record of one server: a bounded, ordered list of Events, and deadline
// waits on it.
//
// Thread-safe: every method may be called from any thread. The server's I/O
// thread appends; tests read copies. Waits block on the internal mutex's
// condition (no polling) and never hold it while the caller runs. Waits count
// everything logged since construction or the last Clear(), including what
// arrived before the wait was called.
class MessageLog {
 public:
  // With a `redactor`, every entry's bytes are redacted before they are kept.
  explicit MessageLog(LogLimits limits = LogLimits(),
                      std::shared_ptr<const Redactor> redactor = nullptr);
  MessageLog(const MessageLog&) = delete;
  MessageLog& operator=(const MessageLog&) = delete;

  // Appends `events` in order, giving each the next sequence number (their
  // `sequence` field is overwritten). Empties `events`.
  void Append(std::vector<Event>* events) ABSL_LOCKS_EXCLUDED(mu_);
  void Append(Event event) ABSL_LOCKS_EXCLUDED(mu_);

  // Appends `event` keeping its `sequence` (which must grow), for a log that
  // mirrors another one (e.g. a server in another process).
  void AppendMirrored(Event event) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns a copy of every entry still kept, oldest first.
  std::vector<Event> Events() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns a copy of the kept entries of type `type`, oldest first.
  std::vector<Event> EventsOfType(EventType type) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the bytes of each kept received message, oldest first.
  std::vector<std::string> ReceivedMessages() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the counters.
  LogCounts counts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the bounds it keeps to.
  const LogLimits& limits() const { return limits_; }
  // Returns when the log began (construction or the last Clear()).
  absl::Time origin() const ABSL_LOCKS_EXCLUDED(mu_);

  // Drops every entry and resets the counters (except `open`), so a shared
  // server can start each test afresh, and gives the entries' memory back to
  // the system. Connections stay open; sequence numbers keep counting. Returns
  // the sequence number of the last entry logged before the clear (0 if none).
  uint64_t Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // Returns OK once at least `count` messages have been received, or
  // DEADLINE_EXCEEDED after `timeout` with what was received (a negative
  // timeout is zero). Every wait below fails the same way, and returns
  // FAILED_PRECONDITION at once when the log is finished (its server stopped)
  // before the wait is satisfied.
  absl::Status WaitForMessages(uint64_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the first kept event (earliest first, including those logged before
  // the call) for which `predicate` is true, waiting up to `timeout` for one to
  // be logged; on timeout DEADLINE_EXCEEDED with what was logged. `predicate`
  // runs under the log's lock: it must be quick and must not call back into the
  // log.
  absl::StatusOr<Event> WaitForEvent(
      absl::FunctionRef<bool(const Event&)> predicate,
      absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // As WaitForEvent, over received messages only.
  absl::StatusOr<Event> WaitForMessage(
      absl::FunctionRef<bool(const Event&)> predicate,
      absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns OK once at least `count` connections have been accepted;
  // DEADLINE_EXCEEDED after `timeout`.
  absl::Status WaitForConnections(uint64_t count, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns OK once connection `connection_id` has been accepted and closed (by
  // either side, for any reason); DEADLINE_EXCEEDED after `timeout`.
  absl::Status WaitForConnectionClosed(uint64_t connection_id,
                                       absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the kept events after sequence number `after` (all of them for 0),
  // at most `max_events` of them (the oldest first), waiting up to `timeout`
  // for at least one. Returns DEADLINE_EXCEEDED when none came in time, and
  // OUT_OF_RANGE when none will come because the log is finished. For following
  // the log live.
  absl::StatusOr<std::vector<Event>> WaitForEventsAfter(
      uint64_t after, absl::Duration timeout, size_t max_events = 4096) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // A view of the log for Await's condition: valid only during the call.
  struct View {
    const LogCounts& counts;
    // The kept entries, oldest first; sequences grow, with gaps where the caps
    // dropped entries.
    const std::deque<Event>& events;
    bool finished;
    // The sequence number of the last entry logged (0 if none), kept or not.
    uint64_t last_sequence;
    // Returns the index in `events` of the first entry whose sequence is
    // `sequence` or more (events.size() if none).
    size_t IndexOf(uint64_t sequence) const;
  };
  // Returns true once `ready(view)` does, checking it now, after every change
  // of the log and after every WakeWaiters(); false after `timeout` (a negative
  // timeout is zero). `ready` runs under the log's lock: it must be quick, must
  // not call back into the log, and may read the caller's own state (a cancel
  // flag) if the caller calls WakeWaiters() after changing it. For waits the
  // ones above do not cover (the control API's).
  bool Await(absl::FunctionRef<bool(const View&)> ready,
             absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // Makes every Await() check its condition again.
  void WakeWaiters() const ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `listener` after every change to the log (entries appended, a
  // Clear(), Finish(), WakeWaiters()), on the thread that made it and outside
  // the log's lock: it must be quick and must not block (the I/O thread
  // appends), e.g. wake a thread of its own. Lets an event loop follow the log
  // without a thread blocked in Await(). Returns the id RemoveListener takes;
  // once that returns, the listener is not running and is never called again.
  int AddListener(std::function<void()> listener) const
      ABSL_LOCKS_EXCLUDED(listeners_mu_);
  void RemoveListener(int id) const ABSL_LOCKS_EXCLUDED(listeners_mu_);
  // Returns the sequence number of the last entry logged (0 if none).
  uint64_t last_sequence() const ABSL_LOCKS_EXCLUDED(mu_);

  // Marks the log complete: its server has stopped and will log nothing more.
  // Waits not yet satisfied then return at once with FAILED_PRECONDITION
  // (saying what was seen) instead of waiting out their deadline.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);
  // Returns true iff Finish() was called.
  bool finished() const ABSL_LOCKS_EXCLUDED(mu_);

  // Returns the whole kept log, one event per line, with counters first.
  std::string ToString() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns what a failed wait reports after "waited 1s for 2 messages; ": the
  // counters and the last 20 entries.
  std::string Summary() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Redacts `event` (outside the lock: it may be a big message).
  void Redact(Event* event) const;
  // Appends `event`, numbered `event.sequence`, within the limits.
  void AppendLocked(Event event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts `event` and follows the connections it opens or closes.
  void CountLocked(const Event& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the oldest entries past the limits (never the newest).
  void DropOverLimitsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The one shape of every wait: blocks until `ready()` holds, the log is
  // finished (nothing more can come) or `timeout` passes (negative: zero).
  // `ready` runs under mu_ and reads only what it captured under it.
  template <typename Ready>
  void WaitLocked(Ready ready, absl::Duration timeout) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a timed-out wait reports: the counters and the last few events.
  std::string SummaryLocked(size_t last_events) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The error of an unsatisfied wait for `what`: FAILED_PRECONDITION if the log
  // is finished, else DEADLINE_EXCEEDED after `timeout`.
  absl::Status WaitFailedLocked(absl::Duration timeout,
                                absl::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ClosedLocked(uint64_t connection_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls every listener (message_log_listeners.cc).
  void NotifyListeners() const ABSL_LOCKS_EXCLUDED(mu_, listeners_mu_);

  const LogLimits limits_;
  // Null: nothing is redacted.
  const std::shared_ptr<const Redactor> redactor_;

  // Guards every field below.
  mutable absl::Mutex mu_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  size_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  LogCounts counts_ ABSL_GUARDED_BY(mu_);
  absl::Time origin_ ABSL_GUARDED_BY(mu_);
  // Ids of connections accepted and not yet closed; at most max_connections of
  // them.
  absl::flat_hash_set<uint64_t> open_ ABSL_GUARDED_BY(mu_);
  // Set by Finish(): nothing more will be appended.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The highest connection id seen in any event.
  uint64_t max_connection_id_ ABSL_GUARDED_BY(mu_) = 0;

  // AddListener's listeners; `has_listeners_` lets an append without any skip
  // the lock.
  mutable absl::Mutex listeners_mu_;
  mutable std::vector<std::pair<int, std::function<void()>>> listeners_
      ABSL_GUARDED_BY(listeners_mu_);
  mutable int next_listener_id_ ABSL_GUARDED_BY(listeners_mu_) = 1;
  mutable std::atomic<bool> has_listeners_{false};
};

}  // namespace fake_tcp

#endif  // SERVER_LOG_MESSAGE_LOG_H_
