#include "signer/backup_manifest.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/backup_files.h"

namespace acme_signer::signer {
namespace {

constexpr absl::string_view kMarker = "acme-signer-backup";
constexpr absl::string_view kAuditBase = "audit.log";

bool KnownRole(absl::string_view role) {
  for (absl::string_view known :
       {kRoleStateDb, kRoleAuditLog, kRoleConfig, kRoleAgentCaCert, kRoleServerCert, kRoleServerKey,
        kRoleFrontDoorCert, kRoleFrontDoorKey, kRolePostgresDump}) {
    if (role == known) return true;
  }
  return false;
}

// A plain file name: restore joins it to the backup directory, so it must not leave it.
bool SafeName(absl::string_view name) {
  if (name.empty() || name == "." || name == ".." || name == kBackupManifestName) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return false;
    }
  }
  return true;
}

// The rotation index of an audit file name, -1 when it is not one ("audit.log.01" is not).
int AuditIndexOf(absl::string_view name) {
  if (name == kAuditBase) return 0;
  if (!absl::ConsumePrefix(&name, kAuditBase) || !absl::ConsumePrefix(&name, ".")) return -1;
  if (name.empty() || name.size() > 9 || name[0] == '0') return -1;
  int index = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return -1;
  }
  return absl::SimpleAtoi(name, &index) ? index : -1;
}

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("MANIFEST:", line, ": ", what));
}

}  // namespace

std::string BackupAuditFileName(int index) {
  return index == 0 ? std::string(kAuditBase) : absl::StrCat(kAuditBase, ".", index);
}

