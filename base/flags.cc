// SPDX-License-Identifier: MIT
#include "base/flags.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace switchboard {

FlagParser::FlagParser(absl::string_view program, absl::string_view summary)
    : program_(program), summary_(summary) {}

void FlagParser::AddString(absl::string_view name, std::string* out,
                           absl::string_view value_name,
                           absl::string_view help) {
  flags_.push_back(Flag{std::string(name), std::string(value_name),
                        std::string(help), *out,
                        [out](absl::string_view v) {
                          *out = std::string(v);
                          return absl::OkStatus();
                        },
                        nullptr, nullptr});
}

void FlagParser::AddStrings(absl::string_view name,
                            std::vector<std::string>* out,
                            absl::string_view value_name,
                            absl::string_view help) {
  auto seen = std::make_shared<bool>(false);
  flags_.push_back(Flag{std::string(name), std::string(value_name),
                        std::string(help), absl::StrJoin(*out, ", "),
                        [out, seen](absl::string_view v) {
                          if (!*seen) out->clear();
                          *seen = true;
                          out->emplace_back(v);
                          return absl::OkStatus();
                        },
                        nullptr, nullptr});
}

void FlagParser::AddInt(absl::string_view name, int64_t* out,
                        absl::string_view value_name, absl::string_view help) {
  std::string flag_name(name);
  flags_.push_back(Flag{
      flag_name, std::string(value_name), std::string(help), absl::StrCat(*out),
      [out, flag_name](absl::string_view v) {
        if (!absl::SimpleAtoi(v, out)) {
          return absl::InvalidArgumentError(
              absl::StrCat("--", flag_name, ": not a whole number: '", v, "'"));
        }
        return absl::OkStatus();
      },
      nullptr, nullptr});
}

void FlagParser::AddDuration(absl::string_view name, absl::Duration* out,
                             absl::string_view help) {
  std::string flag_name(name);
  flags_.push_back(
      Flag{flag_name, "DURATION", std::string(help), absl::FormatDuration(*out),
           [out, flag_name](absl::string_view v) -> absl::Status {
             absl::StatusOr<absl::Duration> d = ParseDurationFlag(v);
             if (!d.ok()) {
               return absl::InvalidArgumentError(
                   absl::StrCat("--", flag_name, ": ", d.status().message()));
             }
             *out = *d;
             return absl::OkStatus();
           },
           nullptr, nullptr});
}

void FlagParser::AddBool(absl::string_view name, bool* out,
                         absl::string_view help) {
  flags_.push_back(Flag{std::string(name), "", std::string(help),
                        *out ? "true" : "false", nullptr,
                        [out] { *out = true; }, [out] { *out = false; }});
}

const FlagParser::Flag* FlagParser::Find(absl::string_view name) const {
  for (const Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

absl::StatusOr<std::vector<std::string>> FlagParser::Parse(int argc,
                                                           char** argv) {
  std::vector<std::string> positional;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg == "-" || !absl::StartsWith(arg, "-")) {
      positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return positional;
    }
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown option '", arg, "' (flags are spelled --name)"));
    }
    absl::string_view name = body;
    std::optional<absl::string_view> value;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    const Flag* flag = Find(name);
    if (flag == nullptr && !value && absl::StartsWith(name, "no-")) {
      const Flag* negated = Find(name.substr(3));
      if (negated != nullptr && negated->set_false) {
        negated->set_false();
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '--", name, "'"));
    }
    if (flag->set_true) {  // boolean
      if (!value || *value == "true" || *value == "1") {
        flag->set_true();
      } else if (*value == "false" || *value == "0") {
        flag->set_false();
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", name, " takes true or false, not '", *value, "'"));
      }
      continue;
    }
    if (!value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", name, " needs a value (", flag->value_name, ")"));
      }
      value = argv[++i];
    }
    if (absl::Status s = flag->set(*value); !s.ok()) return s;
  }
  return positional;
}

std::vector<std::string> FlagParser::ParseOrExit(int argc, char** argv) {
  absl::StatusOr<std::vector<std::string>> args = Parse(argc, argv);
  if (help_requested_) {
    std::fputs(Help().c_str(), stdout);
    std::exit(0);
  }
  if (!args.ok()) {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n",
                 program_.c_str(), std::string(args.status().message()).c_str(),
                 program_.c_str());
    std::exit(2);
  }
  return *std::move(args);
}

std::string FlagParser::Help() const {
  std::string out = absl::StrCat("Usage: ", program_, " ", usage_args_, "\n\n",
                                 summary_, "\n\nOptions:\n");
  for (const Flag& flag : flags_) {
    std::string left = absl::StrCat("  --", flag.name);
    if (!flag.value_name.empty()) absl::StrAppend(&left, "=", flag.value_name);
    if (left.size() < 28) {
      left.resize(28, ' ');
    } else {
      absl::StrAppend(&left, "\n", std::string(28, ' '));
    }
    absl::StrAppend(&out, left, flag.help);
    if (!flag.default_text.empty() && flag.default_text != "false") {
      absl::StrAppend(&out, " (default: ", flag.default_text, ")");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out,
                  "  --help                    Show this help and exit.\n");
  if (!epilogue_.empty()) absl::StrAppend(&out, "\n", epilogue_);
  return out;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text) {
  absl::Duration d;
  if (absl::ParseDuration(text, &d)) return d;
  double seconds;
  if (absl::SimpleAtod(text, &seconds) && seconds >= 0) {
    return absl::Seconds(seconds);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "not a duration: '", text, "' (write e.g. 250ms, 5s, 1m or 2.5)"));
}

}  // namespace switchboard
