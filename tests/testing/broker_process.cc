// SPDX-License-Identifier: MIT
#include "tests/testing/broker_process.h"

#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace switchboard::testing {
namespace {

bool IsAddressFlag(const std::string& flag) {
  return absl::StartsWith(flag, "--address=") || flag == "--address";
}

}  // namespace

const char* SwitchboarddPath() { return SWITCHBOARD_SWITCHBOARDD_PATH; }
const char* TestCalleePath() { return SWITCHBOARD_TEST_CALLEE_PATH; }

BrokerProcess::BrokerProcess(Transport transport,
                             std::vector<std::string> flags)
    : BrokerProcess([&] {
        BrokerOptions options;
        options.transport = transport;
        options.flags = std::move(flags);
        return options;
      }()) {}

BrokerProcess::BrokerProcess(BrokerOptions options)
    : options_(std::move(options)) {
  absl::Status status = Start();
  if (!status.ok()) {
    ADD_FAILURE() << "switchboardd did not start: " << status
                  << "\n--- switchboardd stderr ---\n"
                  << ReadStderr() << "--- end of stderr ---";
    process_.reset();  // kills it if it still runs
    return;
  }
  started_ = true;
}

BrokerProcess::~BrokerProcess() {
  if (process_ && process_->running()) {
    absl::StatusOr<int> code = process_->Stop(SIGTERM, absl::Seconds(10));
    if (!code.ok() || *code != 0) {
      ADD_FAILURE() << "switchboardd did not exit cleanly on SIGTERM: "
                    << (code.ok() ? absl::StrCat("exit code ", *code)
                                  : code.status().ToString());
    }
  }
  // (A start failure already printed it.)
  if (started_ && ::testing::Test::HasFailure()) {
    std::cerr << "--- switchboardd stderr (" << stderr_path() << ") ---\n"
              << ReadStderr() << "--- end of switchboardd stderr ---\n";
  }
  if (owns_dir_) {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
}

absl::Status BrokerProcess::Start() {
  if (options_.dir.empty()) {
    // Short, so DIR/bus stays far below the 108-byte sun_path limit.
    char dir_template[] = "/tmp/sbt-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      return absl::ErrnoToStatus(errno, "mkdtemp");
    }
    dir_ = dir_template;
    owns_dir_ = true;
  } else {
    dir_ = options_.dir;
  }
  std::vector<std::string> argv = {
      SwitchboarddPath(), absl::StrCat("--address=unix:", socket_path())};
  if (options_.transport == Transport::kTcp) {
    argv.push_back("--address=tcp:127.0.0.1:0");
  }
  argv.push_back("--print-address");
  argv.insert(argv.end(), options_.flags.begin(), options_.flags.end());
  size_t address_count = 0;
  for (const std::string& arg : argv) address_count += IsAddressFlag(arg);
  if (!options_.prlimit.empty()) {
    std::vector<std::string> limited = {"/usr/bin/prlimit"};
    limited.insert(limited.end(), options_.prlimit.begin(),
                   options_.prlimit.end());
    limited.push_back("--");
    limited.insert(limited.end(), argv.begin(), argv.end());
    argv = std::move(limited);
  }

  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start(argv, stderr_path());
  if (!process.ok()) return process.status();
  process_.emplace(*std::move(process));
  if (absl::Status status = ReadAddresses(address_count); !status.ok()) {
    return status;
  }
  unix_address_ = printed_addresses_[0];
  if (!absl::StartsWith(unix_address_, "unix:")) {
    return absl::InternalError(
        absl::StrCat("first printed address is not unix:...: ", unix_address_));
  }
  if (options_.transport == Transport::kTcp) {
    tcp_address_ = printed_addresses_[1];
    if (!absl::StartsWith(tcp_address_, "tcp:127.0.0.1:") ||
        absl::EndsWith(tcp_address_, ":0")) {
      return absl::InternalError(absl::StrCat(
          "second printed address is not tcp:127.0.0.1:PORT: ", tcp_address_));
    }
  }
  return absl::OkStatus();
}

absl::Status BrokerProcess::ReadAddresses(size_t count) {
  const absl::Time deadline = absl::Now() + options_.startup_timeout;
  while (printed_addresses_.size() < count) {
    absl::StatusOr<std::string> line =
        process_->ReadLine(deadline - absl::Now());
    if (!line.ok()) {
      std::string exit;
      if (absl::StatusOr<int> code = process_->Wait(absl::ZeroDuration());
          code.ok()) {
        exit = absl::StrCat("; it exited with code ", *code);
      } else if (absl::IsAborted(code.status())) {
        exit = absl::StrCat("; ", code.status().message());
      }
      return absl::Status(
          line.status().code(),
          absl::StrCat(
              "waiting for address ", printed_addresses_.size() + 1, " of ",
              count, " from --print-address: ", line.status().message(), exit));
    }
    printed_addresses_.push_back(*std::move(line));
  }
  return absl::OkStatus();
}

const std::string& BrokerProcess::address() const {
  return options_.transport == Transport::kTcp ? tcp_address_ : unix_address_;
}

std::string BrokerProcess::socket_path() const {
  return absl::StrCat(dir_, "/", options_.socket_name);
}

std::string BrokerProcess::token_file() const {
  for (const std::string& flag : options_.flags) {
    if (absl::StartsWith(flag, "--token-file=")) {
      return flag.substr(sizeof("--token-file=") - 1);
    }
  }
  return std::filesystem::path(socket_path()).parent_path() / "token";
}

absl::StatusOr<std::string> BrokerProcess::ReadToken() const {
  if (options_.transport != Transport::kTcp) return std::string();
  return ReadFileToString(token_file());
}

ConnectOptions BrokerProcess::connect_options(
    const std::string& client_name) const {
  ConnectOptions options;
  options.client_name = client_name;
  if (options_.transport == Transport::kTcp) options.token_file = token_file();
  return options;
}

absl::Status BrokerProcess::Signal(int signal) {
  if (!process_) return absl::FailedPreconditionError("broker not running");
  return process_->Signal(signal);
}

absl::StatusOr<int> BrokerProcess::Stop(int signal, absl::Duration timeout) {
  if (!process_) return absl::FailedPreconditionError("broker not running");
  return process_->Stop(signal, timeout);
}

absl::StatusOr<int> BrokerProcess::Wait(absl::Duration timeout) {
  if (!process_) return absl::FailedPreconditionError("broker not running");
  return process_->Wait(timeout);
}

std::string BrokerProcess::stderr_path() const {
  return absl::StrCat(dir_, "/switchboardd.stderr");
}

std::string BrokerProcess::ReadStderr() const {
  if (dir_.empty()) return "";
  absl::StatusOr<std::string> text = ReadFileToString(stderr_path());
  return text.ok() ? *std::move(text) : text.status().ToString();
}

}  // namespace switchboard::testing
