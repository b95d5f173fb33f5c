// SqliteDatabase: SqlDatabase on one SQLite file, configured for a signer's durable state:
// WAL journal, synchronous=FULL (a committed write survives a power cut), foreign keys on,
// a 5 s busy timeout for other processes (admin commands) holding the write lock, and the
// file created with mode 0640 rather than whatever the umask gives SQLite.
//
// Prepared statements are kept per SQL text and reused (the store runs a few dozen distinct
// statements, many times each).
//
// Thread-safety: not thread-safe (the connection is opened without SQLite's own mutex); the
// owner serializes calls.
#ifndef ACME_SIGNER_SIGNER_DB_SQL_SQLITE_H_
#define ACME_SIGNER_SIGNER_DB_SQL_SQLITE_H_

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "signer/db/sql_database.h"

namespace acme_signer::signer::db {

class SqliteDatabase : public SqlDatabase {
 public:
  // Opens the database at `path`. With `create`, a missing file is created (mode 0640);
  // without, a missing file is NotFound. Errors name the path: NotFound/PermissionDenied
  // for the file (errno), Unavailable/Internal for SQLite failures (e.g. not a database).
  static absl::StatusOr<std::unique_ptr<SqliteDatabase>> Open(const std::string& path,
                                                              bool create);
  ~SqliteDatabase() override;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  Engine engine() const override { return Engine::kSqlite; }
  const std::string& name() const override { return path_; }
  absl::StatusOr<SqlRows> Exec(absl::string_view context, absl::string_view sql,
                               const std::vector<SqlValue>& params = {}) override;
  absl::Status Begin(absl::string_view context) override;
  absl::Status Commit(absl::string_view context) override;
  void Rollback() override;
  absl::string_view ForUpdate() const override { return ""; }
  absl::Status LockName(absl::string_view, absl::string_view) override {
    return absl::OkStatus();
  }
  absl::Status Ping() override;

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  using Db = std::unique_ptr<sqlite3, DbCloser>;
  using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

  SqliteDatabase(std::string path, Db db) : path_(std::move(path)), db_(std::move(db)) {}
  absl::Status Error(int rc, absl::string_view context) const;

  const std::string path_;
  // Declared before the cache: statements are finalized before the connection closes.
  Db db_;
  absl::flat_hash_map<std::string, Stmt> statements_;
};

}  // namespace acme_signer::signer::db

#endif  // ACME_SIGNER_SIGNER_DB_SQL_SQLITE_H_
