// SPDX-License-Identifier: MIT
//
// libFuzzer target for the syntax checks and matchers of what a client
// names: service and method names (daemon/core/names.h), topics and
// subscription patterns (wire/topic.h), the subscription trie
// (daemon/core/topic_trie.h) and the PUBLISH fast paths that read a topic
// without a full parse (wire::ReadPublishTopic, wire::ReadPlainPublish).
//
// The input is split at '\n' into strings. Properties, besides no crash,
// leak or sanitizer report:
//   - every validator agrees with a reference grammar written here from
//     docs/PROTOCOL.md 5.1 and 5.5, and refuses with kInvalidArgument and a
//     message;
//   - for the strings that are valid patterns, added to a TopicTrie under
//     keys of three sessions, and the strings that are valid topics, the
//     trie's matches equal those of a reference matcher ("*" one token, a
//     final ">" one or more), each key visited once; wire::PatternMatches
//     agrees with the reference too; after removing every other key the
//     trie still agrees, and after removing all it is empty (size() 0, no
//     nodes left);
//   - the whole input as a Header: when protobuf parses it, ReadPublishTopic
//     succeeds exactly when the body is `publish`, with its topic; when
//     ReadPlainPublish accepts the bytes, they parse (if the strings are
//     UTF-8) to exactly that topic and message type and nothing else.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "daemon/core/names.h"
#include "daemon/core/topic_trie.h"
#include "google/protobuf/stubs/logging.h"
#include "switchboard/v1/header.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "wire/frame.h"
#include "wire/topic.h"

namespace switchboard {
namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool IsPlainToken(absl::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

std::vector<absl::string_view> Tokens(absl::string_view text) {
  return absl::StrSplit(text, '.');
}

// Reference grammars (docs/PROTOCOL.md 5.1, 5.5).
bool RefServiceName(absl::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (absl::string_view token : Tokens(name)) {
    if (!IsPlainToken(token)) return false;
  }
  return true;
}

bool RefMethodName(absl::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    if (!IsTokenChar(c) && c != '.') return false;
  }
  return true;
}

bool RefTopic(absl::string_view topic) { return RefServiceName(topic); }

bool RefPattern(absl::string_view pattern) {
  if (pattern.empty() || pattern.size() > 255) return false;
  const std::vector<absl::string_view> tokens = Tokens(pattern);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == "*") continue;
    if (tokens[i] == ">" && i + 1 == tokens.size()) continue;
    if (!IsPlainToken(tokens[i])) return false;
  }
  return true;
}

bool RefMatches(absl::string_view pattern, absl::string_view topic) {
  const std::vector<absl::string_view> want = Tokens(pattern);
  const std::vector<absl::string_view> have = Tokens(topic);
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] == ">" && i + 1 == want.size()) return have.size() > i;
    if (i >= have.size()) return false;
    if (want[i] != "*" && want[i] != have[i]) return false;
  }
  return want.size() == have.size();
}

void CheckRefusal(const absl::Status& status) {
  if (status.ok()) return;
  SB_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  SB_FUZZ_CHECK(!status.message().empty());
}

void CheckValidators(absl::string_view text) {
  const absl::Status service = core::ValidateServiceName(text);
  CheckRefusal(service);
  SB_FUZZ_CHECK(service.ok() == RefServiceName(text));
  const absl::Status claimable = core::ValidateClaimableName(text);
  CheckRefusal(claimable);
  SB_FUZZ_CHECK(
      claimable.ok() ==
      (RefServiceName(text) && !absl::StartsWith(text, core::kReservedPrefix)));
  const absl::Status method = core::ValidateMethodName(text);
  CheckRefusal(method);
  SB_FUZZ_CHECK(method.ok() == RefMethodName(text));
  const absl::Status topic = wire::ValidateTopic(text);
  CheckRefusal(topic);
  SB_FUZZ_CHECK(topic.ok() == RefTopic(text));
  const absl::Status pattern = wire::ValidatePattern(text);
  CheckRefusal(pattern);
  SB_FUZZ_CHECK(pattern.ok() == RefPattern(text));
  if (topic.ok()) {
    SB_FUZZ_CHECK(wire::IsReservedTopic(text) ==
                  (Tokens(text)[0] == wire::kReservedTopicToken));
  }
}

using KeySet = std::set<std::pair<uint64_t, uint64_t>>;

