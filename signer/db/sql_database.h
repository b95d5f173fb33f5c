// SqlDatabase: the seam between the state store and its database engine. One connection to
// SQLite (signer/db/sql_sqlite.h) or PostgreSQL (signer/db/sql_postgresql.h), driven with one
// set of portable SQL statements, so the store keeps one home for every query.
//
// Portable SQL, as the store writes it:
//   - parameters are `?N` (1-based, may repeat) or `?` (the next one); the PostgreSQL driver
//     rewrites them to `$N`. Values are always bound, never spliced; a '?' inside a quoted
//     literal is left alone (and the store writes none).
//   - upserts are INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE SET x = excluded.x, with
//     columns of the existing row qualified by the table name;
//   - timestamps are fixed-width RFC 3339 text, so text order is time order;
//   - a row read to be updated in the same transaction gets ForUpdate() after its WHERE.
//
// Errors are absl::Status with the caller's context first ("cannot record order X: ..."):
// AlreadyExists for a unique-key violation; Unavailable when the database is busy, locked,
// unreachable or the connection was lost (retryable); Aborted for a serialization failure or
// deadlock (RunInTransaction retries those); Internal otherwise.
//
// Thread-safety: not thread-safe (neither a sqlite3 handle used without its mutex nor a libpq
// connection may be shared); the owner serializes calls (StateStore holds its mutex).
#ifndef ACME_SIGNER_SIGNER_DB_SQL_DATABASE_H_
#define ACME_SIGNER_SIGNER_DB_SQL_DATABASE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::signer::db {

// A bound parameter: text, an integer, or SQL NULL (default-constructed or nullopt).
class SqlValue {
 public:
  SqlValue() = default;
  SqlValue(std::nullopt_t) {}  // NOLINT(google-explicit-constructor): reads as a value
  SqlValue(std::string text) : value_(std::move(text)) {}  // NOLINT
  SqlValue(absl::string_view text) : value_(std::string(text)) {}  // NOLINT
  SqlValue(const char* text) : value_(std::string(text)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  SqlValue(T number) : value_(static_cast<int64_t>(number)) {}  // NOLINT
  SqlValue(std::optional<std::string> text) {  // NOLINT
    if (text.has_value()) value_ = *std::move(text);
  }

  bool is_null() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_integer() const { return std::holds_alternative<int64_t>(value_); }
  // The text (for an integer: its decimal form; "" for NULL).
  std::string AsText() const;
  // The integer (0 unless is_integer()).
  int64_t AsInteger() const;

 private:
  std::variant<std::monostate, std::string, int64_t> value_;
};

// The rows a statement returned, read completely (the store's results are small), and how many
// rows an INSERT/UPDATE/DELETE changed.
class SqlRows {
 public:
  SqlRows() = default;
  SqlRows(int columns, std::vector<std::optional<std::string>> cells, int64_t affected);

  int size() const { return columns_ == 0 ? 0 : static_cast<int>(cells_.size()) / columns_; }
  bool empty() const { return size() == 0; }
  bool IsNull(int row, int col) const;
  // The value as text ("" for NULL).
  const std::string& Text(int row, int col) const;
  // The value as an integer (0 for NULL or text that is not a number).
  int64_t Int(int row, int col) const;
  // The value, nullopt for NULL.
  std::optional<std::string> Optional(int row, int col) const;
  // Rows changed by an INSERT/UPDATE/DELETE (0 for a query).
  int64_t affected() const { return affected_; }

 private:
  const std::optional<std::string>& Cell(int row, int col) const;

  int columns_ = 0;
  std::vector<std::optional<std::string>> cells_;  // row-major
  int64_t affected_ = 0;
};

class SqlDatabase {
 public:
  enum class Engine { kSqlite, kPostgresql };

  virtual ~SqlDatabase() = default;

  virtual Engine engine() const = 0;
  // Where the data lives, for messages: the SQLite file's path, or "PostgreSQL ([state] url)"
  // (never the connection string itself, which operators sometimes put a password into).
  virtual const std::string& name() const = 0;

  // Runs one statement with bound parameters and returns its rows. `context` starts the error
  // message.
  virtual absl::StatusOr<SqlRows> Exec(absl::string_view context, absl::string_view sql,
                                       const std::vector<SqlValue>& params = {}) = 0;

  // A write transaction. Begin takes the database's write lock on SQLite (BEGIN IMMEDIATE: the
  // whole file, so other processes wait); on PostgreSQL it starts a READ COMMITTED transaction
  // in which rows are locked explicitly (ForUpdate, LockName). Rollback ignores errors (a lost
  // connection has rolled back by itself).
  virtual absl::Status Begin(absl::string_view context) = 0;
  virtual absl::Status Commit(absl::string_view context) = 0;
  virtual void Rollback() = 0;

  // " FOR UPDATE" on PostgreSQL, "" on SQLite (whose transactions already hold the write lock):
  // appended to a SELECT that reads a row the transaction then changes.
  virtual absl::string_view ForUpdate() const = 0;
  // Inside a transaction: waits for and takes an exclusive lock on `name` until it ends, for
  // what no single row can stand for (an agent's rate counter before its first event). A no-op
  // on SQLite, where the transaction holds the only write lock.
  virtual absl::Status LockName(absl::string_view context, absl::string_view name) = 0;

  // A cheap check that the database answers (reconnecting a lost PostgreSQL connection).
  virtual absl::Status Ping() = 0;
};

// Runs `body` inside Begin/Commit; rolls back when it fails. A transaction that lost a
// serialization conflict or deadlock (Aborted) runs again, at most 3 times in all, so `body`
// must start from scratch each time.
absl::Status RunInTransaction(SqlDatabase& db, absl::string_view context,
                              absl::FunctionRef<absl::Status()> body);

}  // namespace acme_signer::signer::db

#endif  // ACME_SIGNER_SIGNER_DB_SQL_DATABASE_H_
