#ifndef SERVER_LOG_EVENT_STREAM_H_
#define SERVER_LOG_EVENT_STREAM_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/log/event_record.pb.h"
#include "server/log/message_log.h"

namespace fake_tcp {

// Converts between log entries and their protobuf form
// (server/log/event_record.proto).
EventRecord ToRecord(const Event& event);
Event FromRecord(const EventRecord& record);

// Appends log entries to a file as length-delimited EventRecords, flushed after
// each Write, so another process can follow the file while it grows. Not
// thread-safe.
class EventStreamWriter {
 public:
  EventStreamWriter() = default;
  EventStreamWriter(const EventStreamWriter&) = delete;
  EventStreamWriter& operator=(const EventStreamWriter&) = delete;
  ~EventStreamWriter();

  // Creates (or truncates) `path`. Returns the error naming the path.
  absl::Status Open(const std::string& path);
  // Appends `events` and writes them to the file before returning.
  absl::Status Write(const std::vector<Event>& events);

 private:
  int fd_ = -1;
  std::string path_;
};

// Decodes a growing stream of length-delimited EventRecords fed in arbitrary
// chunks.
class EventStreamDecoder {
 public:
  // Adds `bytes` and returns every record completed by them, in order. Returns
  // DATA_LOSS (naming the offset) for bytes that are not a record stream.
  absl::StatusOr<std::vector<Event>> Feed(absl::string_view bytes);
  // Returns how many bytes wait for the rest of their record.
  size_t pending() const { return buffer_.size(); }

 private:
  std::string buffer_;
  // Bytes of the stream decoded so far.
  size_t consumed_ = 0;
};

}  // namespace fake_tcp

#endif  // SERVER_LOG_EVENT_STREAM_H_
