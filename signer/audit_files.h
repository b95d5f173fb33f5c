// The files of one audit log (signer/audit_log.h): the first file is PATH, later ones PATH.1,
// PATH.2, ... (N decimal, no leading zeros). The chain runs through them in index order, so a
// missing index in the middle is lost history, whatever the files around it say.
//
// Thread-safety: free functions; safe to call concurrently (they only read the directory).
#ifndef ACME_SIGNER_SIGNER_AUDIT_FILES_H_
#define ACME_SIGNER_SIGNER_AUDIT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace acme_signer::signer {

// The name of file `index` of the log at `path`: `path` for 0, else "path.N".
std::string AuditLogFileName(const std::string& path, int index);

// Every file of the log at `path` that is present in its directory.
struct AuditLogFileSet {
  // The log's first file, PATH, whether present or not.
  std::string path;
  // PATH, PATH.1, ... in index order, up to (not including) the first missing index.
  std::vector<std::string> files;
  // The first missing file when a file with a higher index exists (a rotated file was deleted
  // or renamed); empty when the indices have no gap.
  std::string missing;
  // The first present file after `missing`.
  std::string present_after_gap;
  // The highest index present; -1 when no file of the log exists.
  int last_index = -1;
};

// Lists the directory of `path`. Errors (errno-derived, naming the directory) only when it
// cannot be read; an absent log is an empty set.
absl::StatusOr<AuditLogFileSet> ListAuditLogFiles(const std::string& path);

// The files of the log at `path` in order. NotFound when no file of the log exists;
// DataLoss naming the missing file when the indices have a gap.
absl::StatusOr<std::vector<std::string>> AuditLogFiles(const std::string& path);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_FILES_H_
