// SPDX-License-Identifier: MIT
//
// switchboardd, the Switchboard broker: parses flags, takes the sockets
// systemd passed, blocks SIGTERM/SIGINT/SIGHUP into the event loop, creates
// the server, reads the activation files (and again on SIGHUP), tells
// systemd when it serves, reloads and stops, and runs the loop. Everything
// the broker decides lives in daemon/core, everything it does with sockets,
// processes and systemd in daemon/server.
//
// Exit status: 0 after a clean shutdown on SIGTERM or SIGINT; 1 when it
// cannot start (bad address, a live broker at the socket path, bind failure,
// bad token file, a socket from systemd it cannot serve); 2 for a usage
// error.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/flags.h"
#include "base/log.h"
#include "daemon/core/frames.h"
#include "daemon/server/activation_files.h"
#include "daemon/server/server.h"
#include "daemon/server/service_notifier.h"
#include "daemon/server/systemd_sockets.h"
#include "google/protobuf/stubs/logging.h"
#include "io/address.h"
#include "io/event_loop.h"
#include "io/fd_passing.h"
#include "io/signal_watch.h"

namespace switchboard {
namespace {

constexpr int kExitCannotStart = 1;
constexpr int kExitUsage = 2;
constexpr char kProgram[] = "switchboardd";
// How long a shutdown may spend writing the last frames to clients.
constexpr absl::Duration kShutdownGrace = absl::Seconds(1);
// How often systemd's status line may change (it counts connections).
constexpr absl::Duration kStatusInterval = absl::Seconds(1);

struct Flags {
  // Empty: the sockets systemd passed, else io::DefaultAddress().
  std::vector<std::string> addresses;
  std::string token_file;
  int64_t max_payload_bytes = int64_t{64} << 20;
  int64_t max_header_bytes = int64_t{64} << 10;
  int64_t max_pending_calls = 4096;
  int64_t max_queued_bytes = int64_t{256} << 20;
  int64_t max_fds_per_frame = 16;
  // 0: sized from the descriptor limit (DescriptorBudget).
  int64_t max_fds_in_flight = 0;
  int64_t max_fds_in_flight_total = 0;
  int64_t max_connections = 0;
  int64_t max_connections_per_uid = 0;
  int64_t max_unauthenticated = 0;
  int64_t subscription_max_messages = 1024;
  int64_t subscription_max_bytes = int64_t{8} << 20;
  int64_t max_subscriptions = 1024;
  // Per-uid quotas (core::UidLimits).
  int64_t max_names_per_uid = static_cast<int64_t>(core::UidLimits().max_names);
  int64_t max_subscriptions_per_uid =
      static_cast<int64_t>(core::UidLimits().max_subscriptions);
  int64_t max_pending_calls_per_uid =
      static_cast<int64_t>(core::UidLimits().max_pending_calls);
  int64_t max_schema_bytes_per_uid =
      static_cast<int64_t>(core::UidLimits().max_schema_bytes);
  // 0: from the machine's memory and the descriptor budget.
  int64_t max_memory = 0;
  int64_t max_queued_bytes_per_uid = 0;
  int64_t max_fds_in_flight_per_uid = 0;
  bool require_write_seal = false;
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration handshake_timeout = absl::Seconds(5);
  absl::Duration frame_progress_timeout = absl::Seconds(30);
  bool print_address = false;
  std::string log_level = "info";
  // Service activation; no --activation-dir: the XDG folders.
  std::vector<std::string> activation_dirs;
  int64_t max_activation_queue = 256;
  absl::Duration activation_timeout = absl::Seconds(25);
};

[[noreturn]] void Exit(int code, absl::string_view message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, std::string(message).c_str());
  std::exit(code);
}

[[noreturn]] void UsageError(absl::string_view message) {
  Exit(kExitUsage,
       absl::StrCat(message, "\nRun '", kProgram, " --help' for usage."));
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  FlagParser parser(kProgram,
                    "Runs the Switchboard broker: programs on this machine "
                    "connect to it to offer\nnamed services and call each "
                    "other's methods.");
  parser.AddStrings("address", &flags.addresses, "ADDRESS",
                    "unix:PATH or tcp:127.0.0.1:PORT (0: a free port); "
                    "repeatable. Default: the sockets systemd passes, else "
                    "$SWITCHBOARD_ADDRESS, else "
                    "unix:$XDG_RUNTIME_DIR/switchboard/bus.");
  parser.AddString("token-file", &flags.token_file, "PATH",
                   "TCP token file, made 0600 if missing (default: 'token' "
                   "beside the first unix socket).");
  parser.AddInt("max-payload-bytes", &flags.max_payload_bytes, "N",
                "Largest payload of one frame.");
  parser.AddInt("max-header-bytes", &flags.max_header_bytes, "N",
                "Largest protobuf header of one frame.");
  parser.AddInt("max-pending-calls", &flags.max_pending_calls, "N",
                "Unanswered calls one connection may be serving.");
  parser.AddInt("max-queued-bytes", &flags.max_queued_bytes, "N",
                "Output held for one connection before calls to it and "
                "replies for it are refused.");
  parser.AddInt("max-fds-per-frame", &flags.max_fds_per_frame, "N",
                "File descriptors (buffers) one frame may carry over a unix "
                "socket, at most 253; 0 refuses all (TCP: always 0).");
  parser.AddInt("max-fds-in-flight", &flags.max_fds_in_flight, "N",
                "File descriptors held for one connection before calls to it "
                "and replies for it that carry more are refused. Default "
                "(0): a sixteenth of the descriptor limit, at most 1024.");
  parser.AddInt("max-fds-in-flight-total", &flags.max_fds_in_flight_total, "N",
                "File descriptors held for all connections together before "
                "frames that carry more are refused. Default (0): a quarter "
                "of the descriptor limit, less the broker's reserve.");
  parser.AddInt("max-connections", &flags.max_connections, "N",
                "Connections held at once; more are closed as they are "
                "accepted. Default (0): three quarters of the descriptor "
                "limit, less the broker's reserve.");
  parser.AddInt("max-connections-per-uid", &flags.max_connections_per_uid, "N",
                "Connections one user may hold past HELLO; more get ERROR "
                "RESOURCE_EXHAUSTED. Default (0): seven eighths of "
                "--max-connections.");
  parser.AddInt("max-unauthenticated", &flags.max_unauthenticated, "N",
                "Connections that have not said HELLO yet, per user (unix) "
                "or per source address (tcp); a newer one closes the oldest. "
                "Default (0): a sixteenth of --max-connections, 4 to 64.");
  parser.AddInt("subscription-max-messages", &flags.subscription_max_messages,
                "N",
                absl::StrCat("Messages held for one subscription that asked "
                             "for no limit (SUBSCRIBE max_messages 0), at "
                             "most ",
                             core::RouterConfig().subscription_max_messages,
                             "; beyond it the subscription's policy drops "
                             "or disconnects."));
  parser.AddInt("subscription-max-bytes", &flags.subscription_max_bytes, "N",
                "Bytes held for one subscription that asked for no limit "
                "(SUBSCRIBE max_bytes 0); lowered to --max-queued-bytes.");
  parser.AddInt("max-subscriptions", &flags.max_subscriptions, "N",
                "Subscriptions one connection may hold at once.");
  parser.AddInt("max-names-per-uid", &flags.max_names_per_uid, "N",
                "Names one user's connections may own or wait in line for, "
                "together; further REGISTER_NAME claims get "
                "RESOURCE_EXHAUSTED.");
  parser.AddInt("max-subscriptions-per-uid", &flags.max_subscriptions_per_uid,
                "N",
                "Subscriptions one user's connections may hold, together.");
  parser.AddInt("max-pending-calls-per-uid", &flags.max_pending_calls_per_uid,
                "N",
                "Unanswered calls one user's connections may have made, "
                "together (charged to the caller).");
  parser.AddInt("max-schema-bytes-per-uid", &flags.max_schema_bytes_per_uid,
                "N",
                "Bytes of schema (REGISTER_NAME, RegisterTypes) the broker "
                "keeps for one user's connections, together.");
  parser.AddInt("max-queued-bytes-per-uid", &flags.max_queued_bytes_per_uid,
                "N",
                "Output held for one user's connections together (messages "
                "for its subscriptions, calls to its services, replies to "
                "its calls) before more is refused or dropped by the "
                "subscriptions' policies. Default (0): 1 GiB, at most "
                "--max-memory.");
  parser.AddInt("max-fds-in-flight-per-uid", &flags.max_fds_in_flight_per_uid,
                "N",
                "File descriptors held for one user's connections together. "
                "Default (0): three quarters of --max-fds-in-flight-total.");
  parser.AddInt("max-memory", &flags.max_memory, "N",
                "Output the broker holds for all connections together, and "
                "the buffers of large frames being read. Past "
                "three quarters of it the users holding the most are refused "
                "first; at it, everyone. Default (0): a quarter of the "
                "machine's memory, at least 256 MiB.");
  parser.AddBool("require-write-seal", &flags.require_write_seal,
                 "Refuse buffers not sealed against writes (F_SEAL_WRITE); "
                 "size seals are always required.");
  parser.AddDuration("call-timeout", &flags.call_timeout,
                     "Deadline of a call that names none.");
  parser.AddDuration("handshake-timeout", &flags.handshake_timeout,
                     "Time a new connection has to send HELLO.");
  parser.AddDuration("frame-progress-timeout", &flags.frame_progress_timeout,
                     "A connection that has sent part of a frame and then "
                     "no byte of it for this long is closed.");
  parser.AddBool("print-address", &flags.print_address,
                 "When ready, print each listening address (tcp: with "
                 "its real port) on stdout.");
  parser.AddString("log-level", &flags.log_level, "LEVEL",
                   "debug, info, warning or error.");
  parser.AddStrings("activation-dir", &flags.activation_dirs, "DIR",
                    "Read activation files (NAME.activation) from DIR "
                    "instead of $XDG_DATA_HOME/switchboard/services and "
                    "each $XDG_DATA_DIRS/switchboard/services; repeatable, "
                    "the first folder with a name wins.");
  parser.AddInt("max-activation-queue", &flags.max_activation_queue, "N",
                "Calls held for one name while its program starts; beyond "
                "it, RESOURCE_EXHAUSTED.");
  parser.AddDuration("activation-timeout", &flags.activation_timeout,
                     "Time a started program has to claim its name before "
                     "the calls held for it end UNAVAILABLE.");
  parser.set_epilogue(
      "Logs go to stderr. SWITCHBOARD_ADDRESS sets the default address.\n"
      "Started by systemd (switchboard.socket and switchboard.service, user\n"
      "units), it serves the sockets systemd passes (LISTEN_FDS; unix, or tcp\n"
      "on loopback), plus any --address given, and reports READY, STATUS,\n"
      "STOPPING and watchdog pings on NOTIFY_SOCKET (Type=notify).\n"
      "SIGHUP rereads the activation files. Programs the broker started\n"
      "keep running when it stops.\n"
      "Exit status: 0 after SIGTERM or SIGINT, 1 if the broker cannot start,\n"
      "2 for a usage error.\n");
  std::vector<std::string> positional = parser.ParseOrExit(argc, argv);
  if (!positional.empty()) {
    UsageError(absl::StrCat("unexpected argument '", positional[0], "'"));
  }
  return flags;
}

// A flag value that must lie in [1, max].
// The machine's memory, for the default --max-memory; 4 GiB if sysconf
// does not say.
size_t PhysicalMemory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return size_t{4} << 30;
  return static_cast<size_t>(pages) * static_cast<size_t>(page_size);
}

