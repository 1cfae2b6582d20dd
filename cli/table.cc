// SPDX-License-Identifier: MIT
#include "table.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace switchboard::cli {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  const bool titled =
      std::any_of(columns_.begin(), columns_.end(),
                  [](const Column& c) { return !c.title.empty(); });
  std::vector<size_t> widths(columns_.size(), 0);
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (titled) widths[c] = columns_[c].title.size();
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], row[c].size());
  }
  std::string out;
  auto render_row = [&](auto cell_of) {
    std::string line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      const std::string& cell = cell_of(c);
      const std::string pad(widths[c] - cell.size(), ' ');
      if (c > 0) line += "  ";
      if (columns_[c].numeric) {
        absl::StrAppend(&line, pad, cell);
      } else if (c + 1 < columns_.size()) {
        absl::StrAppend(&line, cell, pad);
      } else {
        line += cell;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  if (titled) {
    render_row(
        [&](size_t c) -> const std::string& { return columns_[c].title; });
  }
  for (const auto& row : rows_) {
    render_row([&](size_t c) -> const std::string& { return row[c]; });
  }
  return out;
}

std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return absl::StrFormat("%.0f B", bytes);
  int unit = -1;
  while (bytes >= 1024 && unit < 3) {
    bytes /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", bytes, kUnits[unit]);
}

std::string FormatByteRate(double bytes_per_s) {
  return absl::StrCat(FormatBytes(bytes_per_s), "/s");
}

std::string FormatRate(double per_s) {
  if (per_s >= 1e6) return absl::StrFormat("%.1fM", per_s / 1e6);
  if (per_s >= 1e4) return absl::StrFormat("%.1fk", per_s / 1e3);
  if (per_s == std::floor(per_s)) return absl::StrFormat("%.0f", per_s);
  return absl::StrFormat("%.1f", per_s);
}

std::string FormatCount(uint64_t n) {
  std::string digits = absl::StrCat(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string FormatUptime(absl::Duration d) {
  if (d < absl::Minutes(1)) {
    return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(d));
  }
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 86400) {
    return absl::StrFormat("%dd %02dh %02dm", s / 86400, s % 86400 / 3600,
                           s % 3600 / 60);
  }
  if (s >= 3600) {
    return absl::StrFormat("%dh %02dm %02ds", s / 3600, s % 3600 / 60, s % 60);
  }
  return absl::StrFormat("%dm %02ds", s / 60, s % 60);
}

}  // namespace switchboard::cli
