// SPDX-License-Identifier: MIT
//
// TopicTrie: which subscriptions match a topic (docs/PROTOCOL.md 5.5). The
// patterns are stored token by token in a tree whose edges are literal
// tokens or "*"; a pattern ending in ">" is kept at the node of its prefix.
// Matching walks the topic's tokens down that tree, so its cost depends on
// the topic's length and the number of matching wildcard branches, not on
// how many patterns exist. Every node is reached by one path only, so each
// subscription is visited once per topic. Patterns and topics must be valid
// (wire/topic.h); the trie does not check them again.
//
// Single-threaded; Match() reuses a scratch buffer and allocates nothing once
// it has seen a topic of that many tokens.
#ifndef SWITCHBOARD_DAEMON_CORE_TOPIC_TRIE_H_
#define SWITCHBOARD_DAEMON_CORE_TOPIC_TRIE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "daemon/core/ids.h"

namespace switchboard::core {

// Names one subscription: the session that holds it and the id it chose.
struct SubscriptionKey {
  SessionId session;
  uint64_t id = 0;

  friend bool operator==(const SubscriptionKey&,
                         const SubscriptionKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const SubscriptionKey& key) {
    return H::combine(std::move(h), key.session, key.id);
  }
};

class TopicTrie {
 public:
  TopicTrie();
  ~TopicTrie();
  TopicTrie(const TopicTrie&) = delete;
  TopicTrie& operator=(const TopicTrie&) = delete;

  // Adds `key` under `pattern`. One key is added once; a pattern may hold
  // many keys.
  void Add(absl::string_view pattern, const SubscriptionKey& key);

  // Removes `key` from `pattern`; false if it was not there. Nodes left
  // empty are freed.
  bool Remove(absl::string_view pattern, const SubscriptionKey& key);

  // Calls `visit` once for every key whose pattern matches `topic`. `visit`
  // must not change the trie.
  void Match(absl::string_view topic,
             absl::FunctionRef<void(const SubscriptionKey&)> visit);

  size_t size() const { return size_; }
  // Nodes besides the root (tests check that removal frees them).
  size_t node_count_for_test() const;

 private:
  struct Node;

  // Splits `text` at dots into tokens_.
  void Tokenize(absl::string_view text);
  void MatchFrom(const Node& node, size_t index,
                 absl::FunctionRef<void(const SubscriptionKey&)> visit) const;
  // Removes `key` below `node` along tokens_[index..]; sets `removed`.
  // Returns whether `node` is now empty and may be freed.
  bool RemoveFrom(Node& node, size_t index, const SubscriptionKey& key,
                  bool& removed);

  std::unique_ptr<Node> root_;
  std::vector<absl::string_view> tokens_;  // scratch for one call
  size_t size_ = 0;
};

}  // namespace switchboard::core

#endif  // SWITCHBOARD_DAEMON_CORE_TOPIC_TRIE_H_
