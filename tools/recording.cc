#include "tools/recording.h"

#include <stdio.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/script.h"

namespace fake_tcp {

RecordingWriter::RecordingWriter(std::string path, const FakeTcpServer* server,
                                 RecordOptions options, std::string upstream,
                                 absl::Duration delay)
    : path_(std::move(path)),
      server_(server),
      options_(std::move(options)),
      upstream_(std::move(upstream)),
      delay_(delay) {}

RecordingWriter::~RecordingWriter() { Stop(); }

void RecordingWriter::Start() {
  follower_ = std::thread([this] { Follow(); });
}

void RecordingWriter::Stop() {
  if (!follower_.joinable()) return;
  stopping_ = true;
  if (!stop_.HasBeenNotified()) stop_.Notify();
  server_->log().WakeWaiters();
  follower_.join();
}

void RecordingWriter::Follow() {
  const MessageLog& log = server_->log();
  uint64_t written = 0;  // the last sequence number in the file
  while (true) {
    // A change (or Stop) ...
    log.Await(
        [&](const MessageLog::View& view) {
          return stopping_ || view.last_sequence != written;
        },
        absl::InfiniteDuration());
    // ... then what else comes within `delay_` goes into the same write.
    if (stopping_ || stop_.WaitForNotificationWithTimeout(delay_)) return;
    written = log.last_sequence();
    if (absl::StatusOr<int> rules = Write(); !rules.ok()) {
      absl::MutexLock lock(&write_mu_);
      if (!failure_reported_) {
        failure_reported_ = true;
        fprintf(stderr, "fake_tcp_server: --record: %s\n",
                std::string(rules.status().message()).c_str());
      }
    }
  }
}

absl::StatusOr<int> RecordingWriter::Write(bool final) {
  absl::MutexLock lock(&write_mu_);
  const MessageLog& log = server_->log();
  const LogCounts counts = log.counts();
  if (final && counts.dropped > 0) {
    fprintf(stderr,
            "fake_tcp_server: --record: the log dropped its %llu oldest "
            "entries (raise --log_max_events / --log_max_bytes); the "
            "recording starts after them\n",
            static_cast<unsigned long long>(counts.dropped));
  }
  absl::StatusOr<Script> script =
      RecordScript(log.Events(), server_->options().framing, options_);
  if (!script.ok()) return script.status();
  const std::string comment = absl::StrCat(
      "Recorded by fake_tcp_server",
      upstream_.empty() ? std::string() : " from " + upstream_, " (",
      RecordMatchName(options_), " matching): ", counts.accepted,
      " connections, ", counts.received, " messages, ", script->rules_size(),
      " rules.\nReplay: fake_tcp_server --script=", path_);
  if (absl::Status s = WriteScript(*script, path_, comment); !s.ok()) return s;
  return script->rules_size();
}

}  // namespace fake_tcp
