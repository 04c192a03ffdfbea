#ifndef TESTING_EVENT_LOG_FOLLOWER_H_
#define TESTING_EVENT_LOG_FOLLOWER_H_

#include <string>
#include <thread>

#include "server/base/unique_fd.h"
#include "server/log/message_log.h"

namespace fake_tcp::testing {

// Follows an event log file that another process appends to
// (fake_tcp_server --event_log: length-delimited EventRecords) into a
// MessageLog, as the events are written: woken by inotify, never polling.
//
// Lifetime: Start() opens the file and starts one thread; Stop() (or the
// destructor) reads what is left, finishes the log (MessageLog::Finish) and
// joins the thread. Call Stop() once the writer has exited, so the mirror is
// complete. Not thread-safe itself; the MessageLog is.
class EventLogFollower {
 public:
  EventLogFollower() = default;
  ~EventLogFollower() { Stop(); }
  EventLogFollower(const EventLogFollower&) = delete;
  EventLogFollower& operator=(const EventLogFollower&) = delete;

  // Starts following `path` (which must exist) into `log` (not owned; must
  // outlive the follower). An unreadable stream is logged as a
  // kFramingError event and ends the following.
  void Start(const std::string& path, MessageLog* log);
  // Reads the rest, finishes the log, joins. Idempotent.
  void Stop();

 private:
  void Follow(const std::string& path, MessageLog* log);

  // Signalled by Stop().
  UniqueFd stop_;
  std::thread thread_;
};

}  // namespace fake_tcp::testing

#endif  // TESTING_EVENT_LOG_FOLLOWER_H_
