#include "signer/audit_files.h"

#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace acme_signer::signer {
namespace {

namespace fs = std::filesystem;

// The index `name` has as a file of the log whose first file is named `base`: 0 for `base`,
// N for "base.N" with N in canonical decimal; -1 for any other name. A non-canonical name
// (".01", ".1.gz") is not a file the writer makes, so it is not part of the chain.
int IndexOf(absl::string_view name, absl::string_view base) {
  if (name == base) return 0;
  if (!absl::ConsumePrefix(&name, base) || !absl::ConsumePrefix(&name, ".")) return -1;
  if (name.empty() || name.size() > 9 || name[0] == '0') return -1;
  for (char c : name) {
    if (c < '0' || c > '9') return -1;
  }
  int index = 0;
  return absl::SimpleAtoi(name, &index) ? index : -1;
}

}  // namespace

std::string AuditLogFileName(const std::string& path, int index) {
  return index == 0 ? path : absl::StrCat(path, ".", index);
}

absl::StatusOr<AuditLogFileSet> ListAuditLogFiles(const std::string& path) {
  const fs::path as_path(path);
  const std::string base = as_path.filename().string();
  const fs::path dir = as_path.has_parent_path() ? as_path.parent_path() : fs::path(".");
  std::map<int, bool> present;  // ordered indices
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    int index = IndexOf(entry.path().filename().string(), base);
    if (index >= 0) present[index] = true;
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return ErrnoStatus(ec.value(),
                       absl::StrCat("cannot list the audit log directory ", dir.string()));
  }
  AuditLogFileSet set;
  set.path = path;
  int expected = 0;
  for (const auto& [index, unused] : present) {
    if (index != expected) {
      set.missing = AuditLogFileName(path, expected);
      set.present_after_gap = AuditLogFileName(path, index);
      set.last_index = present.rbegin()->first;
      return set;
    }
    set.files.push_back(AuditLogFileName(path, index));
    ++expected;
  }
  set.last_index = expected - 1;
  return set;
}

absl::StatusOr<std::vector<std::string>> AuditLogFiles(const std::string& path) {
  absl::StatusOr<AuditLogFileSet> set = ListAuditLogFiles(path);
  if (!set.ok()) return set.status();
  if (!set->missing.empty()) {
    return absl::DataLossError(absl::StrCat(
        "audit log file ", set->missing, " is missing but ", set->present_after_gap,
        " exists: a rotated file was deleted or renamed and the records it held are gone; "
        "restore it from a backup"));
  }
  if (set->files.empty()) return absl::NotFoundError(absl::StrCat("no audit log at ", path));
  return std::move(set->files);
}

}  // namespace acme_signer::signer
