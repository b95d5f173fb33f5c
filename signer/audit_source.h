// The one way to read every record of a signer's audit chain, wherever it is kept: the JSON
// Lines files of [audit] log (PATH, PATH.1, ... in order; [state] backend = "sqlite") or the
// one chain of every replica in the database ([state] backend = "postgresql"). The commands
// that answer questions from the log (audit query, audit report, audit checkpoint, audit
// verify --witness, backup) read through here; verification itself stays in
// signer/audit_verifier.h and signer/db_audit_log.h, which also check what this only reads.
//
// Thread-safety: free functions; each call opens its own files or connection.
#ifndef ACME_SIGNER_SIGNER_AUDIT_SOURCE_H_
#define ACME_SIGNER_SIGNER_AUDIT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/cli.h"
#include "signer/config.h"

namespace acme_signer::signer {

// Where a line came from, for messages ("audit.log.2:17", "database seq 1234").
struct AuditLineOrigin {
  std::string file;   // the log file; "database" for the database chain
  uint64_t line = 0;  // 1-based line in `file`; the record's seq for the database
  // The last line of a file that does not end in '\n': a write a crash cut short (the signer
  // accounts for it with a "recovery" checkpoint on its next start). Its text is not a record.
  bool partial = false;

  std::string ToString() const;
};

// Calls `visit` with each line of the chain (without the '\n'), oldest first, and stops at
// the first error `visit` returns (which is then returned). Errors: NotFound naming the log
// when no file of it exists; DataLoss naming the missing file when a rotated file is missing
// between two present ones; the errno-derived status naming a file that cannot be read;
// Unavailable / FailedPrecondition from the database (unreachable, not migrated).
// The auditor's way in, without the config (which may sit in a directory only operators read)
// or the state store: `--log PATH` in place of `--config F` (audit query, checkpoint, report).
// A SignerConfig that names only the file log at `log_path` ([state] backend "sqlite", no state
// dir: OpenStateStore fails on it, and callers that join the store say so).
SignerConfig AuditLogOnlyConfig(const std::string& log_path);
// True for a config made by AuditLogOnlyConfig.
bool IsAuditLogOnly(const SignerConfig& config);

// Reads `--config FILE` or `--log PATH` (exactly one; the parser declares both) of an audit
// command: LoadSignerConfig or AuditLogOnlyConfig. InvalidArgument naming the flags otherwise.
absl::StatusOr<SignerConfig> AuditSourceFromFlags(const ArgParser& parser);

using AuditLineVisitor =
    std::function<absl::Status(absl::string_view line, const AuditLineOrigin& origin)>;
absl::Status ForEachAuditLine(const SignerConfig& config, const AuditLineVisitor& visit);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_SOURCE_H_
