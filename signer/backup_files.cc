#include "signer/backup_files.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace acme_signer::signer {
namespace {

constexpr size_t kChunk = 1 << 16;

absl::StatusOr<UniqueFd> OpenForReading(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot read ", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("cannot read ", path));
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  return fd;
}

// read() that retries EINTR; 0 at the end of the file.
absl::StatusOr<size_t> ReadSome(int fd, char* buffer, size_t size, const std::string& path) {
  while (true) {
    const ssize_t n = ::read(fd, buffer, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus(errno, absl::StrCat("cannot read ", path));
  }
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("cannot write ", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Streams `from` into the open, empty `out`; returns the bytes kept (see CopyFileForBackup).
absl::StatusOr<CopiedFile> StreamCopy(const std::string& from, int out, const std::string& to,
                                      bool whole_lines_only) {
  ASSIGN_OR_RETURN(UniqueFd in, OpenForReading(from));
  // Only what the file held when the copy started: a log that keeps growing cannot keep the
  // copy going for ever (what follows is after the snapshot anyway).
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("cannot read ", from));
  uint64_t remaining = static_cast<uint64_t>(st.st_size);
  std::vector<char> buffer(kChunk);
  uint64_t written = 0;
  uint64_t after_last_newline = 0;  // bytes written since the last '\n'
  while (remaining > 0) {
    ASSIGN_OR_RETURN(size_t n,
                     ReadSome(in.get(), buffer.data(),
                              static_cast<size_t>(std::min<uint64_t>(kChunk, remaining)), from));
    if (n == 0) break;  // the file shrank: the signer never truncates, but copy what is there
    absl::string_view chunk(buffer.data(), n);
    RETURN_IF_ERROR(WriteAll(out, chunk, to));
    written += n;
    remaining -= n;
    const size_t newline = chunk.rfind('\n');
    after_last_newline = newline == absl::string_view::npos
                             ? after_last_newline + n
                             : static_cast<uint64_t>(n - newline - 1);
  }
  CopiedFile copied;
  copied.bytes = written;
  if (whole_lines_only && after_last_newline > 0) {
    copied.bytes = written - after_last_newline;
    copied.dropped_bytes = after_last_newline;
    if (::ftruncate(out, static_cast<off_t>(copied.bytes)) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot cut ", to, " at its last complete line"));
    }
  }
  if (::fsync(out) != 0) return ErrnoStatus(errno, absl::StrCat("cannot sync ", to));
  return copied;
}

std::string ParentDirectory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

absl::StatusOr<CopiedFile> CopyFileForBackup(const std::string& from, const std::string& to,
                                             mode_t mode, bool whole_lines_only) {
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!out.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create ", to));
  // The umask may have taken bits away; the mode is what the caller decided.
  if (::fchmod(out.get(), mode) != 0) return ErrnoStatus(errno, absl::StrCat("cannot chmod ", to));
  ASSIGN_OR_RETURN(CopiedFile copied, StreamCopy(from, out.get(), to, whole_lines_only));
  RETURN_IF_ERROR(out.Close(absl::StrCat("cannot write ", to)));
  return copied;
}

absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd in, OpenForReading(path));
  SslUniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError(absl::StrCat("cannot hash ", path, ": ", SslErrors()));
  }
  std::vector<char> buffer(kChunk);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, ReadSome(in.get(), buffer.data(), buffer.size(), path));
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buffer.data(), n) != 1) {
      return absl::InternalError(absl::StrCat("cannot hash ", path, ": ", SslErrors()));
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    return absl::InternalError(absl::StrCat("cannot hash ", path, ": ", SslErrors()));
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

absl::Status InstallFileCopy(const std::string& from, const std::string& to, mode_t mode) {
  const std::string temp = absl::StrCat(to, ".restore-tmp");
  ::unlink(temp.c_str());  // a leftover of an interrupted restore: ours, never a real file
  absl::StatusOr<CopiedFile> copied = CopyFileForBackup(from, temp, mode, false);
  if (!copied.ok()) {
    ::unlink(temp.c_str());
    return copied.status();
  }
  if (::rename(temp.c_str(), to.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    return ErrnoStatus(error, absl::StrCat("cannot install ", to));
  }
  return SyncDirectory(ParentDirectory(to));
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

absl::Status EnsureDirectory(const std::string& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) == 0) {
    // mkdir's mode passes through the umask.
    if (::chmod(dir.c_str(), mode) != 0) {
      return ErrnoStatus(errno, absl::StrCat("cannot chmod ", dir));
    }
    return SyncDirectory(ParentDirectory(dir));
  }
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
  }
  return ErrnoStatus(errno, absl::StrCat("cannot create directory ", dir));
}

}  // namespace acme_signer::signer