template <typename T>
T Positive(absl::string_view name, int64_t value, uint64_t max) {
  if (value < 1 || static_cast<uint64_t>(value) > max) {
    UsageError(absl::StrCat("--", name, " must be between 1 and ", max,
                            ", not ", value));
  }
  return static_cast<T>(value);
}

log::Severity ParseLogLevel(absl::string_view level) {
  if (level == "debug") return log::Severity::kDebug;
  if (level == "info") return log::Severity::kInfo;
  if (level == "warning") return log::Severity::kWarning;
  if (level == "error") return log::Severity::kError;
  UsageError(
      absl::StrCat("--log-level must be debug, info, warning or error, "
                   "not '",
                   level, "'"));
}

// `inherited`: the sockets systemd passed, served before any --address.
server::ServerConfig BuildConfig(const Flags& flags,
                                 const std::vector<io::Listener>& inherited) {
  server::ServerConfig config;
  const uint64_t u32 = std::numeric_limits<uint32_t>::max();
  config.limits.max_payload_bytes =
      Positive<uint32_t>("max-payload-bytes", flags.max_payload_bytes, u32);
  config.limits.max_header_bytes =
      Positive<uint32_t>("max-header-bytes", flags.max_header_bytes, u32);
  config.router.max_pending_calls =
      Positive<size_t>("max-pending-calls", flags.max_pending_calls, u32);
  config.router.max_queued_bytes =
      Positive<size_t>("max-queued-bytes", flags.max_queued_bytes,
                       std::numeric_limits<int64_t>::max());
  if (flags.max_fds_per_frame < 0 ||
      flags.max_fds_per_frame > static_cast<int64_t>(io::kMaxFdsPerMessage)) {
    UsageError(absl::StrCat("--max-fds-per-frame must be between 0 and ",
                            io::kMaxFdsPerMessage, ", not ",
                            flags.max_fds_per_frame));
  }
  config.limits.max_fds_per_frame =
      static_cast<uint8_t>(flags.max_fds_per_frame);
  // The descriptor table, raised to the hard limit, shared out; a flag
  // replaces one share.
  std::string note;
  server::DescriptorBudget& budget = config.descriptors;
  budget =
      server::DescriptorBudget::ForTable(server::RaiseDescriptorLimit(&note));
  if (!note.empty()) SB_LOG(WARNING) << note;
  auto share = [&](const char* name, int64_t flag, size_t& value) {
    if (flag < 0) {
      UsageError(absl::StrCat("--", name, " must be 0 (automatic) or more"));
    }
    if (flag > 0) value = static_cast<size_t>(flag);
  };
  share("max-connections", flags.max_connections, budget.max_connections);
  share("max-connections-per-uid", flags.max_connections_per_uid,
        budget.max_connections_per_uid);
  share("max-unauthenticated", flags.max_unauthenticated,
        budget.max_unauthenticated);
  share("max-fds-in-flight-total", flags.max_fds_in_flight_total,
        budget.max_fds_in_flight);
  share("max-fds-in-flight", flags.max_fds_in_flight,
        budget.max_fds_in_flight_per_receiver);
  config.router.max_fds_in_flight = budget.max_fds_in_flight_per_receiver;
  config.output = server::OutputLimits::ForMachine(PhysicalMemory());
  config.output.max_fds_per_uid = std::max(
      budget.max_fds_in_flight * 3 / 4, budget.max_fds_in_flight_per_receiver);
  share("max-memory", flags.max_memory, config.output.max_memory);
  config.output.max_memory_per_uid =
      std::min(config.output.max_memory_per_uid, config.output.max_memory);
  share("max-queued-bytes-per-uid", flags.max_queued_bytes_per_uid,
        config.output.max_memory_per_uid);
  share("max-fds-in-flight-per-uid", flags.max_fds_in_flight_per_uid,
        config.output.max_fds_per_uid);
  SB_LOG(INFO) << "descriptor limit " << budget.table << ": up to "
               << budget.max_connections << " connections ("
               << budget.max_connections_per_uid << " per user, "
               << budget.max_unauthenticated << " before HELLO), "
               << budget.max_fds_in_flight << " descriptors in flight ("
               << budget.max_fds_in_flight_per_receiver << " per receiver, "
               << config.output.max_fds_per_uid << " per user)";
  SB_LOG(INFO) << "output queues: up to " << config.output.max_memory
               << " bytes in all, " << config.output.max_memory_per_uid
               << " per user, " << config.router.max_queued_bytes
               << " per connection";
  config.router.subscription_default_messages = Positive<uint32_t>(
      "subscription-max-messages", flags.subscription_max_messages,
      config.router.subscription_max_messages);
  // Like a SUBSCRIBE's own max_bytes, the default is lowered to the
  // connection's whole queue (PROTOCOL.md 5.5), so a small
  // --max-queued-bytes needs no matching --subscription-max-bytes.
  config.router.subscription_default_bytes = std::min<uint64_t>(
      Positive<uint64_t>("subscription-max-bytes", flags.subscription_max_bytes,
                         std::numeric_limits<int64_t>::max()),
      config.router.max_queued_bytes);
  config.router.max_subscriptions =
      Positive<size_t>("max-subscriptions", flags.max_subscriptions, u32);
  const uint64_t i64 = std::numeric_limits<int64_t>::max();
  config.router.uid_limits.max_names =
      Positive<size_t>("max-names-per-uid", flags.max_names_per_uid, i64);
  config.router.uid_limits.max_subscriptions = Positive<size_t>(
      "max-subscriptions-per-uid", flags.max_subscriptions_per_uid, i64);
  config.router.uid_limits.max_pending_calls = Positive<size_t>(
      "max-pending-calls-per-uid", flags.max_pending_calls_per_uid, i64);
  config.router.uid_limits.max_schema_bytes = Positive<size_t>(
      "max-schema-bytes-per-uid", flags.max_schema_bytes_per_uid, i64);
  config.require_write_seal = flags.require_write_seal;
  if (flags.call_timeout <= absl::ZeroDuration()) {
    UsageError("--call-timeout must be positive");
  }
  if (flags.handshake_timeout <= absl::ZeroDuration()) {
    UsageError("--handshake-timeout must be positive");
  }
  if (flags.frame_progress_timeout <= absl::ZeroDuration()) {
    UsageError("--frame-progress-timeout must be positive");
  }
  config.router.default_call_timeout = flags.call_timeout;
  config.router.activation.max_held_calls =
      Positive<size_t>("max-activation-queue", flags.max_activation_queue, u32);
  if (flags.activation_timeout <= absl::ZeroDuration()) {
    UsageError("--activation-timeout must be positive");
  }
  config.router.activation.timeout = flags.activation_timeout;
  config.handshake_timeout = flags.handshake_timeout;
  config.frame_progress_timeout = flags.frame_progress_timeout;
  // Addresses are checked after the usage errors: a bad one means the
  // broker cannot start (exit 1), as a taken one does.
  std::string first_unix_path;
  for (const io::Listener& listener : inherited) {
    if (listener.address().transport == io::Transport::kUnix &&
        first_unix_path.empty()) {
      first_unix_path = listener.address().path;
    }
  }
  std::vector<std::string> texts = flags.addresses;
  if (texts.empty() && inherited.empty()) texts.push_back(io::DefaultAddress());
  for (const std::string& text : texts) {
    absl::StatusOr<io::Address> address = io::Address::Parse(text);
    if (!address.ok()) Exit(kExitCannotStart, address.status().message());
    if (address->transport == io::Transport::kUnix && first_unix_path.empty()) {
      first_unix_path = address->path;
    }
    config.addresses.push_back(*std::move(address));
  }
  config.router.broker_version = std::string(core::kBrokerVersion);
  config.token_file = flags.token_file.empty()
                          ? io::TokenPathBeside(first_unix_path)
                          : flags.token_file;
  return config;
}

