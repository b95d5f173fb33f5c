// BackupManifest: the MANIFEST file of a directory written by `acme-signer backup`, and the
// check `acme-signer restore` runs on it before touching anything.
//
// Text, one "key value" per line, so an operator can read it and check it without the signer
// (`awk '$1 == "file" {print $2 "  " $5}' MANIFEST | sha256sum -c`):
//   acme-signer-backup 1                 format marker and version (first line)
//   created 2026-12-02T14:31:09Z
//   backend sqlite                       or postgresql (then a postgres-dump, no state-db
//                                        and no audit-log: the chain is in the dump)
//   config /etc/acme-signer/acme-signer.toml     the config the backup was taken with
//   audit_last_seq 1234                  the last record in the backed-up audit files
//   audit_checkpoint_seq 1280            the checkpoint the backed-up database references
//   file <sha256> <bytes> <role> <name>  one line per file, in the order they were written
// Roles: state-db, audit-log (name audit.log, audit.log.1, ...: the index is the rotation
// index), config, agent-ca-cert, server-cert, server-key, front-door-cert, front-door-key,
// postgres-dump (pg_dump --format=custom).
// Names are plain file names inside the backup directory (no '/', never "MANIFEST").
//
// Thread-safety: plain values and free functions.
#ifndef ACME_SIGNER_SIGNER_BACKUP_MANIFEST_H_
#define ACME_SIGNER_SIGNER_BACKUP_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

inline constexpr absl::string_view kBackupManifestName = "MANIFEST";
inline constexpr int kBackupFormatVersion = 1;

inline constexpr absl::string_view kRoleStateDb = "state-db";
inline constexpr absl::string_view kRoleAuditLog = "audit-log";
inline constexpr absl::string_view kRoleConfig = "config";
inline constexpr absl::string_view kRoleAgentCaCert = "agent-ca-cert";
inline constexpr absl::string_view kRoleServerCert = "server-cert";
inline constexpr absl::string_view kRoleServerKey = "server-key";
inline constexpr absl::string_view kRoleFrontDoorCert = "front-door-cert";
inline constexpr absl::string_view kRoleFrontDoorKey = "front-door-key";
inline constexpr absl::string_view kRolePostgresDump = "postgres-dump";

// The backup's name of audit log file `index`: "audit.log", "audit.log.1", ...
std::string BackupAuditFileName(int index);

struct BackupEntry {
  std::string sha256;  // lower-case hex
  uint64_t bytes = 0;
  std::string role;
  std::string name;
  // kRoleAuditLog only: the rotation index the name carries.
  int audit_index = -1;
};

struct BackupManifest {
  absl::Time created = absl::InfinitePast();
  std::string backend;        // "sqlite" or "postgresql"
  std::string config_source;  // path of the config the backup was taken with
  uint64_t audit_last_seq = 0;
  uint64_t audit_checkpoint_seq = 0;
  std::vector<BackupEntry> files;

  // The text of the MANIFEST file.
  std::string Format() const;
  // The entries of `role`, in file order.
  std::vector<const BackupEntry*> WithRole(absl::string_view role) const;
};

// Parses a MANIFEST. InvalidArgument naming the line for anything that is not this format
// (an unknown version, an unknown role, a name with '/', an audit index gap, a file listed
// twice, no state database / dump for the backend).
absl::StatusOr<BackupManifest> ParseBackupManifest(absl::string_view text);

// Reads and parses DIR/MANIFEST, then checks every listed file against its size and SHA-256.
// DataLoss naming the file (and "restore from another copy") on the first mismatch or missing
// file; NotFound when DIR has no MANIFEST (not a finished backup).
absl::StatusOr<BackupManifest> ReadAndVerifyBackup(const std::string& dir);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_BACKUP_MANIFEST_H_
