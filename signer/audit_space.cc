#include "signer/audit_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace acme_signer::signer {

absl::StatusOr<uint64_t> AvailableBytes(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(path.c_str(), &fs) != 0) {
    return ErrnoStatus(errno, absl::StrCat("statvfs ", path));
  }
  return static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_frsize);
}

absl::Status AuditSpaceFloor::Check(const std::string& audit_log_path, uint64_t min_free_bytes) {
  if (min_free_bytes == 0) return absl::OkStatus();
  // The directory, not the file: the active file may be a rotated one (path.N) beside it.
  const std::string dir = std::filesystem::path(audit_log_path).parent_path().string();
  absl::StatusOr<uint64_t> available = options_.available(dir.empty() ? "." : dir);
  if (!available.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot measure the free space of the audit log's directory, so new orders "
                     "are refused: ",
                     available.status().message()));
  }
  if (*available >= min_free_bytes) return absl::OkStatus();
  const std::string why = absl::StrCat(
      "the audit log's file system (", dir, ") has ", *available,
      " bytes free, below audit.min_free_bytes = ", min_free_bytes,
      ": the signer refuses new orders until an operator frees space (records already "
      "accepted are durable; calls for orders under way are still served)");
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock();
    if (now - last_warning_ >= options_.warn_every) {
      last_warning_ = now;
      std::cerr << "acme-signer: WARNING: " << why << std::endl;
    }
  }
  return absl::ResourceExhaustedError(why);
}

}  // namespace acme_signer::signer
