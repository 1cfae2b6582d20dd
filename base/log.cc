// SPDX-License-Identifier: MIT
#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"

namespace switchboard::log {
namespace {

std::atomic<Severity> min_severity{Severity::kInfo};

// syslog priorities, as journald reads them from a "<N>" prefix.
int JournalPriority(Severity severity) {
  switch (severity) {
    case Severity::kDebug:
      return 7;
    case Severity::kInfo:
      return 6;
    case Severity::kWarning:
      return 4;
    case Severity::kError:
      return 3;
    case Severity::kFatal:
      return 2;
  }
  return 6;
}

char Letter(Severity severity) { return "DIWEF"[static_cast<int>(severity)]; }

bool ToJournal() {
  static const bool to_journal = std::getenv("JOURNAL_STREAM") != nullptr;
  return to_journal;
}

}  // namespace

void SetMinSeverity(Severity severity) { min_severity.store(severity); }
Severity MinSeverity() { return min_severity.load(std::memory_order_relaxed); }

Message::Message(Severity severity, const char* file, int line)
    : severity_(severity) {
  if (severity_ >= Severity::kWarning || severity_ == Severity::kDebug) {
    const char* base = std::strrchr(file, '/');
    stream_ << (base ? base + 1 : file) << ':' << line << ": ";
  }
}

Message::~Message() {
  std::string line;
  if (ToJournal()) {
    line = absl::StrCat("<", JournalPriority(severity_), ">");
  } else {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    tm local;
    localtime_r(&now.tv_sec, &local);
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%c %02d:%02d:%02d.%06ld ",
                  Letter(severity_), local.tm_hour, local.tm_min, local.tm_sec,
                  now.tv_nsec / 1000);
    line = stamp;
  }
  line += stream_.str();
  line += '\n';
  // One write per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  if (severity_ == Severity::kFatal) std::abort();
}

}  // namespace switchboard::log
