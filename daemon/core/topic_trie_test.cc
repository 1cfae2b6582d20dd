// SPDX-License-Identifier: MIT
#include "daemon/core/topic_trie.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "wire/topic.h"

namespace switchboard::core {
namespace {

SubscriptionKey Key(uint64_t session, uint64_t id) {
  return SubscriptionKey{SessionId(session), id};
}

std::vector<SubscriptionKey> Matches(TopicTrie& trie, absl::string_view topic) {
  std::vector<SubscriptionKey> keys;
  trie.Match(topic, [&](const SubscriptionKey& key) { keys.push_back(key); });
  std::sort(keys.begin(), keys.end(),
            [](const SubscriptionKey& a, const SubscriptionKey& b) {
              return a.session != b.session ? a.session < b.session
                                            : a.id < b.id;
            });
  return keys;
}

// The reference: the protocol's definition, token by token.
bool NaiveMatch(absl::string_view pattern, absl::string_view topic) {
  const std::vector<absl::string_view> p = absl::StrSplit(pattern, '.');
  const std::vector<absl::string_view> t = absl::StrSplit(topic, '.');
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == ">") return i + 1 == p.size() && t.size() > i;
    if (i >= t.size()) return false;
    if (p[i] != "*" && p[i] != t[i]) return false;
  }
  return p.size() == t.size();
}

TEST(TopicTrieTest, MatchesPerTheProtocol) {
  const struct {
    absl::string_view pattern;
    absl::string_view topic;
    bool match;
  } cases[] = {
      {"a", "a", true},
      {"a", "b", false},
      {"a", "a.b", false},
      {"a.b", "a", false},
      {"*", "a", true},
      {"*", "a.b", false},
      {">", "a", true},
      {">", "a.b.c", true},
      {"a.>", "a", false},
      {"a.>", "a.b", true},
      {"a.>", "a.b.c", true},
      {"a.>", "b.c", false},
      {"*.*", "a", false},
      {"*.*", "a.b", true},
      {"*.*", "a.b.c", false},
      {"*.>", "a", false},
      {"*.>", "a.b", true},
      {"video.*", "video.a", true},
      {"video.*", "video", false},
      {"video.*", "video.a.b", false},
      {"video.>", "video.a.b", true},
      {"a.*.c", "a.b.c", true},
      {"a.*.c", "a.b.d", false},
      {"a.*.c", "a.c", false},
      {"switchboard.>", "switchboard.connection.opened", true},
      {"switchboard.name.>", "switchboard.name.video.frames", true},
  };
  for (const auto& c : cases) {
    TopicTrie trie;
    trie.Add(c.pattern, Key(1, 1));
    EXPECT_EQ(Matches(trie, c.topic).size(), c.match ? 1u : 0u)
        << c.pattern << " vs " << c.topic;
    EXPECT_EQ(NaiveMatch(c.pattern, c.topic), c.match)
        << "reference disagrees: " << c.pattern << " vs " << c.topic;
  }
}

TEST(TopicTrieTest, EachSubscriptionIsVisitedOncePerTopic) {
  TopicTrie trie;
  trie.Add("a.b", Key(1, 1));
  trie.Add("a.b", Key(1, 2));  // the same pattern twice on one session
  trie.Add("a.b", Key(2, 1));
  trie.Add("a.*", Key(2, 2));
  trie.Add("*.b", Key(3, 1));
  trie.Add("a.>", Key(3, 2));
  trie.Add(">", Key(3, 3));
  trie.Add("a.b.c", Key(4, 1));
  const std::vector<SubscriptionKey> expected = {
      Key(1, 1), Key(1, 2), Key(2, 1), Key(2, 2),
      Key(3, 1), Key(3, 2), Key(3, 3)};
  EXPECT_EQ(Matches(trie, "a.b"), expected);
  EXPECT_EQ(trie.size(), 8u);
}

