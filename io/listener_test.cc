// SPDX-License-Identifier: MIT
#include "io/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/connect.h"
#include "io/peer_identity.h"

namespace switchboard::io {
namespace {

// A fresh folder under /tmp (short, so socket paths stay under 108 bytes),
// removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/sb-io-test-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::string command = absl::StrCat("rm -rf '", path_, "'");
    EXPECT_EQ(std::system(command.c_str()), 0);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Address UnixAddress(absl::string_view path) {
  return *Address::Parse(absl::StrCat("unix:", path));
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

TEST(ListenerTest, UnixListenerCreatesPrivateFolderAndSocket) {
  TempDir dir;
  const std::string folder = dir.path() + "/run/switchboard";
  const std::string path = folder + "/bus";
  absl::StatusOr<Listener> listener = Listener::Listen(UnixAddress(path));
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_EQ(ModeOf(folder) & 07777, 0700u);
  EXPECT_TRUE(S_ISSOCK(ModeOf(path)));
  EXPECT_EQ(ModeOf(path) & 07777, 0600u);
  EXPECT_EQ(listener->address().ToString(), "unix:" + path);
}

TEST(ListenerTest, AcceptsAConnectionWithItsPeersIdentity) {
  TempDir dir;
  const Address address = UnixAddress(dir.path() + "/bus");
  absl::StatusOr<Listener> listener = Listener::Listen(address);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<std::optional<Fd>> none = listener->Accept();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  absl::StatusOr<Fd> client = ConnectStream(address);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::optional<Fd>> accepted = listener->Accept();
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  ASSERT_TRUE(accepted->has_value());
  absl::StatusOr<PeerIdentity> peer = IdentifyPeer((*accepted)->get());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(peer->uid, ::getuid());
  EXPECT_EQ(peer->pid, static_cast<uint32_t>(::getpid()));
  EXPECT_TRUE(peer->process_verified);
}

TEST(ListenerTest, SecondListenerOnALivePathFailsClearly) {
  TempDir dir;
  const Address address = UnixAddress(dir.path() + "/bus");
  absl::StatusOr<Listener> first = Listener::Listen(address);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<Listener> second = Listener::Listen(address);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(second.status().message(),
            "another broker is already listening on " + address.ToString());
  // The live broker's socket is untouched.
  EXPECT_TRUE(ConnectStream(address).ok());
}

TEST(ListenerTest, StaleSocketFileIsTakenOver) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  {
    // A socket file nobody listens on, as a crashed broker leaves behind.
    Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun),
              0);
  }
  absl::StatusOr<Listener> listener = Listener::Listen(UnixAddress(path));
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_TRUE(ConnectStream(UnixAddress(path)).ok());
}

TEST(ListenerTest, PathThatIsNotASocketIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  Fd file(::open(path.c_str(), O_CREAT | O_WRONLY, 0600));
  ASSERT_TRUE(file.valid());
  absl::StatusOr<Listener> listener = Listener::Listen(UnixAddress(path));
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(S_ISREG(ModeOf(path)));
}

TEST(ListenerTest, DestroyingTheListenerRemovesItsSocketFile) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  {
    absl::StatusOr<Listener> listener = Listener::Listen(UnixAddress(path));
    ASSERT_TRUE(listener.ok()) << listener.status();
    Listener moved =
        *std::move(listener);  // the moved-from one must not unlink
    struct stat st;
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
  }
  struct stat st;
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

TEST(ListenerTest, ReplacedSocketFileIsNotRemoved) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  absl::StatusOr<Listener> listener = Listener::Listen(UnixAddress(path));
  ASSERT_TRUE(listener.ok());
  ASSERT_EQ(::unlink(path.c_str()), 0);
  Fd file(::open(path.c_str(), O_CREAT | O_WRONLY, 0600));
  *listener = *Listener::Listen(UnixAddress(dir.path() + "/other"));
  EXPECT_TRUE(S_ISREG(ModeOf(path)));
}

TEST(ListenerTest, TcpPortZeroReportsTheKernelsPort) {
  absl::StatusOr<Listener> listener =
      Listener::Listen(*Address::Parse("tcp:127.0.0.1:0"));
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_NE(listener->address().port, 0);
  EXPECT_TRUE(
      absl::StartsWith(listener->address().ToString(), "tcp:127.0.0.1:"));
  absl::StatusOr<Fd> client = ConnectStream(listener->address());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::optional<Fd>> accepted = listener->Accept();
  ASSERT_TRUE(accepted.ok());
  EXPECT_TRUE(accepted->has_value());
}

TEST(ListenerTest, TcpPortInUseFailsNamingTheAddress) {
  absl::StatusOr<Listener> first =
      Listener::Listen(*Address::Parse("tcp:127.0.0.1:0"));
  ASSERT_TRUE(first.ok());
  absl::StatusOr<Listener> second = Listener::Listen(first->address());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(
      absl::StrContains(second.status().message(), first->address().ToString()))
      << second.status();
}

