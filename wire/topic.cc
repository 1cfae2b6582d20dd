// SPDX-License-Identifier: MIT
#include "wire/topic.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace switchboard::wire {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-';
}

// The offending text, quoted and shortened so an error message stays small
// however long the input was.
std::string Quoted(absl::string_view text) {
  constexpr size_t kShown = 64;
  if (text.size() <= kShown) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", text.substr(0, kShown), "...'");
}

// Printable form of one byte for an error message.
std::string Shown(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (absl::ascii_isprint(byte))
    return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrCat("0x", absl::Hex(byte, absl::kZeroPad2));
}

// Checks one token; `number` is its 1-based position, `last` whether it ends
// the text. Only builds strings when the token is wrong: this runs on every
// PUBLISH the broker receives.
absl::Status CheckToken(absl::string_view what, absl::string_view text,
                        absl::string_view token, size_t number, bool last,
                        bool wildcards) {
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", Quoted(text), " has an empty token at position ", number,
        " (leading, trailing or double dot)"));
  }
  if (token == kAnyToken || token == kAnyTail) {
    if (!wildcards) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " ", Quoted(text), " has the wildcard '", token,
          "' at position ", number,
          "; wildcards are allowed in subscription patterns only"));
    }
    if (token == kAnyTail && !last) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", Quoted(text), " has '>' at position ", number,
                       "; '>' may only be the last token"));
    }
    return absl::OkStatus();
  }
  for (char c : token) {
    if (IsTokenChar(c)) continue;
    if (c == '*' || c == '>') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", Quoted(text), " has '", std::string(1, c),
                       "' inside token ", number, " ", Quoted(token),
                       "; a wildcard must be a whole token"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", Quoted(text), " has the character ", Shown(c), " in token ",
        number, "; tokens may contain only A-Z a-z 0-9 _ -"));
  }
  return absl::OkStatus();
}

absl::Status Validate(absl::string_view what, absl::string_view text,
                      bool wildcards) {
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (text.size() > kMaxTopicBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", Quoted(text), " is ", text.size(),
                     " bytes; the limit is ", kMaxTopicBytes));
  }
  size_t number = 1;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    const bool last = dot == absl::string_view::npos;
    const absl::string_view token =
        text.substr(start, last ? absl::string_view::npos : dot - start);
    if (absl::Status s = CheckToken(what, text, token, number, last, wildcards);
        !s.ok()) {
      return s;
    }
    if (last) return absl::OkStatus();
    start = dot + 1;
    ++number;
  }
}

}  // namespace

absl::Status ValidateTopic(absl::string_view topic) {
  return Validate("topic", topic, /*wildcards=*/false);
}

absl::Status ValidatePattern(absl::string_view pattern) {
  return Validate("pattern", pattern, /*wildcards=*/true);
}

bool IsReservedTopic(absl::string_view topic) {
  const absl::string_view first = topic.substr(0, topic.find('.'));
  return first == kReservedTopicToken;
}

bool PatternMatches(absl::string_view pattern, absl::string_view subject) {
  while (true) {
    const size_t pattern_dot = pattern.find('.');
    const absl::string_view want = pattern.substr(0, pattern_dot);
    if (want == kAnyTail) return !subject.empty();
    const size_t subject_dot = subject.find('.');
    const absl::string_view token = subject.substr(0, subject_dot);
    if (want != kAnyToken && want != token) return false;
    if (pattern_dot == absl::string_view::npos ||
        subject_dot == absl::string_view::npos) {
      return pattern_dot == absl::string_view::npos &&
             subject_dot == absl::string_view::npos;
    }
    pattern.remove_prefix(pattern_dot + 1);
    subject.remove_prefix(subject_dot + 1);
  }
}

}  // namespace switchboard::wire