TEST(TopicTrieTest, RemovalLeavesTheOthersAndFreesEmptyNodes) {
  TopicTrie trie;
  trie.Add("a.b.c", Key(1, 1));
  trie.Add("a.b", Key(1, 2));
  trie.Add("a.b.>", Key(1, 3));
  trie.Add("a.b.c", Key(2, 1));
  const size_t nodes = trie.node_count_for_test();
  EXPECT_EQ(nodes, 3u);  // a, b, c: the prefixes are shared

  EXPECT_TRUE(trie.Remove("a.b.c", Key(1, 1)));
  EXPECT_FALSE(trie.Remove("a.b.c", Key(1, 1)));
  EXPECT_FALSE(trie.Remove("a.b.d", Key(2, 1)));  // not under that pattern
  EXPECT_FALSE(trie.Remove("a.*", Key(2, 1)));
  EXPECT_EQ(Matches(trie, "a.b.c"),
            (std::vector<SubscriptionKey>{Key(1, 3), Key(2, 1)}));
  EXPECT_EQ(Matches(trie, "a.b"), (std::vector<SubscriptionKey>{Key(1, 2)}));

  EXPECT_TRUE(trie.Remove("a.b.c", Key(2, 1)));
  EXPECT_EQ(trie.node_count_for_test(), 2u);  // "c" is gone
  EXPECT_TRUE(trie.Remove("a.b.>", Key(1, 3)));
  EXPECT_TRUE(trie.Remove("a.b", Key(1, 2)));
  EXPECT_EQ(trie.node_count_for_test(), 0u);
  EXPECT_EQ(trie.size(), 0u);
  EXPECT_TRUE(Matches(trie, "a.b").empty());
}

TEST(TopicTrieTest, WildcardAndLiteralBranchesAreKeptApart) {
  TopicTrie trie;
  trie.Add("a.*", Key(1, 1));
  trie.Add("a.x", Key(1, 2));
  EXPECT_TRUE(trie.Remove("a.*", Key(1, 1)));
  EXPECT_EQ(Matches(trie, "a.x"), (std::vector<SubscriptionKey>{Key(1, 2)}));
  EXPECT_TRUE(Matches(trie, "a.y").empty());
  trie.Add(">", Key(2, 1));
  EXPECT_TRUE(trie.Remove("a.x", Key(1, 2)));
  EXPECT_EQ(Matches(trie, "a.x"), (std::vector<SubscriptionKey>{Key(2, 1)}));
}

// Random patterns and topics from a small alphabet, so that they overlap
// often; the trie must agree with the reference on every pair, also after
// removing a random half of the patterns.
TEST(TopicTrieTest, AgreesWithTheReferenceOnRandomPatterns) {
  std::mt19937 random(20261121);
  const std::vector<std::string> words = {"a", "b", "c"};
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  auto random_text = [&](bool pattern) {
    const size_t tokens = 1 + pick(4);
    std::vector<std::string> parts;
    for (size_t i = 0; i < tokens; ++i) {
      const size_t choice = pick(pattern ? 5 : 3);
      if (choice == 3) {
        parts.push_back("*");
      } else if (choice == 4 && i + 1 == tokens) {
        parts.push_back(">");
      } else {
        parts.push_back(words[choice % 3]);
      }
    }
    return absl::StrJoin(parts, ".");
  };

  TopicTrie trie;
  std::vector<std::pair<std::string, SubscriptionKey>> live;
  for (uint64_t id = 1; id <= 400; ++id) {
    std::string pattern = random_text(true);
    ASSERT_TRUE(wire::ValidatePattern(pattern).ok()) << pattern;
    const SubscriptionKey key = Key(1 + id % 7, id);
    trie.Add(pattern, key);
    live.emplace_back(std::move(pattern), key);
  }
  auto check = [&] {
    for (int i = 0; i < 300; ++i) {
      const std::string topic = random_text(false);
      std::vector<SubscriptionKey> expected;
      for (const auto& [pattern, key] : live) {
        if (NaiveMatch(pattern, topic)) expected.push_back(key);
      }
      std::sort(expected.begin(), expected.end(),
                [](const SubscriptionKey& a, const SubscriptionKey& b) {
                  return a.session != b.session ? a.session < b.session
                                                : a.id < b.id;
                });
      ASSERT_EQ(Matches(trie, topic), expected) << topic;
    }
  };
  check();
  std::shuffle(live.begin(), live.end(), random);
  for (size_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(trie.Remove(live.back().first, live.back().second));
    live.pop_back();
  }
  EXPECT_EQ(trie.size(), live.size());
  check();
}

}  // namespace
}  // namespace switchboard::core
