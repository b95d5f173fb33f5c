#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace acme_signer {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status ErrnoStatus(int errno_value, absl::string_view context) {
  return absl::Status(absl::ErrnoToStatusCode(errno_value),
                      absl::StrCat(context, ": ", std::strerror(errno_value)));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("cannot open ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("cannot stat ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat(path, " is larger than the limit of ", max_bytes, " bytes"));
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat(path, " is larger than the limit of ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return out;
}

absl::StatusOr<Secret> ReadSecretFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string raw, ReadFile(path, 4096));
  Secret secret(std::move(raw));
  std::string& value = secret.mutable_value();
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("secret file ", path, " is empty"));
  return secret;
}

absl::Status SyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("cannot open directory ", dir));
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("cannot sync directory ", dir));
  return fd.Close(absl::StrCat("cannot close directory ", dir));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data, mode_t mode) {
  const std::string dir = DirName(path);
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  int raw_fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (raw_fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot create a temporary file in ", dir));
  UniqueFd fd(raw_fd);
  // The temp file is removed on any failure below; after rename it no longer exists.
  auto remove_tmp = [&tmp](absl::Status status) {
    ::unlink(tmp.c_str());
    return status;
  };
  if (::fchmod(fd.get(), mode) != 0) {
    return remove_tmp(ErrnoStatus(errno, absl::StrCat("cannot set mode on ", tmp)));
  }
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return remove_tmp(ErrnoStatus(errno, absl::StrCat("cannot write ", tmp)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return remove_tmp(ErrnoStatus(errno, absl::StrCat("cannot sync ", tmp)));
  if (absl::Status s = fd.Close(absl::StrCat("cannot close ", tmp)); !s.ok()) return remove_tmp(s);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return remove_tmp(ErrnoStatus(errno, absl::StrCat("cannot rename ", tmp, " to ", path)));
  }
  return SyncDirectory(dir);
}

}  // namespace acme_signer
