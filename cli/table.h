// SPDX-License-Identifier: MIT
//
// Human output of the `switchboard` tool: aligned text tables and numbers in
// readable units (bytes in KiB/MiB/GiB, rates per second, durations).
#ifndef SWITCHBOARD_CLI_TABLE_H_
#define SWITCHBOARD_CLI_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace switchboard::cli {

// Columns separated by two spaces; each column as wide as its widest cell.
// Columns marked numeric are right-aligned; the last column is not padded.
class Table {
 public:
  struct Column {
    std::string title;
    bool numeric = false;
  };
  // An empty `columns` title row is not printed when every title is empty.
  explicit Table(std::vector<Column> columns);

  // `cells` has one string per column (missing ones print empty).
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }

  // The header row (unless every title is empty) and the rows, each line
  // ending in '\n', without trailing spaces.
  std::string Render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// 1023 -> "1023 B", 1536 -> "1.5 KiB", 34603008 -> "33.0 MiB".
std::string FormatBytes(double bytes);
// FormatBytes() + "/s".
std::string FormatByteRate(double bytes_per_s);
// 12 -> "12", 12.34 -> "12.3", 12345.6 -> "12.3k", 4.5e6 -> "4.5M".
std::string FormatRate(double per_s);
// 1234567 -> "1,234,567".
std::string FormatCount(uint64_t n);
// 3723s -> "1h 02m 03s", 65s -> "1m 05s", 1.5s -> "1.5s", 2d -> "2d 00h 00m".
std::string FormatUptime(absl::Duration d);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_TABLE_H_
