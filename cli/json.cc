// SPDX-License-Identifier: MIT
#include "json.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"

namespace switchboard::cli {
namespace {

// Protobuf indents by one space per level; two read better. Its strings
// hold no raw newlines (they are escaped), so every line's leading spaces
// are indentation.
std::string DoubleIndent(absl::string_view json) {
  std::string out;
  out.reserve(json.size() * 2);
  bool at_line_start = true;
  for (const char c : json) {
    if (at_line_start && c == ' ') {
      out += "  ";
      continue;
    }
    at_line_start = c == '\n';
    out += c;
  }
  return out;
}

// Protobuf's syntax errors are three lines: the error, a window of the
// input, and a caret under the place. Errors are one line here, so the
// caret becomes a byte offset into the whole input, with the window.
std::string OneLineParseError(const std::string& message,
                              absl::string_view input) {
  const size_t first_break = message.find('\n');
  const size_t last_break = message.rfind('\n');
  if (first_break == std::string::npos || first_break == last_break) {
    return message.substr(0, first_break);
  }
  std::string out(absl::StripSuffix(
      absl::string_view(message).substr(0, first_break), "."));
  // The window may itself hold newlines; the caret counts bytes into it.
  const absl::string_view window = absl::string_view(message).substr(
      first_break + 1, last_break - first_break - 1);
  const size_t caret = message.find('^', last_break) - last_break - 1;
  if (window.empty()) {  // the parser ran out of input
    return absl::StrCat(out, " at the end of the input (byte ", input.size(),
                        ")");
  }
  // The window reaches to just after the error, so its last occurrence is
  // the one the parser stopped in.
  const size_t at = input.rfind(window);
  if (at == absl::string_view::npos || caret > window.size()) return out;
  return absl::StrCat(
      out, " at byte ", at + caret, " (",
      absl::StrReplaceAll(
          absl::StrCat(window.substr(0, caret), "<here>", window.substr(caret)),
          {{"\n", "\\n"}}),
      ")");
}

}  // namespace

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& m,
                                          bool indent) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = indent;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(m, &out, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print a ", m.GetTypeName(),
                     " as JSON: ", status.message().ToString()));
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  if (indent) out = DoubleIndent(out);
  return out;
}

absl::Status MessageFromJson(absl::string_view json,
                             google::protobuf::Message& out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &out, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON for ", out.GetTypeName(), ": ",
                     OneLineParseError(status.message().ToString(), json)));
  }
  return absl::OkStatus();
}

absl::Status MessageFromBytes(absl::string_view bytes,
                              google::protobuf::Message& out) {
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        bytes.size(), " bytes are not a valid ", out.GetTypeName()));
  }
  return absl::OkStatus();
}

std::string AddMember(absl::string_view object, absl::string_view key,
                      absl::string_view raw_value) {
  absl::string_view body = absl::StripTrailingAsciiWhitespace(object);
  body.remove_suffix(1);  // the closing brace
  const bool empty = absl::StripTrailingAsciiWhitespace(body) == "{";
  return absl::StrCat(body, empty ? "" : ",", JsonString(key), ":", raw_value,
                      "}");
}

std::string JsonTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

void JsonObject::AddKey(absl::string_view key) {
  if (body_.size() > 1) body_ += ',';
  absl::StrAppend(&body_, JsonString(key), ":");
}

JsonObject& JsonObject::Add(absl::string_view key, absl::string_view value) {
  AddKey(key);
  body_ += JsonString(value);
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, uint64_t value) {
  AddKey(key);
  absl::StrAppend(&body_, value);
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, double value) {
  AddKey(key);
  // JSON has no NaN or infinity.
  absl::StrAppend(&body_, std::isfinite(value) ? absl::StrFormat("%.3f", value)
                                               : std::string("0"));
  return *this;
}

JsonObject& JsonObject::AddBool(absl::string_view key, bool value) {
  AddKey(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::AddRaw(absl::string_view key, absl::string_view json) {
  AddKey(key);
  absl::StrAppend(&body_, json);
  return *this;
}

}  // namespace switchboard::cli
