// SPDX-License-Identifier: MIT
#include "signals.h"

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace switchboard::cli {

void WatchTerminationSignals(std::function<void(int signal)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // Detached: it waits until the process exits.
  std::thread([set, on_signal = std::move(on_signal)] {
    while (true) {
      int signal = 0;
      if (sigwait(&set, &signal) == 0) on_signal(signal);
    }
  }).detach();
}

}  // namespace switchboard::cli
