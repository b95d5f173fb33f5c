// AuditSpaceFloor: refuses new orders while the audit log's file system is nearly full.
//
// Every record is fsync'ed before the signer acts, so a full disk fails the signer closed for
// everyone. Below audit.min_free_bytes the signer refuses to START new work (new orders) with a
// clear message while there is still room for the records of work already under way (polls,
// finalizations, downloads) and for refusals: records already accepted stay durable. The
// operator is warned on stderr (the journal) with the free bytes and the floor, at most once
// per `warn_every` while the condition lasts.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_SIGNER_AUDIT_SPACE_H_
#define ACME_SIGNER_SIGNER_AUDIT_SPACE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

// Bytes an unprivileged process may still write on the file system holding `path` (statvfs
// f_bavail * f_frsize). Errno-derived status naming the path.
absl::StatusOr<uint64_t> AvailableBytes(const std::string& path);

class AuditSpaceFloor {
 public:
  struct Options {
    // Injectable for tests.
    std::function<absl::StatusOr<uint64_t>(const std::string&)> available = AvailableBytes;
    std::function<absl::Time()> clock = [] { return absl::Now(); };
    absl::Duration warn_every = absl::Minutes(1);
  };
  AuditSpaceFloor() : AuditSpaceFloor(Options()) {}
  explicit AuditSpaceFloor(Options options) : options_(std::move(options)) {}
  AuditSpaceFloor(const AuditSpaceFloor&) = delete;
  AuditSpaceFloor& operator=(const AuditSpaceFloor&) = delete;

  // OK when `min_free_bytes` is 0 or the directory of `audit_log_path` has at least that many
  // bytes available. ResourceExhausted naming the free bytes, the floor and the key otherwise;
  // the errno-derived status when the space cannot be measured (fail closed: a log whose disk
  // cannot even be examined is not one to start new work on).
  absl::Status Check(const std::string& audit_log_path, uint64_t min_free_bytes)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const Options options_;
  absl::Mutex mu_;
  absl::Time last_warning_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_SPACE_H_
