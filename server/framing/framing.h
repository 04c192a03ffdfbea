#ifndef SERVER_FRAMING_FRAMING_H_
#define SERVER_FRAMING_FRAMING_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fake_tcp {

// One message found at the front of a byte stream: the first `consumed` bytes
// of the stream are used up, and the message itself is `payload_size` bytes
// starting at `payload_offset` (a delimiter or a length header is consumed but
// not part of it).
struct Frame {
  size_t consumed = 0;
  size_t payload_offset = 0;
  size_t payload_size = 0;

  friend bool operator==(const Frame& a, const Frame& b) {
    return a.consumed == b.consumed && a.payload_offset == b.payload_offset &&
           a.payload_size == b.payload_size;
  }
};

// A user-supplied decoder for `Framing::Custom`. Looks at the unconsumed bytes
// of one connection (`buffer`) and returns:
//   - a Frame, when a complete message is at the front of `buffer`;
//   - std::nullopt, when more bytes are needed;
//   - an error, when the bytes can never form a valid message (the server
//     then closes the connection and logs the status).
// Must not keep `buffer`; must be safe to call from the server's I/O thread.
using CustomDecoder = std::function<absl::StatusOr<std::optional<Frame>>(
    absl::string_view buffer)>;

// How a connection's byte stream is cut into messages. A plain value: copy it
// freely. Build one with the factory functions; `ValidateFraming` (and
// `FakeTcpServer::Start`) reject bad parameters.
struct Framing {
  enum class Kind {
    // Each read from the socket is one message (the original fake)
    kRaw,
    // Messages end with `delimiter`, which is not part of the message.
    kDelimiter,
    // A 1/2/4/8-byte unsigned length header, then the message.
    kLengthPrefix,
    // Every message is exactly `fixed_size` bytes.
    kFixedSize,
    // `custom_decoder` decides.
    kCustom,
  };
  enum class Endian { kBig, kLittle };

  // Each read (up to the server's read size) is one message. The default.
  static Framing Raw();
  // Messages end with `delimiter` (e.g. "\n" or "\r\n").
  static Framing Delimiter(std::string delimiter);
  // A `header_bytes`-byte length header (1, 2, 4 or 8) in `endian` byte order,
  // then the message. When `length_includes_header`, the header counts itself
  // in the length.
  static Framing LengthPrefix(int header_bytes, Endian endian = Endian::kBig,
                              bool length_includes_header = false);
  // Every message is exactly `size` bytes.
  static Framing FixedSize(size_t size);
  // `decoder` finds each message; see CustomDecoder.
  static Framing Custom(CustomDecoder decoder);

  // Describes the framing, e.g. `delimiter "\n"` or `length-prefix 4 bytes
  // big-endian`.
  std::string ToString() const;

  Kind kind = Kind::kRaw;
  std::string delimiter;
  int header_bytes = 4;
  Endian endian = Endian::kBig;
  bool length_includes_header = false;
  size_t fixed_size = 0;
  CustomDecoder custom_decoder;
};

// Returns OK iff `framing` has usable parameters; otherwise InvalidArgument
// naming the parameter and its value.
absl::Status ValidateFraming(const Framing& framing);

// Finds the next message at the front of `buffer`, the unconsumed bytes of one
// connection, for a valid `framing` (see ValidateFraming). Returns a Frame for
// a complete message; std::nullopt when more bytes are needed;
// RESOURCE_EXHAUSTED when the message is (or would be, for a delimiter not yet
// seen within the limit) larger than `max_message_size`; INVALID_ARGUMENT when
// the bytes are malformed (a length header whose value is smaller than the
// header itself, with `length_includes_header`). Raw framing returns all of a
// non-empty `buffer` as one message. A pure function: no state is kept between
// calls, so it can be tested and fuzzed alone.
//
// `searched` makes a delimiter search resumable: the caller promises that the
// first `searched` bytes of `buffer` were already looked at by a call that
// returned std::nullopt (the same buffer front, more bytes appended since), so
// the search starts near their end instead of at the front. Without it, a long
// line arriving in many reads costs time quadratic in its length. The result is
// the same as with `searched` = 0.
absl::StatusOr<std::optional<Frame>> NextFrame(const Framing& framing,
                                               absl::string_view buffer,
                                               size_t max_message_size,
                                               size_t searched = 0);

// Encodes `payload` with `framing`'s header or delimiter, as a client would
// send it. Raw and fixed-size framing return `payload` unchanged. Returns
// INVALID_ARGUMENT for custom framing or when `payload` does not fit the header
// size.
absl::StatusOr<std::string> EncodeFrame(const Framing& framing,
                                        absl::string_view payload);

// Parses a framing written on one line, as command-line flags take it:
// clang-format off
//   raw                      each read is a message (the default)
//   line                     delimiter "\n"
//   crlf                     delimiter "\r\n"
//   delimiter:<escaped>      any delimiter, C escapes allowed: delimiter:\r\n\r\n
//   length:<1|2|4|8>[:big|:little][:inclusive]
//                            length prefix (big-endian by default)
//   fixed:<bytes>            fixed-size messages
// clang-format on
// Returns INVALID_ARGUMENT naming the spec and what is wrong with it.
absl::StatusOr<Framing> ParseFramingSpec(absl::string_view spec);

// Writes `framing` the way ParseFramingSpec reads it; INVALID_ARGUMENT for
// custom framing, which has no spelling.
absl::StatusOr<std::string> FramingSpec(const Framing& framing);

}  // namespace fake_tcp

#endif  // SERVER_FRAMING_FRAMING_H_
