// SPDX-License-Identifier: MIT
#include "io/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/fd.h"

namespace switchboard::io {
namespace {

absl::Status CheckOwnedFolder(const std::string& path, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a folder"));
  }
  if (st.st_uid != ::getuid() && st.st_uid != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "folder ", path, " belongs to uid ", st.st_uid,
        ", not to this user (uid ", ::getuid(), "); refusing to use it"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string DirectoryOf(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

absl::Status CreatePrivateDirectory(absl::string_view path_view) {
  const std::string path(path_view);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return CheckOwnedFolder(path, st);
  if (errno != ENOENT)
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  const std::string parent = DirectoryOf(path);
  if (parent != path && parent != "." && parent != "/") {
    // Missing parents get the same private mode; existing ones are not
    // checked, as the new leaf folder's 0700 is what protects the socket.
    struct stat parent_st;
    if (::stat(parent.c_str(), &parent_st) != 0) {
      if (absl::Status s = CreatePrivateDirectory(parent); !s.ok()) return s;
    }
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", path));
  }
  if (::stat(path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  return CheckOwnedFolder(path, st);
}

absl::StatusOr<std::string> ReadPrivateFile(absl::string_view path_view,
                                            size_t max_bytes) {
  const std::string path(path_view);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_uid != ::getuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " belongs to uid ", st.st_uid,
                     ", not to this user (uid ", ::getuid(), ")"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s has mode %04o: group or others may read it; it must be private "
        "(chmod 600 %s)",
        path, st.st_mode & 07777, path));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is ", st.st_size,
                                                      " bytes, more than the ",
                                                      max_bytes, " expected"));
  }
  std::string contents(static_cast<size_t>(st.st_size), '\0');
  size_t filled = 0;
  while (filled < contents.size()) {
    const ssize_t n =
        ::read(fd.get(), contents.data() + filled, contents.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  contents.resize(filled);
  return contents;
}

absl::Status CreatePrivateFile(absl::string_view path_view,
                               absl::string_view contents) {
  const std::string path(path_view);
  Fd fd(::open(path.c_str(),
               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("create ", path));
  }
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n =
        ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(path.c_str());  // never leave a half-written file behind
      return absl::ErrnoToStatus(err, absl::StrCat("write ", path));
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace switchboard::io
