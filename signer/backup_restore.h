// `acme-signer restore`: puts a directory written by `acme-signer backup` (signer/backup.h)
// back into the locations a config names, for the same HSM token (restored first, by the
// HSM's own procedure).
//
// In order, stopping at the first problem:
//  1. every file of the MANIFEST is checked against its SHA-256 (a damaged or altered backup is
//     refused naming the file, before anything is written);
//  2. refused while a serve holds the config's state dir (signer/serve_control.h);
//  3. refused when the target already has a state database, audit files, or certificates/keys
//     that differ from the backup's, naming them; with `force` they are renamed aside to
//     "<path>.before-restore-<UTC time>" (an audit log is evidence: nothing is deleted);
//  4. the database (0640) and the audit files (0640, same rotation indices) are installed into
//     [state] dir and [audit] log, the agent CA certificate (0644) into server.agent_ca_cert
//     when the target has none, and the server / front-door certificate with its key only when
//     the backup holds the key (--include-tls-keys); missing directories are created (0700 for
//     the state dir, 0750 otherwise);
//  5. the restored chain is verified against the restored database
//     (VerifyConfiguredAuditChain): the result is in `report`.
// Without keys in the backup, `acme-signer init` then makes a new server key and certificate
// from the agent CA key in the HSM (it keeps the restored database and agent CA certificate).
//
// Thread-safety: a free function; run once per process.
#ifndef ACME_SIGNER_SIGNER_BACKUP_RESTORE_H_
#define ACME_SIGNER_SIGNER_BACKUP_RESTORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "signer/audit_verifier.h"
#include "signer/backup_manifest.h"
#include "signer/config.h"

namespace acme_signer::signer {

struct RestoreOptions {
  std::string from_dir;
  bool force = false;  // move existing target files aside instead of refusing
};

struct RestoreResult {
  BackupManifest manifest;
  std::vector<std::string> lines;        // what was done, one line each
  std::vector<std::string> moved_aside;  // "old -> new" for each file renamed aside
  AuditVerifyReport report;
  // What the operator must still do (run init for a TLS key, ...).
  std::vector<std::string> next_steps;
};

// Restores (see the file comment) into the locations of `target` (backend "sqlite" only).
// Errors: DataLoss naming the backup file that fails its hash; NotFound without a MANIFEST;
// FailedPrecondition when a serve runs on the target or target files exist (without `force`),
// naming them; errno statuses naming the file for I/O failures.
absl::StatusOr<RestoreResult> RestoreBackup(const SignerConfig& target,
                                            const RestoreOptions& options);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_BACKUP_RESTORE_H_
