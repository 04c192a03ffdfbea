#include "server/script/strict_json.h"

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace fake_tcp {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::OneofDescriptor;

// What the next JSON value must be.
enum class Want {
  kAnything,    // inside google.protobuf.Struct / Value / Any
  kMessage,     // an object whose keys are the message's fields
  kMap,         // an object whose values are the map's values
  kArray,       // a repeated field
  kFreeObject,  // google.protobuf.Struct, Any
  kFreeArray,   // google.protobuf.ListValue
  kBool,
  kString,  // string, bytes (base64), Duration, Timestamp, FieldMask
  kNumber,  // a number or a numeric string
  kEnum,    // a name or a number
};

std::string Describe(Want want, const Descriptor* message) {
  switch (want) {
    case Want::kAnything:
      return "any value";
    case Want::kMessage:
      return absl::StrCat("an object (a ", message->name(), ")");
    case Want::kMap:
      return "an object (a map)";
    case Want::kArray:
    case Want::kFreeArray:
      return "an array";
    case Want::kFreeObject:
      return "an object";
    case Want::kBool:
      return "true or false";
    case Want::kString:
      return "a string";
    case Want::kNumber:
      return "a number";
    case Want::kEnum:
      return "an enum name or number";
  }
  return "";
}

Want ForMessage(const Descriptor& d) {
  static const auto* const kWellKnown =
      new absl::flat_hash_map<std::string, Want>{
          {"google.protobuf.Duration", Want::kString},
          {"google.protobuf.Timestamp", Want::kString},
          {"google.protobuf.FieldMask", Want::kString},
          {"google.protobuf.Struct", Want::kFreeObject},
          {"google.protobuf.Any", Want::kFreeObject},
          {"google.protobuf.Value", Want::kAnything},
          {"google.protobuf.ListValue", Want::kFreeArray},
          {"google.protobuf.BoolValue", Want::kBool},
          {"google.protobuf.StringValue", Want::kString},
          {"google.protobuf.BytesValue", Want::kString},
          {"google.protobuf.DoubleValue", Want::kNumber},
          {"google.protobuf.FloatValue", Want::kNumber},
          {"google.protobuf.Int64Value", Want::kNumber},
          {"google.protobuf.UInt64Value", Want::kNumber},
          {"google.protobuf.Int32Value", Want::kNumber},
          {"google.protobuf.UInt32Value", Want::kNumber},
      };
  const auto it = kWellKnown->find(d.full_name());
  return it == kWellKnown->end() ? Want::kMessage : it->second;
}

// What a field's value must be; `element` for one element of a repeated field.
Want ForField(const FieldDescriptor& field, bool element,
              const Descriptor** message) {
  if (field.is_repeated() && !element) {
    return field.is_map() ? Want::kMap : Want::kArray;
  }
  switch (field.type()) {
    case FieldDescriptor::TYPE_BOOL:
      return Want::kBool;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
      return Want::kString;
    case FieldDescriptor::TYPE_ENUM:
      return Want::kEnum;
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      *message = field.message_type();
      return ForMessage(*field.message_type());
    default:
      return Want::kNumber;
  }
}

// One open object or array.
struct Frame {
  Want want;                     // kMessage, kMap, kArray or kAnything
  const Descriptor* message;     // kMessage
  const FieldDescriptor* field;  // kMap, kArray: the field it is the value of
  std::string path;
  int index = 0;                          // kArray: the next element's
  absl::flat_hash_set<std::string> keys;  // kMessage: field names; kMap: keys
  absl::flat_hash_map<const OneofDescriptor*, std::string> oneofs;
  const FieldDescriptor* pending =
      nullptr;  // kMessage: the field of the last key
  std::string pending_path;
};

// A RapidJSON SAX handler that checks each value against what its place wants.
class Checker
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Checker> {
 public:
  Checker(absl::string_view text, const rapidjson::MemoryStream& stream,
          const Descriptor& type)
      : text_(text), stream_(stream), type_(type) {}

  bool Null() { return Scalar("null", {}); }
  bool Bool(bool b) { return Scalar(b ? "true" : "false", {Want::kBool}); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return Scalar(absl::StrCat("the number ", absl::string_view(s, n)),
                  {Want::kNumber, Want::kEnum});
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    absl::string_view value(s, n);
    std::string shown(value.substr(0, 40));
    if (value.size() > 40) shown += "...";
    return Scalar(absl::StrCat("the string \"", shown, "\""),
                  {Want::kString, Want::kNumber, Want::kEnum});
  }
  bool StartObject() {
    const Place place = Next();
    switch (place.want) {
      case Want::kMessage:
        return Push({Want::kMessage, place.message, nullptr, place.path});
      case Want::kMap:
        return Push({Want::kMap, nullptr, place.field, place.path});
      case Want::kFreeObject:
      case Want::kAnything:
        return Push({Want::kAnything, nullptr, nullptr, place.path});
      default:
        return Wrong(place, "an object");
    }
  }
  bool StartArray() {
    const Place place = Next();
    switch (place.want) {
      case Want::kArray:
        return Push({Want::kArray, nullptr, place.field, place.path});
      case Want::kFreeArray:
      case Want::kAnything:
        return Push({Want::kAnything, nullptr, nullptr, place.path});
      default:
        return Wrong(place, "an array");
    }
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string key(s, n);
    Frame& top = stack_.back();
    if (top.want == Want::kMap) {
      top.pending_path = absl::StrCat(top.path, "[\"", key, "\"]");
      if (!top.keys.insert(key).second) {
        return Fail(
            absl::StrCat(top.path, ": the key \"", key, "\" appears twice"));
      }
    } else if (top.want == Want::kMessage) {
      return MessageKey(top, key);
    }
    last_end_ = stream_.Tell();
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return Pop(); }
  bool EndArray(rapidjson::SizeType) { return Pop(); }

  const std::string& error() const { return error_; }

  // "LINE:COLUMN" of a byte offset, both from 1.
  std::string Position(size_t offset) const {
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    return absl::StrCat(line, ":", offset - line_start + 1);
  }

 private:
  struct Place {
    Want want;
    const Descriptor* message = nullptr;
    const FieldDescriptor* field = nullptr;
    std::string path;
  };

  // What the value that starts now must be.
  Place Next() const {
    if (stack_.empty()) {
      return {ForMessage(type_), &type_, nullptr, ""};
    }
    const Frame& top = stack_.back();
    Place place;
    switch (top.want) {
      case Want::kMessage:
        place.field = top.pending;
        place.path = top.pending_path;
        place.want = ForField(*top.pending, false, &place.message);
        break;
      case Want::kArray:
        place.field = top.field;
        place.path = absl::StrCat(top.path, "[", top.index, "]");
        place.want = ForField(*top.field, true, &place.message);
        break;
      case Want::kMap:
        place.field = top.field->message_type()->map_value();
        place.path = top.pending_path;
        place.want = ForField(*place.field, false, &place.message);
        break;
      default:
        place.want = Want::kAnything;
        break;
    }
    return place;
  }

  bool Scalar(const std::string& got, std::vector<Want> fits) {
    const Place place = Next();
    bool ok = got == "null" || place.want == Want::kAnything;
    for (Want w : fits) ok = ok || w == place.want;
    if (!ok) return Wrong(place, got);
    return Advance();
  }

  bool Wrong(const Place& place, const std::string& got) {
    return Fail(absl::StrCat(place.path.empty() ? type_.name() : place.path,
                             ": wants ", Describe(place.want, place.message),
                             ", got ", got));
  }

  bool MessageKey(Frame& top, const std::string& key) {
    const FieldDescriptor* field = nullptr;
    std::vector<std::string> names;
    for (int i = 0; i < top.message->field_count(); ++i) {
      const FieldDescriptor* f = top.message->field(i);
      if (f->name() == key || f->json_name() == key) field = f;
      names.push_back(f->name());
    }
    const std::string where = top.path.empty() ? top.message->name() : top.path;
    if (field == nullptr) {
      return Fail(absl::StrCat(
          where, ": no field \"", key, "\" in ", top.message->name(),
          " (it has ", names.empty() ? "none" : absl::StrJoin(names, ", "),
          ")"));
    }
    if (!top.keys.insert(field->name()).second) {
      return Fail(
          absl::StrCat(where, ": \"", field->name(), "\" appears twice"));
    }
    if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
      auto [it, inserted] = top.oneofs.try_emplace(oneof, field->name());
      if (!inserted) {
        return Fail(absl::StrCat(where, ": \"", it->second, "\" and \"",
                                 field->name(), "\" are both set; only one of ",
                                 oneof->name(), " can be"));
      }
    }
    top.pending = field;
    top.pending_path = top.path.empty()
                           ? field->name()
                           : absl::StrCat(top.path, ".", field->name());
    last_end_ = stream_.Tell();
    return true;
  }

  bool Push(Frame frame) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      return Fail(absl::StrCat(frame.path.empty() ? type_.name() : frame.path,
                               ": nested deeper than ", kMaxJsonDepth,
                               " levels"));
    }
    stack_.push_back(std::move(frame));
    PastBracket();
    return true;
  }

  bool Pop() {
    stack_.pop_back();
    Advance();
    PastBracket();
    return true;
  }

  // RapidJSON reports a bracket before it takes it, and a string or number
  // after.
  void PastBracket() {
    const size_t at = stream_.Tell();
    last_end_ = at < text_.size() && absl::string_view("{}[]").find(
                                         text_[at]) != absl::string_view::npos
                    ? at + 1
                    : at;
  }

  // A value ended: its parent moves on.
  bool Advance() {
    if (!stack_.empty()) {
      Frame& top = stack_.back();
      if (top.want == Want::kArray) ++top.index;
      top.pending = nullptr;
    }
    last_end_ = stream_.Tell();
    return true;
  }

  bool Fail(const std::string& what) {
    // Where the offending token starts: past the separators after the previous
    // one.
    size_t at = last_end_;
    while (at < text_.size() &&
           absl::string_view(" \t\r\n:,").find(text_[at]) !=
               absl::string_view::npos) {
      ++at;
    }
    error_ = absl::StrCat(Position(at), ": ", what);
    return false;
  }

  absl::string_view text_;
  const rapidjson::MemoryStream& stream_;
  const Descriptor& type_;
  std::vector<Frame> stack_;
  size_t last_end_ = 0;
  std::string error_;
};

