// SPDX-License-Identifier: MIT
#include "daemon/server/systemd_units.h"

#include <sys/epoll.h>
#include <systemd/sd-bus.h>

#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/log.h"

namespace switchboard::server {

// One StartUnit call in flight, kept in requests_ until its reply.
struct SystemdUnits::Request {
  SystemdUnits* owner;
  std::string name;
  std::string unit;
  uint64_t attempt;
};

namespace {

int StartUnitReply(sd_bus_message* reply, void* userdata, sd_bus_error*) {
  auto* request = static_cast<SystemdUnits::Request*>(userdata);
  request->owner->OnReply(request, reply);
  return 0;
}

int JobRemovedSignal(sd_bus_message* signal, void* userdata, sd_bus_error*) {
  static_cast<SystemdUnits*>(userdata)->OnJobRemoved(signal);
  return 0;
}

int IgnoreReply(sd_bus_message*, void*, sd_bus_error*) { return 0; }

}  // namespace

SystemdUnits::SystemdUnits(io::EventLoop& loop, FailureCallback on_failure)
    : loop_(loop), on_failure_(std::move(on_failure)) {}

SystemdUnits::~SystemdUnits() { Disconnect(); }

absl::Status SystemdUnits::Connect() {
  if (bus_ != nullptr) return absl::OkStatus();
  const int opened = sd_bus_open_user(&bus_);
  if (opened < 0) {
    bus_ = nullptr;
    return absl::UnavailableError(
        absl::StrCat("connecting to the user bus: ", std::strerror(-opened)));
  }
  absl::StatusOr<io::EventLoop::Watch> watch = loop_.WatchFd(
      sd_bus_get_fd(bus_), EPOLLIN, [this](uint32_t) { Process(); });
  if (!watch.ok()) {
    Disconnect();
    return watch.status();
  }
  watch_ = *std::move(watch);
  // systemd sends JobRemoved only to clients that subscribed; without the
  // signal a failed job is still caught by the activation timeout.
  int r = sd_bus_match_signal_async(
      bus_, nullptr, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
      "org.freedesktop.systemd1.Manager", "JobRemoved", &JobRemovedSignal,
      nullptr, this);
  if (r >= 0) {
    r = sd_bus_call_method_async(bus_, nullptr, "org.freedesktop.systemd1",
                                 "/org/freedesktop/systemd1",
                                 "org.freedesktop.systemd1.Manager",
                                 "Subscribe", &IgnoreReply, nullptr, "");
  }
  if (r < 0) {
    SB_LOG(WARNING) << "cannot follow systemd's jobs: " << std::strerror(-r);
  }
  return absl::OkStatus();
}

void SystemdUnits::Disconnect() {
  watch_.reset();
  if (bus_ != nullptr) {
    sd_bus* bus = bus_;
    bus_ = nullptr;
    sd_bus_flush_close_unref(bus);
  }
  // Replies and signals that will never come now; their activations time
  // out.
  requests_.clear();
  jobs_.clear();
}

absl::Status SystemdUnits::Start(absl::string_view name, absl::string_view unit,
                                 uint64_t attempt) {
  if (absl::Status connected = Connect(); !connected.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot start unit ", unit,
                                               ": no systemd user manager (",
                                               connected.message(), ")"));
  }
  auto request = std::make_unique<Request>(
      Request{this, std::string(name), std::string(unit), attempt});
  const int sent = sd_bus_call_method_async(
      bus_, nullptr, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
      "org.freedesktop.systemd1.Manager", "StartUnit", &StartUnitReply,
      request.get(), "ss", request->unit.c_str(), "replace");
  if (sent < 0) {
    Disconnect();
    return absl::UnavailableError(
        absl::StrCat("cannot start unit ", unit,
                     ": no systemd user manager (sending "
                     "StartUnit: ",
                     std::strerror(-sent), ")"));
  }
  Request* key = request.get();
  requests_[key] = std::move(request);
  // Send it now: the loop watches the bus for input only.
  sd_bus_flush(bus_);
  Process();
  return absl::OkStatus();
}

void SystemdUnits::OnReply(Request* key, sd_bus_message* reply) {
  auto node = requests_.extract(key);
  if (node.empty()) return;  // disconnected meanwhile
  std::unique_ptr<Request> request = std::move(node.mapped());
  const sd_bus_error* error = sd_bus_message_get_error(reply);
  if (error == nullptr) {
    const char* job = nullptr;
    if (sd_bus_message_read(reply, "o", &job) >= 0 && job != nullptr) {
      SB_LOG(INFO) << "systemd queued job " << job << " to start "
                   << request->unit << " (" << request->name << ")";
      jobs_[job] = std::move(request);
    }
    return;
  }
  const std::string reason =
      absl::StrCat("systemd could not start unit ", request->unit, ": ",
                   error->message != nullptr ? error->message : error->name);
  SB_LOG(WARNING) << "activating " << request->name << ": " << reason;
  // Deferred: this runs inside sd_bus_process, which the router's answer
  // must not re-enter.
  loop_.Post([this, name = request->name, attempt = request->attempt, reason] {
    on_failure_(name, attempt, reason);
  });
}

void SystemdUnits::OnJobRemoved(sd_bus_message* signal) {
  uint32_t id = 0;
  const char* job = nullptr;
  const char* unit = nullptr;
  const char* result = nullptr;
  if (sd_bus_message_read(signal, "uoss", &id, &job, &unit, &result) < 0) {
    return;
  }
  auto node = jobs_.extract(std::string(job));
  if (node.empty()) return;  // another client's job
  std::unique_ptr<Request> request = std::move(node.mapped());
  if (std::string_view(result) == "done") {
    SB_LOG(INFO) << "systemd started " << request->unit << " for "
                 << request->name;
    return;
  }
  const std::string reason =
      absl::StrCat("systemd's job to start unit ", request->unit,
                   " ended with result '", result, "'");
  SB_LOG(WARNING) << "activating " << request->name << ": " << reason;
  loop_.Post([this, name = request->name, attempt = request->attempt, reason] {
    on_failure_(name, attempt, reason);
  });
}

void SystemdUnits::Process() {
  while (bus_ != nullptr) {
    const int processed = sd_bus_process(bus_, nullptr);
    if (processed < 0) {
      SB_LOG(WARNING) << "the systemd user bus failed: "
                      << std::strerror(-processed);
      Disconnect();
      return;
    }
    if (processed == 0) return;
  }
}

}  // namespace switchboard::server
