#include "server/framing/framing.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fake_tcp {

Framing Framing::Raw() { return Framing(); }

Framing Framing::Delimiter(std::string delimiter) {
  Framing f;
  f.kind = Kind::kDelimiter;
  f.delimiter = std::move(delimiter);
  return f;
}

Framing Framing::LengthPrefix(int header_bytes, Endian endian,
                              bool length_includes_header) {
  Framing f;
  f.kind = Kind::kLengthPrefix;
  f.header_bytes = header_bytes;
  f.endian = endian;
  f.length_includes_header = length_includes_header;
  return f;
}

Framing Framing::FixedSize(size_t size) {
  Framing f;
  f.kind = Kind::kFixedSize;
  f.fixed_size = size;
  return f;
}

Framing Framing::Custom(CustomDecoder decoder) {
  Framing f;
  f.kind = Kind::kCustom;
  f.custom_decoder = std::move(decoder);
  return f;
}

std::string Framing::ToString() const {
  switch (kind) {
    case Kind::kRaw:
      return "raw";
    case Kind::kDelimiter:
      return absl::StrCat("delimiter \"", absl::CEscape(delimiter), "\"");
    case Kind::kLengthPrefix:
      return absl::StrCat(
          "length-prefix ", header_bytes, " bytes ",
          endian == Endian::kBig ? "big" : "little", "-endian",
          length_includes_header ? " (length includes header)" : "");
    case Kind::kFixedSize:
      return absl::StrCat("fixed-size ", fixed_size, " bytes");
    case Kind::kCustom:
      return "custom";
  }
  return "unknown";
}

absl::Status ValidateFraming(const Framing& framing) {
  switch (framing.kind) {
    case Framing::Kind::kRaw:
      return absl::OkStatus();
    case Framing::Kind::kDelimiter:
      if (framing.delimiter.empty()) {
        return absl::InvalidArgumentError(
            "framing: delimiter must not be empty");
      }
      return absl::OkStatus();
    case Framing::Kind::kLengthPrefix:
      if (framing.header_bytes != 1 && framing.header_bytes != 2 &&
          framing.header_bytes != 4 && framing.header_bytes != 8) {
        return absl::InvalidArgumentError(
            absl::StrCat("framing: length-prefix header_bytes must be 1, 2, 4 "
                         "or 8, got ",
                         framing.header_bytes));
      }
      return absl::OkStatus();
    case Framing::Kind::kFixedSize:
      if (framing.fixed_size == 0) {
        return absl::InvalidArgumentError(
            "framing: fixed_size must be greater than 0");
      }
      return absl::OkStatus();
    case Framing::Kind::kCustom:
      if (!framing.custom_decoder) {
        return absl::InvalidArgumentError(
            "framing: custom framing needs a decoder");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("framing: unknown kind ", static_cast<int>(framing.kind)));
}

namespace {

uint64_t ReadLength(absl::string_view header, Framing::Endian endian) {
  uint64_t value = 0;
  const size_t n = header.size();
  for (size_t i = 0; i < n; ++i) {
    const size_t index = endian == Framing::Endian::kBig ? i : n - 1 - i;
    value = (value << 8) | static_cast<unsigned char>(header[index]);
  }
  return value;
}

absl::Status TooLarge(uint64_t size, size_t max_message_size) {
  return absl::ResourceExhaustedError(
      absl::StrCat("message of ", size, " bytes exceeds max_message_size ",
                   max_message_size));
}

}  // namespace

absl::StatusOr<std::optional<Frame>> NextFrame(const Framing& framing,
                                               absl::string_view buffer,
                                               size_t max_message_size,
                                               size_t searched) {
  switch (framing.kind) {
    case Framing::Kind::kRaw: {
      if (buffer.empty()) return std::nullopt;
      const size_t size = std::min(buffer.size(), max_message_size);
      return Frame{size, 0, size};
    }
    case Framing::Kind::kDelimiter: {
      // A delimiter may begin in the last size-1 bytes already searched.
      const size_t overlap = framing.delimiter.size() - 1;
      searched = std::min(searched, buffer.size());
      const size_t from = searched > overlap ? searched - overlap : 0;
      const size_t pos = buffer.find(framing.delimiter, from);
      if (pos == absl::string_view::npos) {
        // Keep a possible delimiter prefix at the end out of the count.
        const size_t undecided = framing.delimiter.size() - 1;
        const size_t at_least =
            buffer.size() > undecided ? buffer.size() - undecided : 0;
        if (at_least > max_message_size) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "no delimiter within ", at_least,
              " bytes; message exceeds max_message_size ", max_message_size));
        }
        return std::nullopt;
      }
      if (pos > max_message_size) return TooLarge(pos, max_message_size);
      return Frame{pos + framing.delimiter.size(), 0, pos};
    }
    case Framing::Kind::kLengthPrefix: {
      const size_t header = static_cast<size_t>(framing.header_bytes);
      if (buffer.size() < header) return std::nullopt;
      const uint64_t length =
          ReadLength(buffer.substr(0, header), framing.endian);
      uint64_t payload = length;
      if (framing.length_includes_header) {
        if (length < header) {
          return absl::InvalidArgumentError(
              absl::StrCat("length header says ", length,
                           " bytes, less than the header's own ", header,
                           " bytes (length includes header)"));
        }
        payload = length - header;
      }
      if (payload > max_message_size)
        return TooLarge(payload, max_message_size);
      if (buffer.size() - header < payload) return std::nullopt;
      return Frame{header + static_cast<size_t>(payload), header,
                   static_cast<size_t>(payload)};
    }
    case Framing::Kind::kFixedSize: {
      if (framing.fixed_size > max_message_size) {
        return TooLarge(framing.fixed_size, max_message_size);
      }
      if (buffer.size() < framing.fixed_size) return std::nullopt;
      return Frame{framing.fixed_size, 0, framing.fixed_size};
    }
    case Framing::Kind::kCustom: {
      absl::StatusOr<std::optional<Frame>> frame =
          framing.custom_decoder(buffer);
      if (!frame.ok() || !frame->has_value()) return frame;
      const Frame& f = **frame;
      if (f.consumed == 0 || f.consumed > buffer.size() ||
          f.payload_offset > f.consumed ||
          f.payload_size > f.consumed - f.payload_offset) {
        return absl::InternalError(absl::StrCat(
            "custom decoder returned an impossible frame: consumed ",
            f.consumed, ", payload ", f.payload_offset, "+", f.payload_size,
            " of ", buffer.size(), " buffered bytes"));
      }
      if (f.payload_size > max_message_size) {
        return TooLarge(f.payload_size, max_message_size);
      }
      return frame;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("framing: unknown kind ", static_cast<int>(framing.kind)));
}

