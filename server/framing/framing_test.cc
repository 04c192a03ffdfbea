#include "server/framing/framing.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fake_tcp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr size_t kMax = 1 << 20;

// Frames all of `stream` the way the server does; returns the payloads,
// stopping at the first error (returned through `error`) or when more bytes are
// needed.
std::vector<std::string> FrameAll(const Framing& framing,
                                  absl::string_view stream,
                                  absl::Status* error = nullptr,
                                  size_t max = kMax) {
  std::vector<std::string> out;
  while (true) {
    absl::StatusOr<std::optional<Frame>> frame =
        NextFrame(framing, stream, max);
    if (!frame.ok()) {
      if (error != nullptr) *error = frame.status();
      return out;
    }
    if (!frame->has_value()) return out;
    out.emplace_back(
        stream.substr((*frame)->payload_offset, (*frame)->payload_size));
    stream.remove_prefix((*frame)->consumed);
  }
}

TEST(FramingTest, RawReturnsTheWholeBufferAsOneMessage) {
  EXPECT_THAT(FrameAll(Framing::Raw(), "Hello, world"),
              ElementsAre("Hello, world"));
  EXPECT_THAT(FrameAll(Framing::Raw(), ""), IsEmpty());
}

TEST(FramingTest, RawCutsAtMaxMessageSize) {
  EXPECT_THAT(FrameAll(Framing::Raw(), "abcdefg", nullptr, 3),
              ElementsAre("abc", "def", "g"));
}

TEST(FramingTest, DelimiterSplitsAndDropsTheDelimiter) {
  EXPECT_THAT(FrameAll(Framing::Delimiter("\n"), "a\nbb\n\nccc"),
              ElementsAre("a", "bb", ""));
  EXPECT_THAT(FrameAll(Framing::Delimiter("\r\n"), "GET k\r\nSET k v\r\n"),
              ElementsAre("GET k", "SET k v"));
}

TEST(FramingTest, DelimiterWaitsForAMessageSplitAcrossReads) {
  const Framing crlf = Framing::Delimiter("\r\n");
  EXPECT_THAT(FrameAll(crlf, "GET k\r"), IsEmpty());
  EXPECT_THAT(FrameAll(crlf, "GET k\r\n"), ElementsAre("GET k"));
}

