// SPDX-License-Identifier: MIT
#include "terminal.h"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

namespace switchboard::cli {
namespace {

// The settings to restore; one RawTerminal at a time per process.
struct termios saved_settings;
bool raw_now = false;

void Restore() {
  if (!raw_now) return;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_settings);
  raw_now = false;
}

}  // namespace

RawTerminal::RawTerminal() {
  if (isatty(STDIN_FILENO) != 1) return;
  if (tcgetattr(STDIN_FILENO, &saved_settings) != 0) return;
  struct termios raw = saved_settings;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) != 0) return;
  raw_now = true;
  active_ = true;
  static const bool registered = [] { return std::atexit(Restore) == 0; }();
  static_cast<void>(registered);
}

RawTerminal::~RawTerminal() {
  if (active_) Restore();
}

int TerminalRows() {
  struct winsize size {};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_row;
}

}  // namespace switchboard::cli