KeySet TrieMatches(core::TopicTrie& trie, absl::string_view topic) {
  KeySet keys;
  trie.Match(topic, [&](const core::SubscriptionKey& key) {
    // Each key once per topic.
    SB_FUZZ_CHECK(keys.emplace(key.session.value(), key.id).second);
  });
  return keys;
}

struct Added {
  absl::string_view pattern;
  core::SubscriptionKey key;
  bool live = true;
};

void CheckTrie(const std::vector<absl::string_view>& patterns,
               const std::vector<absl::string_view>& topics) {
  core::TopicTrie trie;
  std::vector<Added> added;
  for (size_t i = 0; i < patterns.size(); ++i) {
    const core::SubscriptionKey key{core::SessionId(1 + i % 3), i};
    trie.Add(patterns[i], key);
    added.push_back(Added{patterns[i], key});
  }
  SB_FUZZ_CHECK(trie.size() == added.size());
  auto check_all = [&] {
    for (absl::string_view topic : topics) {
      KeySet want;
      for (const Added& entry : added) {
        const bool matches = RefMatches(entry.pattern, topic);
        SB_FUZZ_CHECK(wire::PatternMatches(entry.pattern, topic) == matches);
        if (entry.live && matches) {
          want.emplace(entry.key.session.value(), entry.key.id);
        }
      }
      SB_FUZZ_CHECK(TrieMatches(trie, topic) == want);
    }
  };
  check_all();
  for (size_t i = 0; i < added.size(); i += 2) {
    SB_FUZZ_CHECK(trie.Remove(added[i].pattern, added[i].key));
    SB_FUZZ_CHECK(!trie.Remove(added[i].pattern, added[i].key));
    added[i].live = false;
  }
  check_all();
  for (Added& entry : added) {
    if (!entry.live) continue;
    SB_FUZZ_CHECK(trie.Remove(entry.pattern, entry.key));
    entry.live = false;
  }
  SB_FUZZ_CHECK(trie.size() == 0);
  SB_FUZZ_CHECK(trie.node_count_for_test() == 0);
}

bool IsUtf8(const std::string& text) {
  v1::Publish probe;
  probe.set_topic(text);
  v1::Publish back;
  return back.ParseFromString(probe.SerializeAsString());
}

void CheckPublishReaders(absl::string_view bytes) {
  v1::Header header;
  const bool parses =
      header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  const absl::StatusOr<absl::string_view> topic = wire::ReadPublishTopic(bytes);
  if (!topic.ok()) {
    SB_FUZZ_CHECK(topic.status().code() == absl::StatusCode::kInvalidArgument);
  }
  if (parses) {
    const bool is_publish = header.body_case() == v1::Header::kPublish;
    SB_FUZZ_CHECK(topic.ok() == is_publish);
    if (is_publish) SB_FUZZ_CHECK(*topic == header.publish().topic());
  }
  absl::string_view plain_topic = "unset";
  absl::string_view plain_type = "unset";
  if (!wire::ReadPlainPublish(bytes, plain_topic, plain_type)) {
    SB_FUZZ_CHECK(plain_topic == "unset" && plain_type == "unset");
    return;
  }
  SB_FUZZ_CHECK(topic.ok() && *topic == plain_topic);
  if (!IsUtf8(std::string(plain_topic)) || !IsUtf8(std::string(plain_type))) {
    return;  // protobuf refuses a string field that is not UTF-8
  }
  SB_FUZZ_CHECK(parses);
  SB_FUZZ_CHECK(header.body_case() == v1::Header::kPublish);
  v1::Header plain;
  plain.mutable_publish()->set_topic(std::string(plain_topic));
  plain.mutable_publish()->set_message_type(std::string(plain_type));
  SB_FUZZ_CHECK(header.SerializeAsString() == plain.SerializeAsString());
}

}  // namespace
}  // namespace switchboard

// Hostile headers make protobuf log a line per parse; keep the run readable.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using switchboard::RefPattern;
  using switchboard::RefTopic;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<absl::string_view> patterns;
  std::vector<absl::string_view> topics;
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    switchboard::CheckValidators(line);
    // Bounded, so one input stays fast.
    if (RefPattern(line) && patterns.size() < 64) patterns.push_back(line);
    if (RefTopic(line) && topics.size() < 64) topics.push_back(line);
  }
  switchboard::CheckTrie(patterns, topics);
  switchboard::CheckPublishReaders(input);
  return 0;
}
