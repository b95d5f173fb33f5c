// PostgresDatabase: SqlDatabase on one PostgreSQL connection (signer/db/pg_connection.h), for
// state shared by several signer replicas.
//
// Statements are the store's portable SQL with `?N`/`?` placeholders, rewritten here to $N.
// Transactions are READ COMMITTED (set explicitly, whatever the server's default) with explicit
// locks: SELECT ... FOR UPDATE for a row, a transaction-scoped advisory lock for a name
// (pg_advisory_xact_lock on a 64-bit hash of it; a hash collision only makes two unrelated
// names wait for each other). A lost connection fails the statement that met it with
// Unavailable and is reset before the next one, so the store recovers by itself.
//
// Thread-safety: not thread-safe; the owner serializes calls.
#ifndef ACME_SIGNER_SIGNER_DB_SQL_POSTGRESQL_H_
#define ACME_SIGNER_SIGNER_DB_SQL_POSTGRESQL_H_

#include <memory>
#include <string>

#include "signer/db/pg_connection.h"
#include "signer/db/sql_database.h"

namespace acme_signer::signer::db {

// `sql` with each `?N` turned into $N and each bare `?` into $k (k counting on from the
// highest number seen so far), leaving quoted literals and identifiers untouched.
std::string PostgresPlaceholders(absl::string_view sql);

class PostgresDatabase : public SqlDatabase {
 public:
  // Connects with the libpq conninfo `url` ([state] url). Unavailable when the server cannot
  // be reached; InvalidArgument when the conninfo holds a password.
  static absl::StatusOr<std::unique_ptr<PostgresDatabase>> Connect(const std::string& url);

  Engine engine() const override { return Engine::kPostgresql; }
  const std::string& name() const override { return name_; }
  absl::StatusOr<SqlRows> Exec(absl::string_view context, absl::string_view sql,
                               const std::vector<SqlValue>& params = {}) override;
  absl::Status Begin(absl::string_view context) override;
  absl::Status Commit(absl::string_view context) override;
  void Rollback() override;
  absl::string_view ForUpdate() const override { return " FOR UPDATE"; }
  absl::Status LockName(absl::string_view context, absl::string_view name) override;
  absl::Status Ping() override;

 private:
  explicit PostgresDatabase(std::unique_ptr<PgConnection> conn) : conn_(std::move(conn)) {}

  const std::string name_ = "PostgreSQL ([state] url)";
  std::unique_ptr<PgConnection> conn_;
  // Between Begin and Commit/Rollback: a ROLLBACK outside a transaction would only make the
  // server log a warning.
  bool in_transaction_ = false;
};

}  // namespace acme_signer::signer::db

#endif  // ACME_SIGNER_SIGNER_DB_SQL_POSTGRESQL_H_
