// The database half of `acme-signer backup` with [state] backend = "postgresql": the state and
// the audit chain of every replica are in the database, so pg_dump (custom format) copies
// both, as one consistent snapshot (pg_dump runs in one repeatable-read transaction).
//
// pg_dump connects where the signer does, with the config's conninfo given as libpq
// environment variables (never on its command line, never in a message; by config policy it
// holds no password: a passfile, peer or certificate authentication).
//
// Thread-safety: a free function.
#ifndef ACME_SIGNER_SIGNER_BACKUP_POSTGRESQL_H_
#define ACME_SIGNER_SIGNER_BACKUP_POSTGRESQL_H_

#include <string>

#include "absl/status/statusor.h"

namespace acme_signer::signer {

// Runs pg_dump --format=custom into the NEW file `out_file` (mode 0600) and returns the
// pg_dump used. FailedPrecondition when no pg_dump is installed (naming the package);
// Unavailable with pg_dump's last error lines when it fails.
absl::StatusOr<std::string> DumpPostgresqlDatabase(const std::string& conninfo,
                                                   const std::string& out_file);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_BACKUP_POSTGRESQL_H_
