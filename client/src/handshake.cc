// SPDX-License-Identifier: MIT
#include "client/src/handshake.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/src/status_codec.h"
#include "io/connect.h"
#include "switchboard/status_macros.h"
#include "wire/frame.h"
#include "wire/frame_decoder.h"

namespace switchboard::client {
namespace {

absl::StatusOr<std::string> ReadToken(const ConnectOptions& options) {
  std::string path = options.token_file;
  if (path.empty()) {
    const char* env = std::getenv("SWITCHBOARD_TOKEN_FILE");
    path = (env != nullptr && env[0] != '\0') ? env : io::TokenPathBeside("");
  }
  std::ifstream file(path);
  if (!file) {
    return absl::PermissionDeniedError(
        absl::StrCat("TCP needs the broker's token, but ", path,
                     " cannot be read (set ConnectOptions.token_file or "
                     "SWITCHBOARD_TOKEN_FILE)"));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  return std::string(absl::StripAsciiWhitespace(contents.str()));
}

absl::Status SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("send HELLO: ", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads one frame with a deadline.
absl::StatusOr<wire::Frame> ReadFrame(int fd, absl::Time deadline,
                                      const std::string& where,
                                      const HandshakeCancel* cancel) {
  wire::FrameDecoder decoder(wire::Limits{});
  while (true) {
    SB_ASSIGN_OR_RETURN(std::optional<wire::Frame> frame, decoder.Next());
    if (frame.has_value()) return *std::move(frame);
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("no WELCOME from the broker at ", where, " in time"));
    }
    pollfd p[2] = {{fd, POLLIN, 0},
                   {cancel != nullptr ? cancel->wake_fd : -1, POLLIN, 0}};
    int ready =
        ::poll(p, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll during handshake");
    }
    if (ready <= 0) continue;
    if (p[1].revents != 0) {
      uint64_t count;
      ssize_t ignored = ::read(cancel->wake_fd, &count, sizeof count);
      (void)ignored;
      if (cancel->stop()) {
        return absl::CancelledError("the client was closed while reconnecting");
      }
    }
    if (p[0].revents == 0) continue;
    absl::Span<char> span = decoder.WritableSpan();
    ssize_t n = ::recv(fd, span.data(), span.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat("the broker at ", where,
                       " closed the connection during the "
                       "handshake"));
    }
    decoder.Commit(static_cast<size_t>(n));
  }
}

std::string DefaultClientName() {
  return program_invocation_short_name != nullptr
             ? program_invocation_short_name
             : "";
}

}  // namespace

absl::StatusOr<Handshake> ConnectAndGreet(absl::string_view address_text,
                                          const ConnectOptions& options,
                                          const HandshakeCancel* cancel) {
  const std::string text =
      address_text.empty() ? io::DefaultAddress() : std::string(address_text);
  SB_ASSIGN_OR_RETURN(io::Address address, io::Address::Parse(text));
  const std::string where = address.ToString();
  const absl::Time deadline = absl::Now() + options.timeout;

  v1::Header hello_header;
  v1::Hello* hello = hello_header.mutable_hello();
  hello->set_client_name(options.client_name.empty() ? DefaultClientName()
                                                     : options.client_name);
  if (address.transport == io::Transport::kTcp) {
    SB_ASSIGN_OR_RETURN(std::string token, ReadToken(options));
    hello->set_token(token);
  }
  // Descriptors can travel only over a Unix socket (docs/PROTOCOL.md 2.5).
  if (address.transport == io::Transport::kUnix) hello->add_features("fds");

  SB_ASSIGN_OR_RETURN(Fd fd, io::ConnectStream(address));
  wire::Prefix prefix;
  prefix.kind = wire::Kind::kHello;
  SB_RETURN_IF_ERROR(
      SendAll(fd.get(), wire::Frame::Build(prefix, hello_header).bytes()));
  SB_ASSIGN_OR_RETURN(wire::Frame frame,
                      ReadFrame(fd.get(), deadline, where, cancel));
  SB_ASSIGN_OR_RETURN(v1::Header header, frame.ParseHeader());
  if (frame.kind() == wire::Kind::kError) {
    absl::Status status = StatusFromError(header.error());
    return absl::Status(status.code(), absl::StrCat("broker at ", where,
                                                    " refused the "
                                                    "connection: ",
                                                    status.message()));
  }
  if (frame.kind() != wire::Kind::kWelcome || !header.has_welcome()) {
    return absl::InternalError(
        absl::StrCat("broker at ", where, " answered HELLO with ",
                     wire::KindName(frame.kind()), " instead of WELCOME"));
  }
  return Handshake{std::move(fd), std::move(address), header.welcome()};
}

}  // namespace switchboard::client