// The last character before `*offset` that is not white space (moving `*offset`
// to it), or 0.
char PreviousNonSpace(absl::string_view text, size_t* offset) {
  while (*offset > 0) {
    const char c = text[--*offset];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
  }
  return 0;
}

// "LINE:COLUMN: what", RapidJSON's message for a syntax error made specific for
// the usual mistakes; `position` turns an offset into "LINE:COLUMN".
template <typename Position>
std::string SyntaxError(absl::string_view text, rapidjson::ParseErrorCode code,
                        size_t offset, const Position& position) {
  const char at = offset < text.size() ? text[offset] : 0;
  if ((code == rapidjson::kParseErrorObjectMissName && at == '}') ||
      (code == rapidjson::kParseErrorValueInvalid && at == ']')) {
    size_t comma = offset;
    if (PreviousNonSpace(text, &comma) == ',') {
      return absl::StrCat(position(comma),
                          ": a trailing comma (JSON has none)");
    }
  }
  std::string what = rapidjson::GetParseError_En(code);
  if (at == '\'') {
    what = "a single quote (JSON strings take double quotes)";
  } else if (at == '/' || at == '#') {
    what = "a comment (JSON has none)";
  } else if (code == rapidjson::kParseErrorDocumentRootNotSingular) {
    what = "more after the end of the JSON value";
  } else if (code == rapidjson::kParseErrorDocumentEmpty) {
    what = "no JSON value";
  }
  return absl::StrCat(position(offset), ": ", what);
}

}  // namespace

absl::Status CheckStrictJson(absl::string_view text, const Descriptor& type) {
  rapidjson::MemoryStream stream(text.data(), text.size());
  Checker checker(text, stream, type);
  rapidjson::Reader reader;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, checker);
  if (result) return absl::OkStatus();
  if (result.Code() == rapidjson::kParseErrorTermination &&
      !checker.error().empty()) {
    return absl::InvalidArgumentError(checker.error());
  }
  return absl::InvalidArgumentError(
      SyntaxError(text, result.Code(), result.Offset(),
                  [&](size_t offset) { return checker.Position(offset); }));
}

}  // namespace fake_tcp