absl::StatusOr<std::string> EncodeFrame(const Framing& framing,
                                        absl::string_view payload) {
  switch (framing.kind) {
    case Framing::Kind::kRaw:
    case Framing::Kind::kFixedSize:
      return std::string(payload);
    case Framing::Kind::kDelimiter:
      return absl::StrCat(payload, framing.delimiter);
    case Framing::Kind::kLengthPrefix: {
      const int header = framing.header_bytes;
      uint64_t length = payload.size();
      if (framing.length_includes_header) length += header;
      if (header < 8 && length >> (8 * header) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("encode: ", payload.size(), " bytes do not fit a ",
                         header, "-byte length header"));
      }
      std::string out(header, '\0');
      for (int i = 0; i < header; ++i) {
        const int index =
            framing.endian == Framing::Endian::kBig ? header - 1 - i : i;
        out[index] = static_cast<char>((length >> (8 * i)) & 0xff);
      }
      out.append(payload.data(), payload.size());
      return out;
    }
    case Framing::Kind::kCustom:
      return absl::InvalidArgumentError(
          "encode: custom framing has no encoder");
  }
  return absl::InvalidArgumentError("encode: unknown framing kind");
}

absl::StatusOr<Framing> ParseFramingSpec(absl::string_view spec) {
  auto bad = [spec](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("framing \"", spec, "\": ", why));
  };
  if (spec == "raw") return Framing::Raw();
  if (spec == "line") return Framing::Delimiter("\n");
  if (spec == "crlf") return Framing::Delimiter("\r\n");
  const size_t colon = spec.find(':');
  const absl::string_view kind = spec.substr(0, colon);
  const absl::string_view rest =
      colon == absl::string_view::npos ? "" : spec.substr(colon + 1);
  if (kind == "delimiter") {
    std::string delimiter;
    std::string error;
    if (!absl::CUnescape(rest, &delimiter, &error)) return bad(error);
    if (delimiter.empty()) return bad("the delimiter is empty");
    return Framing::Delimiter(delimiter);
  }
  if (kind == "length") {
    const std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
    int bytes = 0;
    if (!absl::SimpleAtoi(parts[0], &bytes) ||
        (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)) {
      return bad("length header size must be 1, 2, 4 or 8");
    }
    Framing f = Framing::LengthPrefix(bytes);
    bool endian_given = false;
    bool inclusive_given = false;
    for (size_t i = 1; i < parts.size(); ++i) {
      if (parts[i] == "big" || parts[i] == "little") {
        if (endian_given) return bad("the byte order is given twice");
        if (inclusive_given)
          return bad("the byte order comes before inclusive");
        endian_given = true;
        f.endian = parts[i] == "big" ? Framing::Endian::kBig
                                     : Framing::Endian::kLittle;
      } else if (parts[i] == "inclusive") {
        if (inclusive_given) return bad("inclusive is given twice");
        inclusive_given = true;
        f.length_includes_header = true;
      } else {
        return bad(absl::StrCat("unknown length option \"", parts[i],
                                "\" (big, little or inclusive)"));
      }
    }
    return f;
  }
  if (kind == "fixed") {
    size_t size = 0;
    if (!absl::SimpleAtoi(rest, &size) || size == 0) {
      return bad("fixed size must be a positive number of bytes");
    }
    return Framing::FixedSize(size);
  }
  return bad(
      "expected raw, line, crlf, delimiter:<bytes>, length:<1|2|4|8>[:big|"
      ":little][:inclusive] or fixed:<bytes>");
}

absl::StatusOr<std::string> FramingSpec(const Framing& framing) {
  switch (framing.kind) {
    case Framing::Kind::kRaw:
      return std::string("raw");
    case Framing::Kind::kDelimiter:
      return absl::StrCat("delimiter:", absl::CEscape(framing.delimiter));
    case Framing::Kind::kLengthPrefix:
      return absl::StrCat(
          "length:", framing.header_bytes,
          framing.endian == Framing::Endian::kBig ? ":big" : ":little",
          framing.length_includes_header ? ":inclusive" : "");
    case Framing::Kind::kFixedSize:
      return absl::StrCat("fixed:", framing.fixed_size);
    case Framing::Kind::kCustom:
      break;
  }
  return absl::InvalidArgumentError(
      "custom framing has no spelling for another process");
}

}  // namespace fake_tcp
