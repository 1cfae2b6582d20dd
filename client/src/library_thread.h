// SPDX-License-Identifier: MIT
//
// Starting the library's own threads (the dispatch thread, stream handler
// threads) with every signal blocked, so that a signal sent to the process
// is delivered to one of the application's threads, never to the library's,
// whatever mask the thread that created the Client had. Each is named
// (what `top -H`, `ps -L` and gdb show), so an application's own threads
// are told from the library's. Failure to start a thread is an error, never
// an abort of the host.
#ifndef SWITCHBOARD_CLIENT_SRC_LIBRARY_THREAD_H_
#define SWITCHBOARD_CLIENT_SRC_LIBRARY_THREAD_H_

#include <pthread.h>
#include <signal.h>

#include <system_error>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace switchboard::client {

// The library's threads' names (at most 15 characters each).
inline constexpr char kDispatchThreadName[] = "sb-dispatch";
inline constexpr char kStreamThreadName[] = "sb-stream";

// Starts `body` on a new thread named `name` with all signals blocked and
// stores it in `thread`. Errors: kResourceExhausted (EAGAIN: no threads
// left), naming `what`.
template <typename Body>
absl::Status StartLibraryThread(absl::string_view what, const char* name,
                                std::thread& thread, Body&& body) {
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  // A new thread inherits its creator's mask; the creator's own mask is
  // restored at once.
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  absl::Status status;
  try {
    thread = std::thread(std::forward<Body>(body));
    pthread_setname_np(thread.native_handle(), name);
  } catch (const std::system_error& error) {
    status = absl::ResourceExhaustedError(
        absl::StrCat("cannot start ", what, ": ", error.what()));
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return status;
}

}  // namespace switchboard::client

#endif  // SWITCHBOARD_CLIENT_SRC_LIBRARY_THREAD_H_
