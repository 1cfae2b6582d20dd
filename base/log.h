// SPDX-License-Identifier: MIT
//
// Minimal logging to stderr. When stderr is connected to the systemd journal
// (JOURNAL_STREAM is set) each line starts with a "<N>" priority prefix, which
// journald turns into the entry's priority; otherwise lines read
// "I 12:00:00.123456 message". SB_CHECK crashes loudly on a broken invariant.
//
//   SB_LOG(INFO) << "session :" << id << " closed: " << reason;
//   SB_CHECK(queue.empty()) << "session destroyed with queued frames";
#ifndef SWITCHBOARD_BASE_LOG_H_
#define SWITCHBOARD_BASE_LOG_H_

#include <sstream>

namespace switchboard::log {

enum class Severity {
  kDebug = 0,
  kInfo = 1,
  kWarning = 2,
  kError = 3,
  kFatal = 4
};

// Messages below this severity are discarded. Default kInfo; thread-safe.
void SetMinSeverity(Severity severity);
Severity MinSeverity();

// Collects one message and writes it as a single line when destroyed.
// A kFatal message aborts the process after writing.
class Message {
 public:
  Message(Severity severity, const char* file, int line);
  ~Message();
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  Severity severity_;
  std::ostringstream stream_;
};

// Swallows the stream expression when a message is disabled.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace switchboard::log

#define SB_LOG_SEVERITY_DEBUG ::switchboard::log::Severity::kDebug
#define SB_LOG_SEVERITY_INFO ::switchboard::log::Severity::kInfo
#define SB_LOG_SEVERITY_WARNING ::switchboard::log::Severity::kWarning
#define SB_LOG_SEVERITY_ERROR ::switchboard::log::Severity::kError
#define SB_LOG_SEVERITY_FATAL ::switchboard::log::Severity::kFatal

#define SB_LOG(severity)                                                      \
  (SB_LOG_SEVERITY_##severity < ::switchboard::log::MinSeverity())            \
      ? (void)0                                                               \
      : ::switchboard::log::Voidify() &                                       \
            ::switchboard::log::Message(SB_LOG_SEVERITY_##severity, __FILE__, \
                                        __LINE__)                             \
                .stream()

#define SB_CHECK(condition)                                                   \
  (condition)                                                                 \
      ? (void)0                                                               \
      : ::switchboard::log::Voidify() &                                       \
            ::switchboard::log::Message(::switchboard::log::Severity::kFatal, \
                                        __FILE__, __LINE__)                   \
                    .stream()                                                 \
                << "Check failed: " #condition " "

#endif  // SWITCHBOARD_BASE_LOG_H_
