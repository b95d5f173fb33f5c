#include "agent/webroot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/base64url.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

constexpr char kWellKnown[] = ".well-known";
constexpr char kAcmeChallenge[] = "acme-challenge";

// Opens (creating with 0755 if needed) directory `name` inside `parent_fd`, refusing symlinks.
absl::StatusOr<UniqueFd> OpenOrCreateDir(int parent_fd, const char* name,
                                         const std::string& display, bool* created) {
  *created = false;
  if (::mkdirat(parent_fd, name, 0755) == 0) {
    *created = true;
  } else if (errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("cannot create directory ", display));
  }
  UniqueFd fd(::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (*created) ::unlinkat(parent_fd, name, AT_REMOVEDIR);
    if (err == ELOOP || err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat(display, " is a symlink or not a directory; refusing to write through it"));
    }
    return ErrnoStatus(err, absl::StrCat("cannot open directory ", display));
  }
  // The umask may have narrowed mkdir's mode; the web server must be able to traverse.
  if (*created && ::fchmod(fd.get(), 0755) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot set mode on ", display));
  }
  return fd;
}

}  // namespace

absl::Status ValidateChallengeToken(absl::string_view token) {
  if (token.empty() || token.size() > 256) {
    return absl::InvalidArgumentError("challenge token must be 1..256 characters");
  }
  if (!IsBase64Url(token)) {
    return absl::InvalidArgumentError(
        absl::StrCat("challenge token \"", absl::CEscape(token),
                     "\" contains a character outside the base64url alphabet"));
  }
  return absl::OkStatus();
}

absl::StatusOr<WebrootChallenge> WebrootChallenge::Publish(const std::string& webroot,
                                                           absl::string_view token,
                                                           absl::string_view key_authorization) {
  RETURN_IF_ERROR(ValidateChallengeToken(token));
  WebrootChallenge c;
  c.token_ = std::string(token);
  const std::string well_known = absl::StrCat(webroot, "/", kWellKnown);
  const std::string challenge_dir = absl::StrCat(well_known, "/", kAcmeChallenge);
  c.path_ = absl::StrCat(challenge_dir, "/", token);

  // The webroot itself is the operator's configuration and may be a symlink.
  c.webroot_fd_.reset(::open(webroot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!c.webroot_fd_.valid()) {
    return ErrnoStatus(errno, absl::StrCat("cannot open webroot ", webroot));
  }
  // From here on, `c`'s destructor undoes whatever was done if a step fails.
  ASSIGN_OR_RETURN(c.well_known_fd_, OpenOrCreateDir(c.webroot_fd_.get(), kWellKnown, well_known,
                                                     &c.created_well_known_));
  ASSIGN_OR_RETURN(c.challenge_fd_, OpenOrCreateDir(c.well_known_fd_.get(), kAcmeChallenge,
                                                    challenge_dir, &c.created_challenge_dir_));

  if (::unlinkat(c.challenge_fd_.get(), c.token_.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot remove stale ", c.path_));
  }
  UniqueFd file(::openat(c.challenge_fd_.get(), c.token_.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create ", c.path_));
  c.published_ = true;
  if (::fchmod(file.get(), 0644) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot set mode on ", c.path_));
  }
  size_t written = 0;
  while (written < key_authorization.size()) {
    ssize_t n =
        ::write(file.get(), key_authorization.data() + written, key_authorization.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("cannot write ", c.path_));
    }
    written += static_cast<size_t>(n);
  }
  RETURN_IF_ERROR(file.Close(absl::StrCat("cannot close ", c.path_)));
  return c;
}

WebrootChallenge::WebrootChallenge(WebrootChallenge&& other) noexcept
    : path_(std::move(other.path_)),
      token_(std::move(other.token_)),
      webroot_fd_(std::move(other.webroot_fd_)),
      well_known_fd_(std::move(other.well_known_fd_)),
      challenge_fd_(std::move(other.challenge_fd_)),
      created_well_known_(std::exchange(other.created_well_known_, false)),
      created_challenge_dir_(std::exchange(other.created_challenge_dir_, false)),
      published_(std::exchange(other.published_, false)) {}

WebrootChallenge& WebrootChallenge::operator=(WebrootChallenge&& other) noexcept {
  if (this != &other) {
    Remove().IgnoreError();
    path_ = std::move(other.path_);
    token_ = std::move(other.token_);
    webroot_fd_ = std::move(other.webroot_fd_);
    well_known_fd_ = std::move(other.well_known_fd_);
    challenge_fd_ = std::move(other.challenge_fd_);
    created_well_known_ = std::exchange(other.created_well_known_, false);
    created_challenge_dir_ = std::exchange(other.created_challenge_dir_, false);
    published_ = std::exchange(other.published_, false);
  }
  return *this;
}

WebrootChallenge::~WebrootChallenge() { Remove().IgnoreError(); }

absl::Status WebrootChallenge::Remove() {
  absl::Status status;
  if (published_) {
    published_ = false;
    if (::unlinkat(challenge_fd_.get(), token_.c_str(), 0) != 0 && errno != ENOENT) {
      status = ErrnoStatus(errno, absl::StrCat("cannot remove ", path_));
    }
  }
  // Directories go only if we made them and nobody else has put anything inside since.
  if (created_challenge_dir_) {
    created_challenge_dir_ = false;
    ::unlinkat(well_known_fd_.get(), kAcmeChallenge, AT_REMOVEDIR);
  }
  if (created_well_known_) {
    created_well_known_ = false;
    ::unlinkat(webroot_fd_.get(), kWellKnown, AT_REMOVEDIR);
  }
  challenge_fd_.reset();
  well_known_fd_.reset();
  webroot_fd_.reset();
  return status;
}

}  // namespace acme_signer::agent
