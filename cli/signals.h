// SPDX-License-Identifier: MIT
//
// Ctrl-C for the commands that run until stopped (subscribe, monitor, top,
// wait): SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by
// one watcher thread, which tells the command, so the command ends cleanly
// (cancels its stream, restores the terminal) and exits 0.
#ifndef SWITCHBOARD_CLI_SIGNALS_H_
#define SWITCHBOARD_CLI_SIGNALS_H_

#include <functional>

namespace switchboard::cli {

// Blocks the signals and starts the watcher, which calls `on_signal` (on its
// own thread) for each one that arrives. Call it before starting any other
// thread (before connecting), so they inherit the blocked mask; at most once
// per process. `on_signal` must be thread-safe and outlive the process.
void WatchTerminationSignals(std::function<void(int signal)> on_signal);

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_SIGNALS_H_
