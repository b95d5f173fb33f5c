// PgConnection: one libpq connection to the signer's PostgreSQL database, with every libpq
// handle owned (RAII) and every libpq error turned into an absl::Status here and nowhere else.
//
// Statements are sent with PQexecParams: parameters are bound as text ($1, $2, ...), never
// spliced into the SQL. A connection that was lost (server restarted, network cut) is reset
// before the next statement, so a caller that keeps one PgConnection recovers by itself when the
// database is back; the statement that met the loss fails with Unavailable and is not retried
// here (the caller knows whether it is safe to repeat).
//
// The connection string is a libpq conninfo ("host=/run/postgresql dbname=acme_signer" or
// "postgresql://signer@db.dept.example/acme_signer"); it never appears in a Status or a log
// line, because operators sometimes put a password into it.
//
// Thread-safety: not thread-safe (libpq connections are not); the owner serializes calls.
#ifndef ACME_SIGNER_SIGNER_DB_PG_CONNECTION_H_
#define ACME_SIGNER_SIGNER_DB_PG_CONNECTION_H_

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::signer::db {

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// A statement parameter: text, or SQL NULL.
using PgParam = std::optional<std::string>;

// The rows a statement returned (empty for statements without rows).
class PgRows {
 public:
  explicit PgRows(PgResultPtr result);
  int size() const;        // number of rows
  int columns() const;
  bool IsNull(int row, int col) const;
  // The value as text ("" for NULL).
  std::string Text(int row, int col) const;
  // The value as an integer; 0 for NULL or text that is not a number.
  int64_t Int(int row, int col) const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  int64_t affected() const;

 private:
  PgResultPtr result_;
};

class PgConnection {
 public:
  // Connects (blocking, bounded by the conninfo's connect_timeout, 10 s when it sets none).
  // Unavailable naming libpq's reason when the server cannot be reached or refuses us.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo);

  // Runs one statement. `context` starts the error message ("cannot record order").
  // Errors: AlreadyExists for a unique violation (SQLSTATE 23505), FailedPrecondition for other
  // integrity violations (23xxx), Aborted for serialization failures and deadlocks (40001,
  // 40P01: retry the transaction), Unavailable when the connection is lost or the server is
  // shutting down or out of resources (08xxx, 57P0x, 53xxx), Internal otherwise.
  absl::StatusOr<PgRows> Exec(absl::string_view context, const std::string& sql,
                              const std::vector<PgParam>& params = {});

  // "SELECT 1" (resetting a lost connection first): OK while the database answers.
  absl::Status Ping();

  // Whether libpq believes the connection is up.
  bool connected() const;

 private:
  PgConnection(std::string conninfo, PgConnPtr conn);
  // Resets a connection libpq marked bad. Unavailable when the server is still unreachable.
  absl::Status EnsureConnected();

  const std::string conninfo_;
  PgConnPtr conn_;
};

// Checks a conninfo for what must not be in a config file: a password (keyword `password` or a
// URI with user:password@). InvalidArgument naming the problem (not the value); also
// InvalidArgument when libpq cannot parse it.
absl::Status CheckConninfoHasNoPassword(const std::string& conninfo);

// The conninfo as libpq environment variables ("PGHOST=/run/postgresql", "PGDATABASE=x", ...),
// for a PostgreSQL client program (pg_dump) that must connect where the signer does without
// the connection string on its command line. InvalidArgument when libpq cannot parse it or
// a set keyword has no environment variable (naming the keyword, never the value).
absl::StatusOr<std::vector<std::string>> ConninfoEnvironment(const std::string& conninfo);

}  // namespace acme_signer::signer::db

#endif  // ACME_SIGNER_SIGNER_DB_PG_CONNECTION_H_