// A socket made the way systemd makes one for a socket unit: bound, and
// listening unless `listen` is false. Blocking, as systemd passes it.
Fd BoundSocket(int family, int type, const sockaddr* address, socklen_t length,
               bool listen = true) {
  Fd fd(::socket(family, type, 0));
  EXPECT_TRUE(fd) << std::strerror(errno);
  EXPECT_EQ(::bind(fd.get(), address, length), 0) << std::strerror(errno);
  if (listen) {
    EXPECT_EQ(::listen(fd.get(), 8), 0) << std::strerror(errno);
  }
  return fd;
}

Fd BoundUnixSocket(const std::string& path, int type, bool listen = true) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  return BoundSocket(AF_UNIX, type, reinterpret_cast<sockaddr*>(&sun),
                     sizeof sun, listen);
}

Fd BoundTcpSocket(const char* host, bool listen = true) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  EXPECT_EQ(::inet_pton(AF_INET, host, &sin.sin_addr), 1);
  return BoundSocket(AF_INET, SOCK_STREAM, reinterpret_cast<sockaddr*>(&sin),
                     sizeof sin, listen);
}

TEST(ListenerTest, AdoptedUnixSocketAcceptsAndItsFileIsLeftInPlace) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  {
    absl::StatusOr<Listener> listener =
        Listener::Adopt(BoundUnixSocket(path, SOCK_STREAM));
    ASSERT_TRUE(listener.ok()) << listener.status();
    EXPECT_EQ(listener->address().ToString(), "unix:" + path);
    EXPECT_NE(::fcntl(listener->fd(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(::fcntl(listener->fd(), F_GETFD) & FD_CLOEXEC, 0);
    absl::StatusOr<std::optional<Fd>> none = listener->Accept();
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_FALSE(none->has_value());  // non-blocking: no wait
    absl::StatusOr<Fd> client = ConnectStream(listener->address());
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<std::optional<Fd>> accepted = listener->Accept();
    ASSERT_TRUE(accepted.ok()) << accepted.status();
    EXPECT_TRUE(accepted->has_value());
  }
  // The file belongs to whoever made the socket (systemd).
  EXPECT_TRUE(S_ISSOCK(ModeOf(path)));
}

TEST(ListenerTest, AdoptedTcpSocketReportsItsAddress) {
  absl::StatusOr<Listener> listener =
      Listener::Adopt(BoundTcpSocket("127.0.0.1"));
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_TRUE(
      absl::StartsWith(listener->address().ToString(), "tcp:127.0.0.1:"));
  EXPECT_NE(listener->address().port, 0);
  absl::StatusOr<Fd> client = ConnectStream(listener->address());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<std::optional<Fd>> accepted = listener->Accept();
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_TRUE(accepted->has_value());
}

// Never listening, so the test opens no port beyond loopback.
TEST(ListenerTest, AdoptRefusesATcpSocketNotOnLoopback) {
  absl::StatusOr<Listener> listener =
      Listener::Adopt(BoundTcpSocket("0.0.0.0", /*listen=*/false));
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(listener.status().message(),
                               "cannot serve on tcp:0.0.0.0:"))
      << listener.status();
  EXPECT_TRUE(absl::StrContains(listener.status().message(), "loopback"))
      << listener.status();
}

TEST(ListenerTest, AdoptRefusesASocketThatIsNotListening) {
  TempDir dir;
  const std::string path = dir.path() + "/bus";
  absl::StatusOr<Listener> listener =
      Listener::Adopt(BoundUnixSocket(path, SOCK_STREAM, /*listen=*/false));
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(listener.status().message(), "unix:" + path + " is not listening");
}

TEST(ListenerTest, AdoptRefusesADatagramSocket) {
  TempDir dir;
  absl::StatusOr<Listener> listener = Listener::Adopt(
      BoundUnixSocket(dir.path() + "/dgram", SOCK_DGRAM, /*listen=*/false));
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(listener.status().message(), "not a stream socket");
}

TEST(ListenerTest, AdoptRefusesAnAbstractUnixSocket) {
  const std::string name =
      absl::StrCat(std::string(1, '\0'), "sb-io-test-", ::getpid());
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, name.data(), name.size());
  Fd fd = BoundSocket(
      AF_UNIX, SOCK_STREAM, reinterpret_cast<sockaddr*>(&sun),
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size()));
  absl::StatusOr<Listener> listener = Listener::Adopt(std::move(fd));
  EXPECT_EQ(listener.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(listener.status().message(), "abstract"))
      << listener.status();
}

}  // namespace
}  // namespace switchboard::io
