// SPDX-License-Identifier: MIT
//
// LineSplitter: turns the bytes chat reads from stdin, in whatever chunks
// read() returns them, into whole lines. A line longer than a limit comes
// out in pieces of that limit, so one huge line cannot grow a message
// without bound.
#ifndef SWITCHBOARD_EXAMPLES_CHAT_LINE_SPLITTER_H_
#define SWITCHBOARD_EXAMPLES_CHAT_LINE_SPLITTER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace switchboard::examples::chat {

class LineSplitter {
 public:
  // `max_line_bytes` must be at least 1.
  explicit LineSplitter(size_t max_line_bytes);

  // Appends `bytes` and returns the lines they completed, without "\n" (or
  // "\r\n"), in order.
  std::vector<std::string> Append(absl::string_view bytes);
  // At end of input: the unfinished last line, if any bytes are left.
  std::vector<std::string> Finish();

 private:
  size_t max_line_bytes_;
  std::string pending_;
};

}  // namespace switchboard::examples::chat

#endif  // SWITCHBOARD_EXAMPLES_CHAT_LINE_SPLITTER_H_