std::string BackupManifest::Format() const {
  std::string text = absl::StrCat(kMarker, " ", kBackupFormatVersion, "\n");
  absl::StrAppend(&text, "created ",
                  absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", created, absl::UTCTimeZone()), "\n");
  absl::StrAppend(&text, "backend ", backend, "\n");
  absl::StrAppend(&text, "config ", config_source, "\n");
  absl::StrAppend(&text, "audit_last_seq ", audit_last_seq, "\n");
  absl::StrAppend(&text, "audit_checkpoint_seq ", audit_checkpoint_seq, "\n");
  for (const BackupEntry& entry : files) {
    absl::StrAppend(&text, "file ", entry.sha256, " ", entry.bytes, " ", entry.role, " ",
                    entry.name, "\n");
  }
  return text;
}

std::vector<const BackupEntry*> BackupManifest::WithRole(absl::string_view role) const {
  std::vector<const BackupEntry*> found;
  for (const BackupEntry& entry : files) {
    if (entry.role == role) found.push_back(&entry);
  }
  return found;
}

absl::StatusOr<BackupManifest> ParseBackupManifest(absl::string_view text) {
  BackupManifest manifest;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty() || lines[0] != absl::StrCat(kMarker, " ", kBackupFormatVersion)) {
    return LineError(
        1, absl::StrCat("not an acme-signer backup manifest of format ", kBackupFormatVersion,
                        " (first line \"", kMarker, " ", kBackupFormatVersion, "\")"));
  }
  std::set<std::string> names;
  std::map<int, int> audit_lines;  // index -> line
  for (size_t i = 1; i < lines.size(); ++i) {
    const int number = static_cast<int>(i) + 1;
    const std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits(' ', 1));
    const absl::string_view key = kv.first;
    const absl::string_view value = kv.second;
    if (key == "created") {
      std::string error;
      if (!absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", value, absl::UTCTimeZone(), &manifest.created,
                           &error)) {
        return LineError(number, absl::StrCat("created: not a UTC time: ", error));
      }
    } else if (key == "backend") {
      manifest.backend = std::string(value);
    } else if (key == "config") {
      manifest.config_source = std::string(value);
    } else if (key == "audit_last_seq" || key == "audit_checkpoint_seq") {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n))
        return LineError(number, absl::StrCat(key, ": not a number"));
      (key == "audit_last_seq" ? manifest.audit_last_seq : manifest.audit_checkpoint_seq) = n;
    } else if (key == "file") {
      std::vector<std::string> parts = absl::StrSplit(value, ' ');
      BackupEntry entry;
      if (parts.size() != 4 || !IsSha256Hex(parts[0]) ||
          !absl::SimpleAtoi(parts[1], &entry.bytes)) {
        return LineError(number, "file: expected \"file <sha256> <bytes> <role> <name>\"");
      }
      entry.sha256 = parts[0];
      entry.role = parts[2];
      entry.name = parts[3];
      if (!KnownRole(entry.role)) {
        return LineError(number, absl::StrCat("file: unknown role ", entry.role));
      }
      if (!SafeName(entry.name)) {
        return LineError(
            number, absl::StrCat("file: ", entry.name, " is not a plain file name of the backup"));
      }
      if (!names.insert(entry.name).second) {
        return LineError(number, absl::StrCat("file: ", entry.name, " is listed twice"));
      }
      if (entry.role == kRoleAuditLog) {
        entry.audit_index = AuditIndexOf(entry.name);
        if (entry.audit_index < 0) {
          return LineError(number,
                           absl::StrCat("file: ", entry.name, " is not an audit file name"));
        }
        audit_lines[entry.audit_index] = number;
      } else if (entry.role != kRoleAuditLog && entry.role != kRoleConfig &&
                 !manifest.WithRole(entry.role).empty()) {
        return LineError(number, absl::StrCat("file: a second ", entry.role));
      }
      manifest.files.push_back(std::move(entry));
    } else {
      return LineError(number, absl::StrCat("unknown key \"", key, "\""));
    }
  }
  if (manifest.backend == "sqlite") {
    if (manifest.WithRole(kRoleStateDb).empty()) {
      return absl::InvalidArgumentError("MANIFEST: no state-db file listed");
    }
  } else if (manifest.backend == "postgresql") {
    if (manifest.WithRole(kRolePostgresDump).empty()) {
      return absl::InvalidArgumentError("MANIFEST: no postgres-dump file listed");
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("MANIFEST: unknown backend \"", manifest.backend, "\""));
  }
  int expected = 0;
  for (const auto& [index, line] : audit_lines) {
    if (index != expected) {
      return LineError(line, absl::StrCat("file: ", BackupAuditFileName(index), " is listed but ",
                                          BackupAuditFileName(expected), " is not"));
    }
    ++expected;
  }
  return manifest;
}

absl::StatusOr<BackupManifest> ReadAndVerifyBackup(const std::string& dir) {
  const std::string manifest_path = absl::StrCat(dir, "/", kBackupManifestName);
  absl::StatusOr<std::string> text = ReadFile(manifest_path);
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(
        absl::StrCat("no ", kBackupManifestName, " in ", dir,
                     ": not a finished `acme-signer backup` directory (backup writes it last)"));
  }
  RETURN_IF_ERROR(text.status());
  absl::StatusOr<BackupManifest> manifest = ParseBackupManifest(*text);
  if (!manifest.ok()) {
    return absl::Status(manifest.status().code(),
                        absl::StrCat(dir, "/", manifest.status().message()));
  }
  for (const BackupEntry& entry : manifest->files) {
    const std::string path = absl::StrCat(dir, "/", entry.name);
    absl::StatusOr<std::string> sha256 = Sha256HexOfFile(path);
    if (!sha256.ok()) {
      return absl::DataLossError(absl::StrCat(
          "backup file ", path, " (", entry.role, ") listed in MANIFEST cannot be read: ",
          sha256.status().message(), "; restore from another copy"));
    }
    if (*sha256 != entry.sha256) {
      return absl::DataLossError(absl::StrCat(
          "backup file ", path, " (", entry.role, ") does not match its SHA-256 in MANIFEST (",
          entry.sha256, ", found ", *sha256,
          "): the backup was damaged or altered; nothing was restored; restore from another "
          "copy"));
    }
  }
  return manifest;
}

}  // namespace acme_signer::signer
