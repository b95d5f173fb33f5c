// ScopedFd: sole owner of a POSIX file descriptor; closes it on destruction. Move-only.
// Not thread-safe by itself (like any value type).
#ifndef ACME_SIGNER_HTTP_SCOPED_FD_H_
#define ACME_SIGNER_HTTP_SCOPED_FD_H_

#include <unistd.h>

#include <utility>

namespace acme_signer::http {

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes the current descriptor (if any) and takes ownership of `fd`.
  void reset(int fd = -1) {
    // close() errors are not actionable here; the descriptor is released either way on Linux.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

}  // namespace acme_signer::http

#endif  // ACME_SIGNER_HTTP_SCOPED_FD_H_
