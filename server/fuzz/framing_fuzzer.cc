// Fuzzes the framing decoder as the server drives it. The first three bytes
// choose a framing, a message size limit and how the rest of the input is cut
// into reads; the rest is the byte stream of one connection. Checks, for every
// frame: it lies within the buffer, it respects the limit, a resumed delimiter
// search finds what a search from the front finds, and encoding the payload
// again decodes to the same payload. Also parses the input as a framing spec
// and checks that what FramingSpec writes parses back to the same framing.

#include <stddef.h>
#include <stdint.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/framing/framing.h"

namespace {

using ::fake_tcp::Frame;
using ::fake_tcp::Framing;

void Check(bool ok) {
  if (!ok) abort();
}

Framing Choose(uint8_t kind, uint8_t param) {
  switch (kind % 4) {
    case 0:
      return Framing::Raw();
    case 1: {
      static const char* const kDelimiters[] = {"\n", "\r\n", "\r\n\r\n", "ab"};
      return Framing::Delimiter(kDelimiters[param % 4]);
    }
    case 2:
      return Framing::LengthPrefix(
          1 << (param % 4),
          (param & 4) ? Framing::Endian::kLittle : Framing::Endian::kBig,
          (param & 8) != 0);
    default:
      return Framing::FixedSize(1 + param % 16);
  }
}

void FuzzSpec(absl::string_view text) {
  absl::StatusOr<Framing> framing = fake_tcp::ParseFramingSpec(text);
  if (!framing.ok()) return;
  absl::StatusOr<std::string> spec = fake_tcp::FramingSpec(*framing);
  Check(spec.ok());
  absl::StatusOr<Framing> again = fake_tcp::ParseFramingSpec(*spec);
  Check(again.ok() && again->ToString() == framing->ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 3,
                                 size - 3);
  FuzzSpec(stream);
  const Framing framing = Choose(data[0], data[1]);
  const size_t max_message_size = 1 + (static_cast<size_t>(data[1]) * 7) % 300;
  const size_t read_size = 1 + data[2] % 64;

  // Reads arrive; after each, every complete frame is taken off the front.
  std::string buffer;
  size_t searched = 0;
  for (size_t at = 0; at < stream.size(); at += read_size) {
    buffer.append(stream.substr(at, read_size).data(),
                  std::min(read_size, stream.size() - at));
    while (!buffer.empty()) {
      absl::StatusOr<std::optional<Frame>> resumed =
          fake_tcp::NextFrame(framing, buffer, max_message_size, searched);
      absl::StatusOr<std::optional<Frame>> fresh =
          fake_tcp::NextFrame(framing, buffer, max_message_size);
      Check(resumed.ok() == fresh.ok());
      if (!fresh.ok()) return 0;  // the server closes the connection
      Check(resumed->has_value() == fresh->has_value());
      if (!fresh->has_value()) {
        searched = buffer.size();
        break;
      }
      const Frame f = **fresh;
      Check(**resumed == f);
      Check(f.consumed > 0 && f.consumed <= buffer.size());
      Check(f.payload_offset + f.payload_size <= f.consumed);
      Check(f.payload_size <= max_message_size);
      const absl::string_view payload =
          absl::string_view(buffer).substr(f.payload_offset, f.payload_size);
      if (framing.kind != Framing::Kind::kRaw) {
        absl::StatusOr<std::string> encoded =
            fake_tcp::EncodeFrame(framing, payload);
        Check(encoded.ok());
        absl::StatusOr<std::optional<Frame>> decoded =
            fake_tcp::NextFrame(framing, *encoded, max_message_size);
        Check(decoded.ok() && decoded->has_value());
        Check(absl::string_view(*encoded).substr((*decoded)->payload_offset,
                                                 (*decoded)->payload_size) ==
              payload);
      }
      buffer.erase(0, f.consumed);
      searched = 0;
    }
  }
  return 0;
}
