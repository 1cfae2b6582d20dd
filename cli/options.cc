// SPDX-License-Identifier: MIT
//
// Command specs and parsing (options.h). The command is the first argument
// that is neither a flag nor a flag's value; everything else goes through one
// FlagParser holding the global flags plus the flags of that command, so a
// flag another command takes is still an error here.
#include "options.h"

#include <cstddef>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/flags.h"

namespace switchboard::cli {
namespace {

enum CommandFlag : unsigned {
  kFlagType = 1u << 0,
  kFlagRaw = 1u << 1,
  kFlagCount = 1u << 2,
  kFlagInterval = 1u << 3,
};

struct CommandSpec {
  const char* name;
  const char* usage_args;
  const char* brief;  // one line for the tool's --help
  const char* summary;
  const char* epilogue;
  unsigned flags;
  size_t min_args;
  size_t max_args;
};

constexpr char kExitCodes[] =
    "Exit status: 0 success; 1 other failure; 2 usage; 3 invalid input\n"
    "(INVALID_ARGUMENT); 4 not found (NOT_FOUND, UNIMPLEMENTED); 5 timeout\n"
    "(DEADLINE_EXCEEDED); 6 permission denied; 7 broker unavailable. Errors "
    "go to\nstandard error as 'switchboard: CODE: message'.\n";

const CommandSpec kCommands[] = {
    {"status", "[options]", "version, addresses, uptime, counts, rates",
     "Prints the broker's status (switchboard.Broker/GetStatus): version, "
     "addresses, pid,\nuid, uptime, connections, names, totals and "
     "per-second rates, subscriptions.\n--json prints the BrokerStatus "
     "message.",
     "Example:\n  switchboard status\n  switchboard status --json | jq "
     ".connections\n",
     0, 0, 0},
    {"list", "[options]", "owned names: owner, pid, uid, methods",
     "Lists every owned service name with its owner (:ID), the owner's "
     "client name, pid,\nuid and executable, and how many methods its schema "
     "lists. --json prints the\nNameList message.",
     "Example:\n  switchboard list\n", 0, 0, 0},
    {"connections", "[options]", "connections: credentials, traffic, queues",
     "Lists every connection to the broker: id, client name, pid, uid, "
     "transport, frames\nand bytes in and out, bytes queued for it, "
     "subscriptions and names owned. --json\nprints the ConnectionList "
     "message.",
     "Example:\n  switchboard connections\n", 0, 0, 0},
    {"describe", "NAME | --type=TYPE [options]",
     "a name's methods and types, or one type",
     "Describes a service name: its owner, one line per method in .proto "
     "syntax, then the\ndefinitions of the messages and enums they use. With "
     "--type=TYPE, prints the\ndefinition of one message type (a full "
     "protobuf name) that some connection's\nschema or registered types "
     "define. --json prints the Description message.",
     "Examples:\n  switchboard describe video.frames\n  switchboard describe "
     "--type=switchboard.examples.video.ClipLoaded\n",
     kFlagType, 0, 1},
    {"call", "NAME METHOD [JSON|-] [options]", "calls a method with JSON",
     "Calls NAME/METHOD with a request built from JSON (none: {}; '-': read "
     "standard input)\nwith the method's request type from the service's "
     "schema, and prints the reply as\nJSON (indented; one line with --json). "
     "A streaming method's messages are printed\nas they arrive (one line "
     "each with --json) until the stream ends. --timeout is the\ncall's "
     "deadline (default 30s; for a stream, the whole stream's).\n--raw sends "
     "the argument's bytes (or standard input's) unchanged and writes the\n"
     "reply's bytes unchanged to standard output, without any schema (a "
     "unary call).",
     "Examples:\n  switchboard call video.frames LoadClip "
     "'{\"name\":\"intro\",\"frame_count\":48}'\n  echo '{\"realtime\":false}' "
     "| switchboard call video.frames PlayClip - --json\n  printf ping | "
     "switchboard call echo.service Echo - --raw\n",
     kFlagRaw, 2, 3},
    {"publish", "TOPIC [JSON|-] --type=TYPE [options]",
     "publishes one message built from JSON",
     "Publishes one message of TYPE (a full protobuf name some connection "
     "defined), built\nfrom JSON (none: {}; '-': standard input), on TOPIC "
     "and waits for the broker's count\nof the subscriptions that took it "
     "(--json: {\"delivered\":N,\"dropped\":M}). --raw\npublishes the bytes "
     "as they are; --type is then optional and only passed along.",
     "Example:\n  switchboard publish chat.room.lobby "
     "'{\"nick\":\"ci\",\"text\":\"build done\"}' \\\n      "
     "--type=switchboard.examples.chat.ChatMessage\n",
     kFlagType | kFlagRaw, 1, 2},
    {"subscribe", "PATTERN [options]", "prints the messages on matching topics",
     "Subscribes to the topics PATTERN matches ('*' one token, a final '>' "
     "one or more)\nand prints one JSON object per message, flushed at once: "
     "time, topic, sender, type,\nand the message decoded as JSON (or "
     "payload_base64 when its type is unknown).\nDrops the broker reports "
     "appear as {\"time\":...,\"dropped\":N,\"total\":T,\"reason\":...}.\n"
     "Ctrl-C ends it with exit 0. --count=N exits 0 after N messages; "
     "--timeout exits\nafter that long: 0 without --count, 5 if fewer than N "
     "messages came.",
     "Example:\n  switchboard subscribe 'video.events.>' --count=1\n",
     kFlagCount, 1, 1},
    {"monitor", "[PATTERN] [options]",
     "prints all calls, replies and publishes",
     "Prints every call, reply, error, stream message, cancel and publish on "
     "the bus\n(switchboard.Broker/Monitor) whose subject matches PATTERN "
     "(a publish's topic, or\nSERVICE.METHOD; default: everything), one line "
     "per event with the payload decoded\nas JSON when its type is known. "
     "Events the monitor missed are reported as such.\nOnly the broker's own "
     "user and root may monitor (exit 6 otherwise). --json prints\neach "
     "MonitorEvent as one JSON line, with the decoded payload under "
     "\"message\".\nCtrl-C ends it with exit 0; --count and --timeout as for "
     "subscribe.",
     "Example:\n  switchboard monitor 'video.>'\n", kFlagCount, 0, 1},
    {"top", "[options]", "a live view of connections and rates",
     "A live view of the bus, redrawn every --interval: the broker's uptime, "
     "connections,\nnames, frames and bytes per second in and out and drops, "
     "then a table of the\nconnections sorted by traffic with their rates. "
     "Rates are the difference of two\nsamples over the time between them. "
     "'q' or Ctrl-C quits with exit 0. When standard\ninput is not a "
     "terminal, a 'q' byte read from it quits too, and at its end the\nview "
     "keeps refreshing until --timeout or a signal. --json prints one "
     "snapshot object\nper interval, on its own line, from the second sample "
     "on (so every rate is real).",
     "Example:\n  switchboard top --interval=2s\n", kFlagInterval, 0, 0},
    {"wait", "NAME [options]", "waits until NAME has an owner",
     "Waits until the service NAME has an owner (returns at once if it has "
     "one) and prints\nthe owner (--json: {\"name\":NAME,\"owner\":ID}). It "
     "watches the broker's topic\nswitchboard.name.NAME, no polling. Without "
     "--timeout it waits as long as it takes;\nwith it, it gives up after "
     "that long with exit 5.",
     "Example:\n  switchboard wait video.frames --timeout=10s && "
     "switchboard list\n",
     0, 1, 1},
};

// The summary re-flowed to lines of at most kWidth columns: its line breaks
// are soft.
std::string Wrap(absl::string_view text) {
  constexpr size_t kWidth = 79;
  std::string out;
  size_t line = 0;
  for (absl::string_view word :
       absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
    if (line > 0 && line + 1 + word.size() > kWidth) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    absl::StrAppend(&out, word);
    line += word.size();
  }
  return out;
}

const CommandSpec* FindSpec(absl::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

// Flags that take a value, so that `--address X status` finds "status".
bool TakesValue(absl::string_view flag) {
  return flag == "address" || flag == "timeout" || flag == "type" ||
         flag == "count" || flag == "interval";
}

// Index in argv of the command word, or -1.
int FindCommandIndex(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") return i + 1 < argc ? i + 1 : -1;
    if (arg == "-" || !absl::StartsWith(arg, "-")) return i;
    absl::string_view name = arg;
    absl::ConsumePrefix(&name, "--");
    if (!absl::StrContains(name, '=') && TakesValue(name)) ++i;
  }
  return -1;
}

bool HasHelpFlag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

absl::Status UsageError(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

// Continuation lines of a flag's help line up under its first line.
constexpr absl::string_view kIndent = "                            ";  // 28

void AddGlobalFlags(FlagParser& parser, Options& options,
                    std::string& timeout_text) {
  parser.AddString(
      "address", &options.address, "ADDRESS",
      absl::StrCat("unix:PATH or tcp:127.0.0.1:PORT (default:\n", kIndent,
                   "$SWITCHBOARD_ADDRESS, else the per-user "
                   "socket)"));
  parser.AddBool("json", &options.json, "Machine-readable JSON output");
  parser.AddString(
      "timeout", &timeout_text, "DURATION",
      absl::StrCat("How long to wait (500ms, 5s, 2m); default 30s,\n", kIndent,
                   "no limit for subscribe, monitor, top, wait"));
}

void AddCommandFlags(FlagParser& parser, const CommandSpec& spec,
                     Options& options, std::string& interval_text) {
  if (spec.flags & kFlagType) {
    parser.AddString(
        "type", &options.type, "TYPE",
        absl::StrCat("A full protobuf message name, e.g.\n", kIndent,
                     "switchboard.examples.chat.ChatMessage"));
  }
  if (spec.flags & kFlagRaw) {
    parser.AddBool("raw", &options.raw,
                   "Send bytes as they are, without schemas or JSON");
  }
  if (spec.flags & kFlagCount) {
    parser.AddInt("count", &options.count, "N",
                  "Stop after N, with exit 0 (0: no limit)");
  }
  if (spec.flags & kFlagInterval) {
    parser.AddString("interval", &interval_text, "DURATION",
                     "Time between samples and redraws (default 1s)");
  }
}

absl::Status ParseDurations(const std::string& timeout_text,
                            const std::string& interval_text,
                            Options& options) {
  if (!timeout_text.empty()) {
    absl::StatusOr<absl::Duration> timeout = ParseDurationFlag(timeout_text);
    if (!timeout.ok() || *timeout <= absl::ZeroDuration()) {
      return UsageError(absl::StrCat("--timeout: not a positive duration: '",
                                     timeout_text, "' (e.g. 500ms, 5s, 2m)"));
    }
    options.timeout = *timeout;
  }
  if (!interval_text.empty()) {
    absl::StatusOr<absl::Duration> interval = ParseDurationFlag(interval_text);
    if (!interval.ok() || *interval < absl::Milliseconds(10)) {
      return UsageError(
          absl::StrCat("--interval: not a duration of 10ms or "
                       "more: '",
                       interval_text, "'"));
    }
    options.interval = *interval;
  }
  return absl::OkStatus();
}

absl::Status CheckArguments(const CommandSpec& spec, const Options& options) {
  const size_t n = options.args.size();
  if (n < spec.min_args || n > spec.max_args) {
    return UsageError(absl::StrCat(
        n < spec.min_args ? "missing arguments" : "too many arguments",
        ": usage: switchboard ", spec.name, " ", spec.usage_args));
  }
  if (options.count < 0) return UsageError("--count must be 0 or more");
  if (options.command == "describe" &&
      options.args.empty() == options.type.empty()) {
    return UsageError(
        "describe takes a NAME or --type=TYPE, exactly one of the two");
  }
  if (options.command == "publish" && !options.raw && options.type.empty()) {
    return UsageError("publish needs --type=TYPE (or --raw)");
  }
  return absl::OkStatus();
}

}  // namespace

std::string ToolHelp() {
  std::string out =
      "Usage: switchboard [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]\n\n"
      "Sees and uses the Switchboard bus from a shell: who is connected and "
      "what they\nserve, calls with JSON, publish and subscribe, monitoring, "
      "waiting for a\nservice.\n\nCommands:\n";
  for (const CommandSpec& spec : kCommands) {
    std::string left = absl::StrCat("  ", spec.name, " ", spec.usage_args);
    absl::StrReplaceAll({{" [options]", ""}}, &left);
    if (left.size() < 38) {
      left.resize(38, ' ');
    } else {
      absl::StrAppend(&left, "\n", std::string(38, ' '));
    }
    absl::StrAppend(&out, left, spec.brief, "\n");
  }
  absl::StrAppend(
      &out,
      "\nGlobal flags (before or after the command):\n"
      "  --address=ADDRESS   unix:PATH or tcp:127.0.0.1:PORT (default:\n"
      "                      $SWITCHBOARD_ADDRESS, else the per-user "
      "socket)\n"
      "  --json              machine-readable JSON output\n"
      "  --timeout=DURATION  how long to wait for the broker and replies "
      "(default 30s;\n                      subscribe, monitor, top, wait: "
      "no limit unless given)\n"
      "  --help              this help; 'switchboard COMMAND --help' for a "
      "command's\n\n"
      "Examples:\n  switchboard list\n  switchboard call video.frames "
      "LoadClip '{\"name\":\"intro\"}'\n  switchboard monitor\n\n",
      kExitCodes, "\nReference: docs/CLI.md\n");
  return out;
}

std::string FindCommandName(int argc, char** argv) {
  const int index = FindCommandIndex(argc, argv);
  if (index < 0) return "";
  return FindSpec(argv[index]) != nullptr ? argv[index] : "";
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc, char** argv) {
  const int index = FindCommandIndex(argc, argv);
  absl::string_view word = index < 0 ? "" : argv[index];
  if (word == "help") {  // `switchboard help [COMMAND]`
    if (index + 1 >= argc) return CommandLine{std::nullopt, ToolHelp()};
    const CommandSpec* spec = FindSpec(argv[index + 1]);
    if (spec == nullptr) {
      return UsageError(
          absl::StrCat("no help for '", argv[index + 1], "': not a command"));
    }
    word = spec->name;
  }
  const CommandSpec* spec = FindSpec(word);
  if (spec == nullptr) {
    if (HasHelpFlag(argc, argv) && index < 0) {
      return CommandLine{std::nullopt, ToolHelp()};
    }
    if (index < 0) {
      return UsageError(
          "no command given (status, list, connections, describe, call, "
          "publish, subscribe, monitor, top, wait)");
    }
    return UsageError(absl::StrCat("unknown command '", word, "'"));
  }

  Options options;
  options.command = spec->name;
  std::string timeout_text;
  std::string interval_text;
  FlagParser parser(absl::StrCat("switchboard ", spec->name),
                    Wrap(spec->summary));
  parser.set_usage_args(spec->usage_args);
  parser.set_epilogue(absl::StrCat(spec->epilogue, "\n", kExitCodes));
  AddGlobalFlags(parser, options, timeout_text);
  AddCommandFlags(parser, *spec, options, interval_text);

  if (argv[index] == absl::string_view("help")) {
    return CommandLine{std::nullopt, parser.Help()};
  }
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (i != index) rest.push_back(argv[i]);
  }
  absl::StatusOr<std::vector<std::string>> args =
      parser.Parse(static_cast<int>(rest.size()), rest.data());
  if (parser.help_requested()) return CommandLine{std::nullopt, parser.Help()};
  if (!args.ok()) return UsageError(args.status().message());
  options.args = *std::move(args);
  if (absl::Status s = ParseDurations(timeout_text, interval_text, options);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckArguments(*spec, options); !s.ok()) return s;
  return CommandLine{std::move(options), ""};
}

}  // namespace switchboard::cli
