#include "server/log/event_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/io/coded_stream.h"

namespace fake_tcp {
namespace {

constexpr size_t kMaxRecordSize = size_t{256} << 20;

EventRecord::Type ToRecordType(EventType type) {
  switch (type) {
    case EventType::kAccepted:
      return EventRecord::ACCEPTED;
    case EventType::kReceived:
      return EventRecord::RECEIVED;
    case EventType::kSent:
      return EventRecord::SENT;
    case EventType::kPeerClosed:
      return EventRecord::PEER_CLOSED;
    case EventType::kReset:
      return EventRecord::RESET;
    case EventType::kServerClosed:
      return EventRecord::SERVER_CLOSED;
    case EventType::kOversize:
      return EventRecord::OVERSIZE;
    case EventType::kFramingError:
      return EventRecord::FRAMING_ERROR;
    case EventType::kConnectionLimit:
      return EventRecord::CONNECTION_LIMIT;
    case EventType::kServerReset:
      return EventRecord::SERVER_RESET;
    case EventType::kServerHalfClosed:
      return EventRecord::SERVER_HALF_CLOSED;
    case EventType::kStalled:
      return EventRecord::STALLED;
    case EventType::kUpstream:
      return EventRecord::UPSTREAM;
    case EventType::kTls:
      return EventRecord::TLS;
  }
  return EventRecord::TYPE_UNSPECIFIED;
}

EventType FromRecordType(EventRecord::Type type) {
  switch (type) {
    case EventRecord::ACCEPTED:
      return EventType::kAccepted;
    case EventRecord::SENT:
      return EventType::kSent;
    case EventRecord::PEER_CLOSED:
      return EventType::kPeerClosed;
    case EventRecord::RESET:
      return EventType::kReset;
    case EventRecord::SERVER_CLOSED:
      return EventType::kServerClosed;
    case EventRecord::OVERSIZE:
      return EventType::kOversize;
    case EventRecord::FRAMING_ERROR:
      return EventType::kFramingError;
    case EventRecord::CONNECTION_LIMIT:
      return EventType::kConnectionLimit;
    case EventRecord::SERVER_RESET:
      return EventType::kServerReset;
    case EventRecord::SERVER_HALF_CLOSED:
      return EventType::kServerHalfClosed;
    case EventRecord::STALLED:
      return EventType::kStalled;
    case EventRecord::UPSTREAM:
      return EventType::kUpstream;
    case EventRecord::TLS:
      return EventType::kTls;
    default:
      return EventType::kReceived;
  }
}

}  // namespace

EventRecord ToRecord(const Event& event) {
  EventRecord r;
  r.set_sequence(event.sequence);
  r.set_type(ToRecordType(event.type));
  r.set_connection_id(event.connection_id);
  r.set_peer(event.peer);
  r.set_time_unix_nanos(absl::ToUnixNanos(event.time));
  r.set_bytes(event.bytes);
  r.set_detail(event.detail);
  return r;
}

Event FromRecord(const EventRecord& record) {
  Event e;
  e.sequence = record.sequence();
  e.type = FromRecordType(record.type());
  e.connection_id = record.connection_id();
  e.peer = record.peer();
  e.time = absl::FromUnixNanos(record.time_unix_nanos());
  e.bytes = record.bytes();
  e.detail = record.detail();
  return e;
}

EventStreamWriter::~EventStreamWriter() {
  if (fd_ >= 0) close(fd_);
}

absl::Status EventStreamWriter::Open(const std::string& path) {
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("open ", path, ": ", strerror(errno)));
  }
  path_ = path;
  return absl::OkStatus();
}

absl::Status EventStreamWriter::Write(const std::vector<Event>& events) {
  if (fd_ < 0) return absl::FailedPreconditionError("event stream not open");
  std::string out;
  for (const Event& event : events) {
    const std::string record = ToRecord(event).SerializeAsString();
    uint8_t size[10];
    uint8_t* end =
        google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
            static_cast<uint32_t>(record.size()), size);
    out.append(reinterpret_cast<const char*>(size), end - size);
    out += record;
  }
  size_t written = 0;
  while (written < out.size()) {
    const ssize_t n = write(fd_, out.data() + written, out.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("write ", path_, ": ", strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Event>> EventStreamDecoder::Feed(
    absl::string_view bytes) {
  buffer_.append(bytes.data(), bytes.size());
  std::vector<Event> out;
  size_t offset = 0;
  while (offset < buffer_.size()) {
    google::protobuf::io::CodedInputStream in(
        reinterpret_cast<const uint8_t*>(buffer_.data() + offset),
        static_cast<int>(buffer_.size() - offset));
    uint32_t size = 0;
    if (!in.ReadVarint32(&size)) {
      if (buffer_.size() - offset >= 5) {
        return absl::DataLossError(absl::StrCat(
            "event stream: bad record size at offset ", consumed_ + offset));
      }
      break;  // the size itself is incomplete
    }
    if (size > kMaxRecordSize) {
      return absl::DataLossError(absl::StrCat("event stream: record of ", size,
                                              " bytes at offset ",
                                              consumed_ + offset));
    }
    const size_t header = static_cast<size_t>(in.CurrentPosition());
    if (buffer_.size() - offset - header < size) break;  // body incomplete
    EventRecord record;
    if (!record.ParseFromArray(buffer_.data() + offset + header,
                               static_cast<int>(size))) {
      return absl::DataLossError(absl::StrCat(
          "event stream: unparsable record at offset ", consumed_ + offset));
    }
    out.push_back(FromRecord(record));
    offset += header + size;
  }
  buffer_.erase(0, offset);
  consumed_ += offset;
  return out;
}

}  // namespace fake_tcp
