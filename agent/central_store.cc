#include "agent/central_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

std::string PathOf(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", CentralStoreFileName(name));
}

// Removes `path` when it holds exactly `pfx`; a missing or different file is left alone.
absl::Status RemoveIfHolds(const std::string& path, absl::string_view pfx) {
  absl::StatusOr<std::string> content = ReadFile(path, 1 << 20);
  if (absl::IsNotFound(content.status())) return absl::OkStatus();
  if (!content.ok()) return content.status();
  if (*content != pfx) return absl::OkStatus();
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("cannot remove ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CentralStoreFileName(absl::string_view dns_name) {
  if (absl::StartsWith(dns_name, "*.")) return absl::StrCat("_", dns_name.substr(1), ".pfx");
  return absl::StrCat(dns_name, ".pfx");
}

absl::Status CheckCentralStoreDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--ccs-dir ", dir, ": ", ErrnoStatus(errno, "cannot use it").message(),
                     " (create the Central Certificate Store directory first)"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("--ccs-dir ", dir, " is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status UpdateCentralStore(const CentralStoreCopies& before, const CentralStoreCopies& now) {
  std::set<std::string> written;
  if (!now.dir.empty() && !now.pfx.empty()) {
    RETURN_IF_ERROR(CheckCentralStoreDir(now.dir));
    // Bounded by the certificate's names (the CA's limit, 100 at Let's Encrypt).
    for (const std::string& name : now.names) {
      const std::string path = PathOf(now.dir, name);
      RETURN_IF_ERROR(WriteFileAtomically(path, now.pfx, 0600));
      written.insert(path);
    }
  }
  if (before.dir.empty() || before.pfx.empty()) return absl::OkStatus();
  for (const std::string& name : before.names) {
    const std::string path = PathOf(before.dir, name);
    if (written.count(path) == 0) RETURN_IF_ERROR(RemoveIfHolds(path, before.pfx));
  }
  return absl::OkStatus();
}

CentralStoreCopies LiveCentralStoreCopies(const LineageStore& store, const std::string& lineage) {
  if (!ValidateLineageName(lineage).ok()) return CentralStoreCopies();
  absl::StatusOr<RenewalConfig> stored = store.ReadRenewalConfig(lineage);
  if (!stored.ok() || stored->ccs_dir.empty()) return CentralStoreCopies();
  absl::StatusOr<CertificateInfo> cert = store.ReadCurrentCertificate(lineage);
  absl::StatusOr<std::string> pfx = ReadFile(store.Paths(lineage).pfx);
  if (!cert.ok() || !pfx.ok()) return CentralStoreCopies();
  return CentralStoreCopies{stored->ccs_dir, cert->dns_names, *std::move(pfx)};
}

absl::Status RemoveFromCentralStore(const CentralStoreCopies& copies) {
  return UpdateCentralStore(copies, CentralStoreCopies());
}

}  // namespace acme_signer::agent
