#ifndef TOOLS_EVENT_PRINTER_H_
#define TOOLS_EVENT_PRINTER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/log/event_stream.h"
#include "server/log/message_log.h"

namespace fake_tcp {

// What the standalone server prints of its log: one line per event (and a hex
// dump with --verbose) on stdout, and the --event_log stream.

// Writes the event lines to stdout without stdio, so that a reader that stops
// reading cannot hold shutdown for ever: once StartDraining() is called, what
// cannot be written within kDrainTimeout is given up. Write() is for one
// thread, StartDraining() for another.
class StdoutWriter {
 public:
  static constexpr absl::Duration kDrainTimeout = absl::Seconds(2);

  StdoutWriter();
  StdoutWriter(const StdoutWriter&) = delete;
  StdoutWriter& operator=(const StdoutWriter&) = delete;
  ~StdoutWriter();

  // Makes Write() give up what stdout does not take within kDrainTimeout.
  void StartDraining();

  // Writes all of `text`. Returns the error that ended printing: EPIPE (the
  // reader went away), or DEADLINE_EXCEEDED while draining.
  absl::Status Write(absl::string_view text);

 private:
  const int wake_;
  // Only the writing thread touches these.
  bool draining_ = false;
  absl::Time deadline_;
};

// How far FollowEvents has passed the log on, so that a clear of the log (the
// control API's) does not drop entries before they reach the event stream.
// Thread-safe.
class FollowProgress {
 public:
  // FollowEvents: every entry up to `sequence` is written.
  void Passed(uint64_t sequence) ABSL_LOCKS_EXCLUDED(mu_);
  // FollowEvents: it stopped; waits end at once.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until every entry up to `sequence` is passed on, or `timeout`
  // passes (false then).
  bool AwaitPassed(uint64_t sequence, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  uint64_t passed_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Prints every event as it is logged (unless `quiet`) and streams it to
// `stream` (if not null), until the log is finished, telling `progress` (if
// not null) how far it got.
void FollowEvents(const MessageLog& log, bool quiet, bool verbose,
                  EventStreamWriter* stream, StdoutWriter* out,
                  FollowProgress* progress);

}  // namespace fake_tcp

#endif  // TOOLS_EVENT_PRINTER_H_
