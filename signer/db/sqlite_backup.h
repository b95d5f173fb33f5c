// A consistent copy of a live SQLite database with SQLite's online backup API
// (sqlite3_backup_init/step/finish), for `acme-signer backup` while serve keeps writing.
//
// The copy is made in ONE backup step (sqlite3_backup_step(-1)): one read transaction over the
// source, so the copy is the database as of one commit. With the signer's WAL journal a reader
// never blocks the writer, so serve goes on committing meanwhile; copying in several smaller
// steps would instead restart from scratch after every commit of another connection and might
// never finish on a busy signer. The state database is small (megabytes), so one step is short.
//
// Thread-safety: a free function; each call opens its own two connections.
#ifndef ACME_SIGNER_SIGNER_DB_SQLITE_BACKUP_H_
#define ACME_SIGNER_SIGNER_DB_SQLITE_BACKUP_H_

#include <string>

#include "absl/status/status.h"

namespace acme_signer::signer::db {

// Copies the SQLite database at `source` into a NEW file `destination`, created with mode 0600
// (it must not exist), and checks the copy with PRAGMA quick_check. The copy keeps the source's
// journal mode (WAL for the signer), so opening it later changes no byte of it.
// Errors name the file: NotFound when `source` does not exist, AlreadyExists when
// `destination` does, Unavailable when the source stays locked (busy) through every retry,
// DataLoss when the copy fails its check, Internal for other SQLite failures.
absl::Status BackupSqliteDatabase(const std::string& source, const std::string& destination);

}  // namespace acme_signer::signer::db

#endif  // ACME_SIGNER_SIGNER_DB_SQLITE_BACKUP_H_
