// SPDX-License-Identifier: MIT
//
// Splits a byte stream into lines (line_splitter.h).
#include "line_splitter.h"

#include <utility>

namespace switchboard::examples::chat {
namespace {

void DropCarriageReturn(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

}  // namespace

LineSplitter::LineSplitter(size_t max_line_bytes)
    : max_line_bytes_(max_line_bytes) {}

std::vector<std::string> LineSplitter::Append(absl::string_view bytes) {
  std::vector<std::string> lines;
  for (const char c : bytes) {
    if (c == '\n') {
      DropCarriageReturn(pending_);
      lines.push_back(std::move(pending_));
      pending_.clear();
      continue;
    }
    pending_.push_back(c);
    if (pending_.size() == max_line_bytes_) {
      lines.push_back(std::move(pending_));
      pending_.clear();
    }
  }
  return lines;
}

std::vector<std::string> LineSplitter::Finish() {
  std::vector<std::string> lines;
  if (pending_.empty()) return lines;
  DropCarriageReturn(pending_);
  lines.push_back(std::move(pending_));
  pending_.clear();
  return lines;
}

}  // namespace switchboard::examples::chat
