// SPDX-License-Identifier: MIT
//
// Tests for LineSplitter.
#include "line_splitter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard::examples::chat {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(LineSplitterTest, LinesSplitAcrossChunksComeOutWhole) {
  LineSplitter splitter(100);
  EXPECT_THAT(splitter.Append("hel"), IsEmpty());
  EXPECT_THAT(splitter.Append("lo\nwor"), ElementsAre("hello"));
  EXPECT_THAT(splitter.Append("ld\n\nbye\r\n"),
              ElementsAre("world", "", "bye"));
  EXPECT_THAT(splitter.Finish(), IsEmpty());
}

TEST(LineSplitterTest, FinishReturnsTheUnfinishedLastLine) {
  LineSplitter splitter(100);
  EXPECT_THAT(splitter.Append("one\ntwo"), ElementsAre("one"));
  EXPECT_THAT(splitter.Finish(), ElementsAre("two"));
  EXPECT_THAT(splitter.Finish(), IsEmpty());
}

TEST(LineSplitterTest, ALongLineComesOutInPiecesOfTheLimit) {
  LineSplitter splitter(4);
  EXPECT_THAT(splitter.Append("abcdefghij\nxy\n"),
              ElementsAre("abcd", "efgh", "ij", "xy"));
}

}  // namespace
}  // namespace switchboard::examples::chat
