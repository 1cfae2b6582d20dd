// SPDX-License-Identifier: MIT
#include "table.h"

#include "gtest/gtest.h"

namespace switchboard::cli {
namespace {

TEST(TableTest, AlignsColumnsAndRightAlignsNumbers) {
  Table table({{"NAME"}, {"PID", true}, {"EXE"}});
  table.AddRow({"video.frames", "12", "/usr/bin/video-server"});
  table.AddRow({"chat", "3456", ""});
  EXPECT_EQ(table.Render(),
            "NAME           PID  EXE\n"
            "video.frames    12  /usr/bin/video-server\n"
            "chat          3456\n");
}

TEST(TableTest, WithoutTitlesHasNoHeaderRow) {
  Table table({{""}, {""}});
  table.AddRow({"version", "0.1.0"});
  table.AddRow({"pid", "7"});
  EXPECT_EQ(table.Render(), "version  0.1.0\npid      7\n");
}

TEST(TableTest, MissingCellsPrintEmpty) {
  Table table({{"A"}, {"B"}});
  table.AddRow({"x"});
  EXPECT_EQ(table.Render(), "A  B\nx\n");
  EXPECT_EQ(table.rows(), 1u);
}

TEST(UnitsTest, BytesInBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(33177600), "31.6 MiB");
  EXPECT_EQ(FormatBytes(3.0 * (1 << 30)), "3.0 GiB");
  EXPECT_EQ(FormatByteRate(2048), "2.0 KiB/s");
}

TEST(UnitsTest, RatesAndCounts) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(12), "12");
  EXPECT_EQ(FormatRate(12.34), "12.3");
  EXPECT_EQ(FormatRate(12345.6), "12.3k");
  EXPECT_EQ(FormatRate(4.5e6), "4.5M");
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
}

TEST(UnitsTest, Uptime) {
  EXPECT_EQ(FormatUptime(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatUptime(absl::Seconds(65)), "1m 05s");
  EXPECT_EQ(FormatUptime(absl::Seconds(3723)), "1h 02m 03s");
  EXPECT_EQ(FormatUptime(absl::Hours(49)), "2d 01h 00m");
}

}  // namespace
}  // namespace switchboard::cli
