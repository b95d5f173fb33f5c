// `acme-signer backup`: a restorable copy of one signer ([state] backend = "sqlite") in a
// directory, taken while serve runs.
//
// Order matters and is the point: the state database FIRST (one consistent snapshot through
// SQLite's online backup API, signer/db/sqlite_backup.h), the audit files AFTER. The database
// references the newest checkpoint that was durable in the log when it was written; every file
// copied afterwards therefore holds that checkpoint, so a signer restored from the backup finds
// every checkpoint its database references (the other order could copy a log that stops
// before the checkpoint the database then names, and the restored signer would refuse to
// start). The file being appended to is copied up to its last complete line
// (signer/backup_files.h).
//
// Also copied: the config file, the agent CA certificate, the server certificate and the
// front door's listener certificate. Never the PIN file, the HSM token (the HSM's own backup
// procedure: docs/signer.md "Backup and restore") or, unless asked, a private key: the server
// and front-door TLS keys are plain 0600 files, and `acme-signer init` makes new ones from the
// agent CA in the HSM after a restore, so a backup without them holds no secret at all.
//
// With backend = "postgresql" the state and the audit chain of every replica are in the
// database: the chain is verified there, then pg_dump writes state.pgdump
// (signer/backup_postgresql.h) instead of signer.db and the audit files; restore it with
// pg_restore (docs/signer.md "Backup and restore"), not `acme-signer restore`.
//
// The backup directory gets mode 0700 and its files 0600. The MANIFEST (signer/backup_manifest.h)
// is written last, so a directory without one is an unfinished backup. Before that, the copy
// is verified as a signer would verify it (VerifyConfiguredAuditChain on the copied database
// and files).
//
// Thread-safety: a free function; run once per process.
#ifndef ACME_SIGNER_SIGNER_BACKUP_H_
#define ACME_SIGNER_SIGNER_BACKUP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "signer/audit_verifier.h"
#include "signer/backup_manifest.h"
#include "signer/config.h"

namespace acme_signer::signer {

struct BackupOptions {
  std::string out_dir;  // must not exist, or be an empty directory
  // Also copy server.tls_key and [acme_server] tls_private_key (secrets: the backup then needs
  // the protection of a key file).
  bool include_tls_keys = false;
};

struct BackupResult {
  BackupManifest manifest;
  // What was done, one line each, for the operator ("audit.log.3: 1234 bytes ...").
  std::vector<std::string> lines;
  // The verification of the copied chain against the copied database.
  AuditVerifyReport report;
};

// Writes the backup (see the file comment). FailedPrecondition for an out_dir that is not
// empty; the errors of the copies (naming the file) otherwise. A chain that does not verify is not
// an error: the backup is kept (it is evidence) and `report` says what is wrong.
absl::StatusOr<BackupResult> WriteBackup(const SignerConfig& config, const BackupOptions& options);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_BACKUP_H_
