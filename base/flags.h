// SPDX-License-Identifier: MIT
//
// A small command-line parser shared by switchboardd, switchboard, the
// examples and the bench, so every program spells flags the same way:
// `--name=value` or `--name value`, `--flag` / `--no-flag` for booleans,
// repeatable list flags, `--` to end flags, and a generated `--help`.
//
//   FlagParser flags("switchboardd", "Runs the Switchboard broker.");
//   flags.AddStrings("address", &addresses, "ADDRESS", "Where to listen ...");
//   std::vector<std::string> args = flags.ParseOrExit(argc, argv);
#ifndef SWITCHBOARD_BASE_FLAGS_H_
#define SWITCHBOARD_BASE_FLAGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

class FlagParser {
 public:
  // `summary` is printed under the usage line of --help.
  FlagParser(absl::string_view program, absl::string_view summary);

  // Sets the "Usage:" line's argument part, e.g. "[options] NAME METHOD".
  void set_usage_args(absl::string_view args) {
    usage_args_ = std::string(args);
  }
  // Text printed after the flag list (examples, exit codes).
  void set_epilogue(absl::string_view text) { epilogue_ = std::string(text); }

  // Each Add* registers --NAME; `out` must outlive Parse() and keeps its value
  // as the default when the flag is absent.
  void AddString(absl::string_view name, std::string* out,
                 absl::string_view value_name, absl::string_view help);
  // Repeatable: every occurrence appends (the first one clears the default).
  void AddStrings(absl::string_view name, std::vector<std::string>* out,
                  absl::string_view value_name, absl::string_view help);
  void AddInt(absl::string_view name, int64_t* out,
              absl::string_view value_name, absl::string_view help);
  // Accepts absl durations ("250ms", "5s", "1m") and plain seconds ("2.5").
  void AddDuration(absl::string_view name, absl::Duration* out,
                   absl::string_view help);
  void AddBool(absl::string_view name, bool* out, absl::string_view help);

  // Returns the positional arguments. Errors: kInvalidArgument naming the
  // offending argument. `--help`/`-h` sets help_requested() and stops parsing.
  absl::StatusOr<std::vector<std::string>> Parse(int argc, char** argv);
  // Parse(), but prints Help() and exits 0 on --help, and prints the error
  // plus a hint to stderr and exits 2 on a usage error.
  std::vector<std::string> ParseOrExit(int argc, char** argv);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    std::string value_name;  // empty for booleans
    std::string help;
    std::string default_text;
    std::function<absl::Status(absl::string_view)> set;
    std::function<void()> set_true;  // booleans only
    std::function<void()> set_false;
  };
  const Flag* Find(absl::string_view name) const;

  std::string program_;
  std::string summary_;
  std::string usage_args_ = "[options]";
  std::string epilogue_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

// Parses "250ms", "5s", "1m" or plain seconds ("2.5"). kInvalidArgument else.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text);

}  // namespace switchboard

#endif  // SWITCHBOARD_BASE_FLAGS_H_
