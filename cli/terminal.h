// SPDX-License-Identifier: MIT
//
// The terminal for `switchboard top`: keys arrive one by one without Enter
// and are not echoed while the view runs, and the terminal's settings come
// back however the program ends (return, exit, a signal the tool handles).
#ifndef SWITCHBOARD_CLI_TERMINAL_H_
#define SWITCHBOARD_CLI_TERMINAL_H_

namespace switchboard::cli {

// Puts standard input, if it is a terminal, in non-canonical mode without
// echo (signals still work: Ctrl-C stays SIGINT); restores it on
// destruction and, should the process exit without unwinding, at exit.
// Does nothing when standard input is not a terminal.
class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  bool active() const { return active_; }

 private:
  bool active_ = false;
};

// Rows of the terminal on standard output, or 0 if it is not a terminal.
int TerminalRows();

}  // namespace switchboard::cli

#endif  // SWITCHBOARD_CLI_TERMINAL_H_