// protobuf logs a line of its own when a peer's header holds bad UTF-8. The
// broker already answers and logs that peer's error, so protobuf's lines go
// through our log, at debug level, in our format.
void LogFromProtobuf(google::protobuf::LogLevel level, const char* file,
                     int line, const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    SB_LOG(ERROR) << "protobuf " << file << ":" << line << ": " << message;
    return;
  }
  SB_LOG(DEBUG) << "protobuf " << file << ":" << line << ": " << message;
}

// Reads the activation files of `dirs` into `broker`, logging each bad
// file, and (`reload`) what changed. Calls held for a name keep their
// activation whatever the files now say.
void LoadActivations(server::Server& broker,
                     const std::vector<std::string>& dirs, bool reload) {
  server::LoadedActivations loaded = server::LoadActivationFiles(dirs);
  for (const std::string& error : loaded.errors) {
    SB_LOG(WARNING) << "skipping activation file " << error;
  }
  for (const std::string& path : loaded.overridden) {
    SB_LOG(INFO) << "activation file " << path
                 << " is overridden by an earlier folder's";
  }
  if (reload) {
    const std::vector<std::string> changes = server::DescribeActivationChanges(
        broker.router().activations().services(), loaded.services);
    for (const std::string& change : changes) {
      SB_LOG(INFO) << "activation: " << change;
    }
    SB_LOG(INFO) << "reread the activation files: " << loaded.services.size()
                 << " activatable name(s), " << changes.size() << " change(s)";
  } else {
    SB_LOG(INFO) << loaded.services.size() << " activatable name(s)";
  }
  broker.SetActivatableServices(std::move(loaded.services));
}

