// UniqueFd: sole owner of a POSIX file descriptor; closes it on destruction. Move-only.
// Not thread-safe (a value type). The project's one fd owner: files, sockets and pipes.
#ifndef ACME_SIGNER_COMMON_UNIQUE_FD_H_
#define ACME_SIGNER_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/files.h"

namespace acme_signer {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

  // Closes now and reports close(2)'s error as ErrnoStatus(errno, context): a file written
  // through this fd can report a deferred write error only here, which the destructor would
  // drop. The descriptor is closed and released either way; closing an empty UniqueFd is OK.
  absl::Status Close(absl::string_view context) {
    const int fd = release();
    if (fd >= 0 && ::close(fd) != 0) return ErrnoStatus(errno, context);
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_UNIQUE_FD_H_
