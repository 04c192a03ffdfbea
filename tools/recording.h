#ifndef TOOLS_RECORDING_H_
#define TOOLS_RECORDING_H_

#include <atomic>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/fake_tcp_server.h"
#include "server/record/record_options.h"

namespace fake_tcp {

// --record: the session as a script that replays it (RecordScript), kept on
// disk while the fake runs: rewritten atomically (a temporary file renamed
// over it) at most `delay` after each change of the log, so a fake killed with
// SIGKILL loses at most the last second; and at exit.
class RecordingWriter {
 public:
  // `server` must outlive the writer; `upstream` names what was recorded in
  // the script's comment ("" if not a proxy).
  RecordingWriter(std::string path, const FakeTcpServer* server,
                  RecordOptions options, std::string upstream,
                  absl::Duration delay = absl::Seconds(1));
  ~RecordingWriter();  // Stop()
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  // Starts following the log on a thread of its own.
  void Start();
  // Stops following (an unwritten change is left for Write).
  void Stop();

  // Writes the recording of everything logged so far, now; returns the number
  // of rules. `final` also warns on stderr when the log dropped entries (the
  // recording then starts after them). Thread-safe.
  absl::StatusOr<int> Write(bool final = false) ABSL_LOCKS_EXCLUDED(write_mu_);

  const std::string& path() const { return path_; }

 private:
  void Follow();

  const std::string path_;
  const FakeTcpServer* const server_;
  const RecordOptions options_;
  const std::string upstream_;
  const absl::Duration delay_;

  // Serializes writes of the file (the follower, the control API, exit).
  absl::Mutex write_mu_;
  // A failed background write is said once, not every second.
  bool failure_reported_ ABSL_GUARDED_BY(write_mu_) = false;

  std::atomic<bool> stopping_{false};
  absl::Notification stop_;
  std::thread follower_;
};

}  // namespace fake_tcp

#endif  // TOOLS_RECORDING_H_