int Run(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  log::SetMinSeverity(ParseLogLevel(flags.log_level));
  google::protobuf::SetLogHandler(&LogFromProtobuf);
  // Taken before anything else can fail, so a usage error still closes
  // them, and cleared from the environment of every program started later.
  absl::StatusOr<std::vector<io::Listener>> inherited =
      server::TakeSystemdSockets();
  if (!inherited.ok()) Exit(kExitCannotStart, inherited.status().message());
  const server::ServerConfig config = BuildConfig(flags, *inherited);

  // A client that disappears must cost an EPIPE, never the process.
  ::signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::unique_ptr<io::EventLoop>> loop = io::EventLoop::Create();
  if (!loop.ok()) Exit(kExitCannotStart, loop.status().ToString());

  absl::StatusOr<std::unique_ptr<server::ServiceNotifier>> notifier =
      server::ServiceNotifier::Create(**loop);
  if (!notifier.ok()) Exit(kExitCannotStart, notifier.status().message());

  // Signals are blocked before the server exists, so one that arrives while
  // it starts waits for the loop instead of killing the process with its
  // socket file left behind. The first shuts down gracefully; a second one
  // stops at once.
  std::unique_ptr<server::Server> broker;
  int signals_seen = 0;
  absl::StatusOr<std::unique_ptr<io::SignalWatch>> signals =
      io::SignalWatch::Create(**loop, {SIGTERM, SIGINT}, [&](int signal) {
        if (++signals_seen > 1) {
          (*loop)->Stop();
          return;
        }
        const char* name = signal == SIGTERM ? "SIGTERM" : "SIGINT";
        broker->Shutdown(name, kShutdownGrace, [&] { (*loop)->Stop(); });
        (*notifier)->Stopping(
            absl::StrCat(broker->StatusLine(), " (", name, ")"));
      });
  if (!signals.ok()) Exit(kExitCannotStart, signals.status().ToString());

  // SIGHUP rereads the activation files; blocked before the server exists,
  // like the others, so an early one waits instead of killing the broker.
  // systemd hears RELOADING=1 before and READY=1 after it.
  const std::vector<std::string> activation_dirs =
      flags.activation_dirs.empty() ? server::DefaultActivationDirs()
                                    : flags.activation_dirs;
  absl::StatusOr<std::unique_ptr<io::SignalWatch>> hangups =
      io::SignalWatch::Create(**loop, {SIGHUP}, [&](int) {
        (*notifier)->Reloading("Rereading the activation files (SIGHUP)");
        LoadActivations(*broker, activation_dirs, /*reload=*/true);
        (*notifier)->Ready(broker->StatusLine());
      });
  if (!hangups.ok()) Exit(kExitCannotStart, hangups.status().ToString());

  absl::StatusOr<std::unique_ptr<server::Server>> created =
      server::Server::Create(**loop, config, *std::move(inherited));
  if (!created.ok()) Exit(kExitCannotStart, created.status().message());
  broker = *std::move(created);
  LoadActivations(*broker, activation_dirs, /*reload=*/false);

  if (flags.print_address) {
    for (const io::Address& address : broker->listening_addresses()) {
      std::printf("%s\n", address.ToString().c_str());
    }
    std::fflush(stdout);
  }
  (*notifier)->Ready(broker->StatusLine());
  (*notifier)->FollowStatus([&] { return broker->StatusLine(); },
                            kStatusInterval);

  absl::Status ran = (*loop)->Run();
  broker.reset();  // closes every connection
  if (!ran.ok()) Exit(kExitCannotStart, ran.ToString());
  SB_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Run(argc, argv); }
