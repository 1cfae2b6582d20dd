// SPDX-License-Identifier: MIT
#include "daemon/core/topic_trie.h"

#include <algorithm>

#include "wire/topic.h"

namespace switchboard::core {

struct TopicTrie::Node {
  // Literal tokens. Keyed by std::string with heterogeneous lookup, so a
  // topic's tokens are looked up as views without copying.
  absl::flat_hash_map<std::string, std::unique_ptr<Node>> children;
  std::unique_ptr<Node> any_token;  // the "*" edge
  // Patterns that end at this node, and patterns that end at this node
  // followed by ">" (they match one or more further tokens).
  std::vector<SubscriptionKey> here;
  std::vector<SubscriptionKey> tail;

  bool empty() const {
    return children.empty() && any_token == nullptr && here.empty() &&
           tail.empty();
  }
  size_t CountNodes() const {
    size_t count = 0;
    for (const auto& [token, child] : children)
      count += 1 + child->CountNodes();
    if (any_token) count += 1 + any_token->CountNodes();
    return count;
  }
};

namespace {

bool Erase(std::vector<SubscriptionKey>& keys, const SubscriptionKey& key) {
  auto it = std::find(keys.begin(), keys.end(), key);
  if (it == keys.end()) return false;
  // Order among the keys of one node carries no meaning.
  *it = keys.back();
  keys.pop_back();
  return true;
}

}  // namespace

TopicTrie::TopicTrie() : root_(std::make_unique<Node>()) {}
TopicTrie::~TopicTrie() = default;

void TopicTrie::Tokenize(absl::string_view text) {
  tokens_.clear();
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    if (dot == absl::string_view::npos) {
      tokens_.push_back(text.substr(start));
      return;
    }
    tokens_.push_back(text.substr(start, dot - start));
    start = dot + 1;
  }
}

void TopicTrie::Add(absl::string_view pattern, const SubscriptionKey& key) {
  Tokenize(pattern);
  Node* node = root_.get();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const absl::string_view token = tokens_[i];
    if (token == wire::kAnyTail && i + 1 == tokens_.size()) {
      node->tail.push_back(key);
      ++size_;
      return;
    }
    std::unique_ptr<Node>* next;
    if (token == wire::kAnyToken) {
      next = &node->any_token;
    } else {
      auto it = node->children.find(token);
      if (it == node->children.end()) {
        it = node->children.emplace(std::string(token), nullptr).first;
      }
      next = &it->second;
    }
    if (*next == nullptr) *next = std::make_unique<Node>();
    node = next->get();
  }
  node->here.push_back(key);
  ++size_;
}

bool TopicTrie::RemoveFrom(Node& node, size_t index, const SubscriptionKey& key,
                           bool& removed) {
  if (index == tokens_.size()) {
    removed = Erase(node.here, key);
    return node.empty();
  }
  const absl::string_view token = tokens_[index];
  if (token == wire::kAnyTail && index + 1 == tokens_.size()) {
    removed = Erase(node.tail, key);
    return node.empty();
  }
  if (token == wire::kAnyToken) {
    if (node.any_token &&
        RemoveFrom(*node.any_token, index + 1, key, removed)) {
      node.any_token.reset();
    }
    return node.empty();
  }
  auto it = node.children.find(token);
  if (it != node.children.end() &&
      RemoveFrom(*it->second, index + 1, key, removed)) {
    node.children.erase(it);
  }
  return node.empty();
}

bool TopicTrie::Remove(absl::string_view pattern, const SubscriptionKey& key) {
  Tokenize(pattern);
  bool removed = false;
  RemoveFrom(*root_, 0, key, removed);  // the root itself is never freed
  if (removed) --size_;
  return removed;
}

void TopicTrie::Match(absl::string_view topic,
                      absl::FunctionRef<void(const SubscriptionKey&)> visit) {
  Tokenize(topic);
  MatchFrom(*root_, 0, visit);
}

void TopicTrie::MatchFrom(
    const Node& node, size_t index,
    absl::FunctionRef<void(const SubscriptionKey&)> visit) const {
  if (index == tokens_.size()) {
    for (const SubscriptionKey& key : node.here) visit(key);
    return;
  }
  // At least one token is left: every "prefix.>" pattern here matches.
  for (const SubscriptionKey& key : node.tail) visit(key);
  if (auto it = node.children.find(tokens_[index]); it != node.children.end()) {
    MatchFrom(*it->second, index + 1, visit);
  }
  if (node.any_token) MatchFrom(*node.any_token, index + 1, visit);
}

size_t TopicTrie::node_count_for_test() const { return root_->CountNodes(); }

}  // namespace switchboard::core
