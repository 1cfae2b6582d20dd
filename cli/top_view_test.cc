// SPDX-License-Identifier: MIT
#include "top_view.h"

#include <string>

#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

v1::ConnectionInfo* AddConnection(TopSample& sample, uint64_t id,
                                  uint64_t bytes_in, uint64_t frames_in) {
  v1::ConnectionInfo* c = sample.connections.add_connections();
  c->set_connection_id(id);
  c->set_client_name(id == 1 ? "video-server" : "chat");
  c->set_bytes_in(bytes_in);
  c->set_frames_in(frames_in);
  return c;
}

TEST(TopViewTest, RatesAreDifferencesOverTheTimeBetweenSamples) {
  TopSample older;
  older.time = absl::FromUnixSeconds(100);
  older.status.set_frames_in(1000);
  older.status.set_bytes_out(4096);
  AddConnection(older, 1, 1000, 10);
  AddConnection(older, 2, 0, 0);

  TopSample newer;
  newer.time = absl::FromUnixSeconds(102);
  newer.status.set_frames_in(1400);
  newer.status.set_bytes_out(8192);
  AddConnection(newer, 1, 1200, 14);
  AddConnection(newer, 2, 4000, 2);
  AddConnection(newer, 3, 600, 6);  // new since the older sample

  const TopSnapshot snapshot = ComputeSnapshot(&older, newer);
  EXPECT_DOUBLE_EQ(snapshot.seconds, 2);
  EXPECT_DOUBLE_EQ(snapshot.frames_in_per_s, 200);
  EXPECT_DOUBLE_EQ(snapshot.bytes_out_per_s, 2048);
  ASSERT_EQ(snapshot.connections.size(), 3u);
  // Busiest first: :2 (2000 B/s), :3 (300 B/s), :1 (100 B/s).
  EXPECT_EQ(snapshot.connections[0].info->connection_id(), 2u);
  EXPECT_DOUBLE_EQ(snapshot.connections[0].bytes_in_per_s, 2000);
  EXPECT_EQ(snapshot.connections[1].info->connection_id(), 3u);
  EXPECT_DOUBLE_EQ(snapshot.connections[1].frames_in_per_s, 3);
  EXPECT_EQ(snapshot.connections[2].info->connection_id(), 1u);
  EXPECT_DOUBLE_EQ(snapshot.connections[2].bytes_in_per_s, 100);
}

TEST(TopViewTest, FirstSampleHasNoRates) {
  TopSample only;
  only.time = absl::FromUnixSeconds(5);
  only.status.set_frames_in(1000);
  AddConnection(only, 1, 500, 5);
  const TopSnapshot snapshot = ComputeSnapshot(nullptr, only);
  EXPECT_EQ(snapshot.seconds, 0);
  EXPECT_EQ(snapshot.frames_in_per_s, 0);
  EXPECT_EQ(snapshot.connections[0].bytes_in_per_s, 0);
  EXPECT_NE(RenderTopText(snapshot, 0).find("rates from the next sample"),
            std::string::npos);
}

TEST(TopViewTest, TextLimitsRowsAndJsonIsOneLine) {
  TopSample older;
  older.time = absl::FromUnixSeconds(1);
  TopSample newer;
  newer.time = absl::FromUnixSeconds(2);
  AddConnection(newer, 1, 100, 1)->add_names("video.frames");
  AddConnection(newer, 2, 50, 1);
  const TopSnapshot snapshot = ComputeSnapshot(&older, newer);

  const std::string text = RenderTopText(snapshot, 1);
  EXPECT_NE(text.find("video-server"), std::string::npos);
  EXPECT_EQ(text.find("chat"), std::string::npos) << text;

  const std::string json = RenderTopJson(snapshot);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_NE(json.find(R"("connection_id":1,"client_name":"video-server")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("names":["video.frames"])"), std::string::npos);
  EXPECT_NE(json.find(R"("bytes_in_per_s":100.000)"), std::string::npos);
}

}  // namespace
}  // namespace switchboard::cli
