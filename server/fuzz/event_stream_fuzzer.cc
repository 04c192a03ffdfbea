// Fuzzes the event-record stream decoder (what the out-of-process fixture
// reads from the standalone server): the first byte chooses how the input is
// cut into chunks. The decoder must return records or DATA_LOSS and never
// crash.

#include <stddef.h>
#include <stdint.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "server/log/event_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Records with invalid UTF-8 in string fields are DATA_LOSS; protobuf would
  // also log each one.
  static google::protobuf::LogSilencer silence;
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 32;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 1,
                                 size - 1);
  fake_tcp::EventStreamDecoder decoder;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    absl::StatusOr<std::vector<fake_tcp::Event>> events =
        decoder.Feed(stream.substr(at, chunk));
    if (!events.ok()) {
      if (!absl::IsDataLoss(events.status())) abort();
      return 0;
    }
    for (const fake_tcp::Event& e : *events) {
      // What the decoder hands back must survive the trip to a record.
      if (fake_tcp::FromRecord(fake_tcp::ToRecord(e)).bytes != e.bytes) abort();
    }
  }
  return 0;
}
