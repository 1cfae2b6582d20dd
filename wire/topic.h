// SPDX-License-Identifier: MIT
//
// Syntax of topics and subscription patterns (docs/PROTOCOL.md 5.5). The
// client library checks a topic before it publishes and a pattern before it
// subscribes; the broker checks both again on arrival. Both link this one
// file, so the two sides cannot disagree about what a topic is.
#ifndef SWITCHBOARD_WIRE_TOPIC_H_
#define SWITCHBOARD_WIRE_TOPIC_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard::wire {

inline constexpr size_t kMaxTopicBytes = 255;
// The first token of the topics the broker publishes on (section 6.2).
inline constexpr absl::string_view kReservedTopicToken = "switchboard";
// Pattern tokens: one token, and one or more trailing tokens.
inline constexpr absl::string_view kAnyToken = "*";
inline constexpr absl::string_view kAnyTail = ">";

// A topic is 1 to 255 bytes of dot-separated, non-empty tokens made of
// A-Z a-z 0-9 _ -. Wildcards are refused. Reserved topics pass (see
// IsReservedTopic). Errors: kInvalidArgument naming the problem and the
// 1-based token where it is.
absl::Status ValidateTopic(absl::string_view topic);

// A pattern is a topic whose tokens may also be "*", or ">" as the last token.
// Errors: kInvalidArgument naming the problem and the 1-based token.
absl::Status ValidatePattern(absl::string_view pattern);

// True if the first token of `topic` is "switchboard": the broker's topics,
// which anyone may subscribe to and no client may publish on.
bool IsReservedTopic(absl::string_view topic);

// Whether `pattern` (valid per ValidatePattern) matches `subject`, token by
// token: "*" takes exactly one token, a final ">" one or more. For one
// pattern at a time (the broker's monitors); subscriptions use the trie.
bool PatternMatches(absl::string_view pattern, absl::string_view subject);

}  // namespace switchboard::wire

#endif  // SWITCHBOARD_WIRE_TOPIC_H_