TEST(FramingTest, DelimiterSearchResumesWhereTheLastOneStopped) {
  const Framing crlf = Framing::Delimiter("\r\n");
  // "GET k\r" was searched; the "\n" that completes the delimiter arrives.
  absl::StatusOr<std::optional<Frame>> f = NextFrame(crlf, "GET k\r", 100);
  ASSERT_TRUE(f.ok() && !f->has_value());
  f = NextFrame(crlf, "GET k\r\nSET", 100, /*searched=*/6);
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ(**f, (Frame{7, 0, 5}));
  // A line grown read by read, the search resumed each time: the same frame
  // as a search from the front.
  std::string line;
  size_t searched = 0;
  for (int read = 0; read < 1000; ++read) {
    line += std::string(64, 'x');
    f = NextFrame(crlf, line, size_t{1} << 20, searched);
    ASSERT_TRUE(f.ok() && !f->has_value());
    searched = line.size();
  }
  line += "\r\n";
  EXPECT_EQ(**NextFrame(crlf, line, size_t{1} << 20, searched),
            **NextFrame(crlf, line, size_t{1} << 20));
  // Beyond the limit is still an error when resumed.
  EXPECT_EQ(NextFrame(crlf, line, 100, searched).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(FramingTest, DelimiterTooFarIsResourceExhausted) {
  absl::Status error;
  EXPECT_THAT(FrameAll(Framing::Delimiter("\n"), "abcdef", &error, 4),
              IsEmpty());
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(error.message(), HasSubstr("max_message_size 4"));

  // A delimiter after the limit is just as much too large.
  error = absl::OkStatus();
  FrameAll(Framing::Delimiter("\n"), "abcde\n", &error, 4);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);

  // Exactly at the limit, with a partial delimiter pending, is fine.
  error = absl::OkStatus();
  EXPECT_THAT(FrameAll(Framing::Delimiter("\r\n"), "abcd\r", &error, 4),
              IsEmpty());
  EXPECT_TRUE(error.ok()) << error;
}

TEST(FramingTest, LengthPrefixEverySizeAndEndianness) {
  for (int bytes : {1, 2, 4, 8}) {
    for (Framing::Endian endian :
         {Framing::Endian::kBig, Framing::Endian::kLittle}) {
      for (bool includes : {false, true}) {
        const Framing f = Framing::LengthPrefix(bytes, endian, includes);
        SCOPED_TRACE(f.ToString());
        absl::StatusOr<std::string> a = EncodeFrame(f, "hello");
        absl::StatusOr<std::string> b = EncodeFrame(f, "");
        absl::StatusOr<std::string> c = EncodeFrame(f, std::string(200, 'x'));
        ASSERT_TRUE(a.ok() && b.ok() && c.ok());
        EXPECT_EQ(a->size(), bytes + 5u);
        EXPECT_THAT(FrameAll(f, *a + *b + *c),
                    ElementsAre("hello", "", std::string(200, 'x')));
      }
    }
  }
}

TEST(FramingTest, LengthPrefixByteOrderIsAsSpecified) {
  // 0x0102 = 258 bytes.
  const std::string payload(258, 'p');
  EXPECT_EQ(
      *EncodeFrame(Framing::LengthPrefix(2, Framing::Endian::kBig), payload),
      std::string("\x01\x02", 2) + payload);
  EXPECT_EQ(
      *EncodeFrame(Framing::LengthPrefix(2, Framing::Endian::kLittle), payload),
      std::string("\x02\x01", 2) + payload);
  EXPECT_EQ(
      *EncodeFrame(Framing::LengthPrefix(2, Framing::Endian::kBig, true), ""),
      std::string("\x00\x02", 2));
}

TEST(FramingTest, LengthPrefixWaitsForHeaderAndBody) {
  const Framing f = Framing::LengthPrefix(4);
  EXPECT_THAT(FrameAll(f, std::string("\x00\x00", 2)), IsEmpty());
  EXPECT_THAT(FrameAll(f, std::string("\x00\x00\x00\x03"
                                      "ab",
                                      6)),
              IsEmpty());
  EXPECT_THAT(FrameAll(f, std::string("\x00\x00\x00\x03"
                                      "abc",
                                      7)),
              ElementsAre("abc"));
}

TEST(FramingTest, MalformedLengthPrefixesAreErrors) {
  absl::Status error;
  // Length includes a 4-byte header but says 2.
  FrameAll(Framing::LengthPrefix(4, Framing::Endian::kBig, true),
           std::string("\x00\x00\x00\x02", 4), &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(error.message(), HasSubstr("less than the header"));

  // A huge 8-byte length is refused at once, not waited for.
  error = absl::OkStatus();
  FrameAll(Framing::LengthPrefix(8), std::string(8, '\xff'), &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);

  error = absl::OkStatus();
  FrameAll(Framing::LengthPrefix(2),
           std::string("\x00\x05"
                       "abcde",
                       7),
           &error, 4);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
}

TEST(FramingTest, EncodeRejectsPayloadTooLongForHeader) {
  absl::StatusOr<std::string> frame =
      EncodeFrame(Framing::LengthPrefix(1), std::string(256, 'x'));
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      EncodeFrame(Framing::LengthPrefix(1), std::string(255, 'x')).ok());
}

TEST(FramingTest, FixedSize) {
  EXPECT_THAT(FrameAll(Framing::FixedSize(3), "abcdefgh"),
              ElementsAre("abc", "def"));
  absl::Status error;
  FrameAll(Framing::FixedSize(8), "x", &error, 4);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
}

TEST(FramingTest, CustomDecoderDecides) {
  // Messages are "<digit>" followed by that many bytes.
  const Framing f = Framing::Custom(
      [](absl::string_view buffer) -> absl::StatusOr<std::optional<Frame>> {
        if (buffer.empty()) return std::nullopt;
        if (buffer[0] < '0' || buffer[0] > '9') {
          return absl::InvalidArgumentError("not a digit");
        }
        const size_t n = buffer[0] - '0';
        if (buffer.size() < 1 + n) return std::nullopt;
        return Frame{1 + n, 1, n};
      });
  EXPECT_THAT(FrameAll(f, "3abc2de1"), ElementsAre("abc", "de"));
  absl::Status error;
  FrameAll(f, "1ax", &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
}

TEST(FramingTest, CustomDecoderImpossibleFrameIsInternalError) {
  const Framing f = Framing::Custom(
      [](absl::string_view) -> absl::StatusOr<std::optional<Frame>> {
        return Frame{100, 0, 100};
      });
  absl::Status error;
  FrameAll(f, "short", &error);
  EXPECT_EQ(error.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(error.message(), HasSubstr("impossible frame"));
}

TEST(FramingTest, ValidateNamesTheBadParameter) {
  EXPECT_TRUE(ValidateFraming(Framing::Raw()).ok());
  EXPECT_THAT(ValidateFraming(Framing::Delimiter("")).message(),
              HasSubstr("delimiter"));
  absl::Status s = ValidateFraming(Framing::LengthPrefix(3));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("header_bytes must be 1, 2, 4 or 8, got 3"));
  EXPECT_THAT(ValidateFraming(Framing::FixedSize(0)).message(),
              HasSubstr("fixed_size"));
  EXPECT_THAT(ValidateFraming(Framing::Custom(nullptr)).message(),
              HasSubstr("decoder"));
}

TEST(FramingTest, ToStringDescribes) {
  EXPECT_EQ(Framing::Delimiter("\r\n").ToString(), "delimiter \"\\r\\n\"");
  EXPECT_EQ(Framing::LengthPrefix(2, Framing::Endian::kLittle).ToString(),
            "length-prefix 2 bytes little-endian");
}

TEST(FramingTest, ParseFramingSpec) {
  EXPECT_EQ(ParseFramingSpec("raw")->kind, Framing::Kind::kRaw);
  EXPECT_EQ(ParseFramingSpec("line")->delimiter, "\n");
  EXPECT_EQ(ParseFramingSpec("crlf")->delimiter, "\r\n");
  EXPECT_EQ(ParseFramingSpec("delimiter:\\r\\n\\r\\n")->delimiter, "\r\n\r\n");
  absl::StatusOr<Framing> length =
      ParseFramingSpec("length:2:little:inclusive");
  ASSERT_TRUE(length.ok()) << length.status();
  EXPECT_EQ(length->ToString(),
            "length-prefix 2 bytes little-endian (length includes header)");
  EXPECT_EQ(ParseFramingSpec("length:4")->endian, Framing::Endian::kBig);
  EXPECT_EQ(ParseFramingSpec("fixed:16")->fixed_size, 16u);

  for (const char* bad :
       {"", "lines", "length:3", "length:4:middle", "length:4:big:little",
        "length:4:big:big", "length:4:inclusive:inclusive",
        "length:4:inclusive:big", "fixed:0", "fixed:x",
        "delimiter:", "delimiter:\\q"}) {
    absl::StatusOr<Framing> f = ParseFramingSpec(bad);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(f.status().message()),
                HasSubstr(absl::StrCat("framing \"", bad, "\"")));
  }
}

TEST(FramingTest, FramingSpecRoundTrips) {
  for (const Framing& f :
       {Framing::Raw(), Framing::Delimiter("\r\n"), Framing::Delimiter("a:b"),
        Framing::LengthPrefix(2, Framing::Endian::kLittle, true),
        Framing::LengthPrefix(8), Framing::FixedSize(12)}) {
    absl::StatusOr<std::string> spec = FramingSpec(f);
    ASSERT_TRUE(spec.ok()) << f.ToString();
    absl::StatusOr<Framing> back = ParseFramingSpec(*spec);
    ASSERT_TRUE(back.ok()) << *spec << ": " << back.status();
    EXPECT_EQ(back->ToString(), f.ToString());
  }
  EXPECT_EQ(
      FramingSpec(Framing::Custom([](absl::string_view)
                                      -> absl::StatusOr<std::optional<Frame>> {
        return std::nullopt;
      }))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fake_tcp
