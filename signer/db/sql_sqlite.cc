#include "signer/db/sql_sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::signer::db {
namespace {

// How long a statement waits for another process's write lock before it is Unavailable.
constexpr int kBusyTimeoutMs = 5000;

}  // namespace

// SQLite result codes become a Status here, and only here. Busy/locked/IO problems are
// Unavailable (retryable by an operator); constraint violations are AlreadyExists.
absl::Status SqliteDatabase::Error(int rc, absl::string_view context) const {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      code = absl::StatusCode::kUnavailable;
      break;
    case SQLITE_CONSTRAINT:
      code = absl::StatusCode::kAlreadyExists;
      break;
    default:
      break;
  }
  const char* detail = db_ != nullptr ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  return absl::Status(code, absl::StrCat(context, ": ", detail));
}

absl::StatusOr<std::unique_ptr<SqliteDatabase>> SqliteDatabase::Open(const std::string& path,
                                                                     bool create) {
  // Create the file ourselves so it gets 0640 rather than whatever the umask gives SQLite.
  const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
  int fd = ::open(path.c_str(), flags, 0640);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open state store ", path));
  ::close(fd);

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(path, Db(raw)));
  if (rc != SQLITE_OK) return db->Error(rc, absl::StrCat("cannot open state store ", path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  const std::string context = absl::StrCat("cannot configure state store ", path);
  // journal_mode returns a row; a file that is not a database fails here.
  RETURN_IF_ERROR(db->Exec(context, "PRAGMA journal_mode=WAL").status());
  RETURN_IF_ERROR(db->Exec(context, "PRAGMA synchronous=FULL").status());
  RETURN_IF_ERROR(db->Exec(context, "PRAGMA foreign_keys=ON").status());
  return db;
}

SqliteDatabase::~SqliteDatabase() = default;

absl::StatusOr<SqlRows> SqliteDatabase::Exec(absl::string_view context, absl::string_view sql,
                                             const std::vector<SqlValue>& params) {
  auto cached = statements_.find(sql);
  if (cached == statements_.end()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return Error(rc, context);
    if (stmt == nullptr) return absl::InternalError(absl::StrCat(context, ": empty statement"));
    cached = statements_.emplace(std::string(sql), std::move(stmt)).first;
  }
  sqlite3_stmt* stmt = cached->second.get();
  // Whatever happens, the statement is left reset and unbound for its next use.
  struct Resetter {
    sqlite3_stmt* stmt;
    ~Resetter() {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
  } resetter{stmt};

  if (static_cast<int>(params.size()) > sqlite3_bind_parameter_count(stmt)) {
    return absl::InternalError(absl::StrCat(context, ": ", params.size(),
                                            " parameters for a statement that takes ",
                                            sqlite3_bind_parameter_count(stmt)));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    const SqlValue& value = params[i];
    if (value.is_null()) {
      sqlite3_bind_null(stmt, index);
    } else if (value.is_integer()) {
      sqlite3_bind_int64(stmt, index, static_cast<sqlite3_int64>(value.AsInteger()));
    } else {
      const std::string text = value.AsText();
      // SQLITE_TRANSIENT: SQLite copies the bytes, so `text` need not outlive the statement.
      sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT);
    }
  }

  const int columns = sqlite3_column_count(stmt);
  std::vector<std::optional<std::string>> cells;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int col = 0; col < columns; ++col) {
      if (sqlite3_column_type(stmt, col) == SQLITE_NULL) {
        cells.emplace_back(std::nullopt);
        continue;
      }
      const unsigned char* text = sqlite3_column_text(stmt, col);
      cells.emplace_back(std::string(reinterpret_cast<const char*>(text),
                                     static_cast<size_t>(sqlite3_column_bytes(stmt, col))));
    }
  }
  if (rc != SQLITE_DONE) return Error(rc, context);
  const int64_t affected = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes(db_.get());
  return SqlRows(columns, std::move(cells), affected);
}

absl::Status SqliteDatabase::Begin(absl::string_view context) {
  return Exec(context, "BEGIN IMMEDIATE").status();
}

absl::Status SqliteDatabase::Commit(absl::string_view context) {
  return Exec(context, "COMMIT").status();
}

void SqliteDatabase::Rollback() {
  // Nothing to do when SQLite already rolled back (some errors end the transaction).
  if (sqlite3_get_autocommit(db_.get()) == 0) (void)Exec("rollback", "ROLLBACK");
}

absl::Status SqliteDatabase::Ping() {
  // Reads the file header: a deleted, unreadable or locked-up file shows here.
  return Exec(absl::StrCat("state store ", path_, " does not answer"), "PRAGMA user_version")
      .status();
}

}  // namespace acme_signer::signer::db
