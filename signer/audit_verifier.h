// Offline verification of the audit log written by signer/audit_log.h.
//
// Checks, in chain order over all files: no file index is missing, every line is a record in
// canonical form, seq is 1, 2, 3, ... without gaps, each prev is the previous record's hash
// (64 zeros first), each hash matches the record, every checkpoint is signed by the audit key
// (ES256/ES384 r||s or RS256) and counts the records since the previous checkpoint, and a
// partial line appears only where the next record is a "recovery" checkpoint naming that file
// and offset. Given the checkpoint the signer last stored in its state store, it also detects
// records cut off the end or replaced after an earlier checkpoint.
//
// The signer runs the same verification over its whole log before it signs anything at start
// (AuditLog::Open), so what the CLI reports as tampering also stops `acme-signer serve`.
//
// What cannot be detected without that reference: records after the last checkpoint that an
// attacker rewrites and re-hashes, or removes. See docs/audit.md.
//
// Thread-safety: free functions on value types; safe to call concurrently.
#ifndef ACME_SIGNER_SIGNER_AUDIT_VERIFIER_H_
#define ACME_SIGNER_SIGNER_AUDIT_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/audit_files.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {

struct AuditVerifyOptions {
  // The audit key's SubjectPublicKeyInfo, DER (see AuditPublicKeyDer). Required.
  std::string public_key_der;
  // The checkpoint the signer last stored (LoadAuditCheckpoint). When set, the log must
  // contain exactly this checkpoint.
  std::optional<AuditCheckpointRef> expected_checkpoint;
  // Set when the caller read the state store and it held no reference (expected_checkpoint
  // unset). A log with a signed checkpoint then fails: the signer stores the reference with
  // every checkpoint, so its absence means it was deleted or the state store was replaced.
  bool reference_required = false;
  // Accept a partial last line that no recovery checkpoint accounts for yet (what a crash
  // during an append leaves until the signer restarts) and report it in `torn_tail` instead
  // of as a problem. Only the signer's start-up recovery sets this; an auditor's run does not.
  // Everything else, including the expected checkpoint, is still checked first.
  bool allow_torn_tail = false;
};

// A partial last line of the log.
struct AuditTornTail {
  std::string file;
  uint64_t line = 0;  // 1-based
  uint64_t byte_offset = 0;
};

// The first thing found wrong.
struct AuditProblem {
  std::string file;
  uint64_t line = 0;         // 1-based line in `file`; 0 when not about one line
  uint64_t byte_offset = 0;  // of the line's start in `file`
  uint64_t seq = 0;          // seq of the bad record if it had one, else the expected seq
  std::string what;
};

struct AuditVerifyReport {
  std::vector<std::string> files;
  uint64_t records = 0;  // records verified, checkpoints included
  uint64_t checkpoints = 0;
  uint64_t last_seq = 0;
  std::string last_hash;
  uint64_t last_checkpoint_seq = 0;
  std::string last_checkpoint_hash;  // with last_checkpoint_seq: a reference for --checkpoint
  // Records after the last checkpoint: chained but not yet signed.
  uint64_t unsigned_tail = 0;
  // Recovered crash damage (partial lines accounted for by a recovery checkpoint).
  std::vector<std::string> notes;
  // Only with AuditVerifyOptions::allow_torn_tail: the partial line the log ends in.
  std::optional<AuditTornTail> torn_tail;
  std::optional<AuditProblem> problem;

  bool ok() const { return !problem.has_value(); }
  // One paragraph for humans: "OK: 1234 records ..." or "TAMPERED/DAMAGED: file:line seq ...".
  std::string Summary() const;
};

// Verifies `files` in order (as returned by AuditLogFiles). Tampering and damage are reported
// in the report's `problem` (the first one found; verification stops there). Errors are only
// for what prevents verification: InvalidArgument for an unusable public key, NotFound /
// PermissionDenied / ... (naming the file) when a file cannot be read.
absl::StatusOr<AuditVerifyReport> VerifyAuditLog(const std::vector<std::string>& files,
                                                 const AuditVerifyOptions& options);

// Same, for a listing from ListAuditLogFiles: a missing file (gap in the indices) is the
// problem reported after the files before it verified. An empty listing is a log without
// records (which fails only against an expected checkpoint).
absl::StatusOr<AuditVerifyReport> VerifyAuditLogFiles(const AuditLogFileSet& files,
                                                      const AuditVerifyOptions& options);

// Same, for the log whose first file is `path` (path, path.1, path.2, ...). NotFound when no
// file of the log exists.
absl::StatusOr<AuditVerifyReport> VerifyAuditLogAt(const std::string& path,
                                                   const AuditVerifyOptions& options);

// The same checks over records kept outside files (the database chain, signer/db_audit_log.h):
// `next_line` stores the next record's line (without '\n') and returns true, or returns false
// after the last one; its errors stop verification and are returned. Problems name `source` as
// their file and the record's position (1-based) as their line; the report lists `source` as
// its one file.
using AuditLineSource = std::function<absl::StatusOr<bool>(std::string& line)>;
absl::StatusOr<AuditVerifyReport> VerifyAuditLines(const std::string& source,
                                                   const AuditLineSource& next_line,
                                                   const AuditVerifyOptions& options);

// Accepts a public key as PEM ("-----BEGIN PUBLIC KEY-----") or DER SubjectPublicKeyInfo and
// returns the DER. InvalidArgument when it is neither or not an EC P-256/P-384 or RSA key.
absl::StatusOr<std::string> AuditPublicKeyDer(absl::string_view pem_or_der);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_VERIFIER_H_
