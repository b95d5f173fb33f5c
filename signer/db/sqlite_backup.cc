#include "signer/db/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace acme_signer::signer::db {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct BackupFinisher {
  void operator()(sqlite3_backup* backup) const { sqlite3_backup_finish(backup); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Backup = std::unique_ptr<sqlite3_backup, BackupFinisher>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// How long one attempt waits for a lock held by another connection (serve commits in
// milliseconds), and how many attempts a busy source gets before the backup gives up.
constexpr int kBusyTimeoutMs = 2000;
constexpr int kMaxAttempts = 10;

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context) {
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(absl::StrCat(context, ": ", detail));
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::DataLossError(absl::StrCat(context, ": ", detail));
    default:
      return absl::InternalError(absl::StrCat(context, ": ", detail));
  }
}

absl::StatusOr<Db> OpenDb(const std::string& path, int flags, absl::string_view what) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return SqliteError(db.get(), rc, absl::StrCat("cannot open ", what, " ", path));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// PRAGMA quick_check on the copy: "ok", or the first problems SQLite lists.
absl::Status QuickCheck(sqlite3* db, const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &raw, nullptr);
  Stmt stmt(raw);
  const std::string context = absl::StrCat("cannot check the copy ", path);
  if (rc != SQLITE_OK) return SqliteError(db, rc, context);
  std::string result;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    if (text != nullptr && result.size() < 1024) {
      absl::StrAppend(&result, result.empty() ? "" : "; ", reinterpret_cast<const char*>(text));
    }
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, context);
  if (result != "ok") {
    return absl::DataLossError(
        absl::StrCat("the copy ", path, " of the state database fails its check: ", result));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BackupSqliteDatabase(const std::string& source, const std::string& destination) {
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot back up the state database ", source));
  }
  // Created here, empty, with its final mode: SQLite would create it with whatever the umask
  // gives, and an empty file is a valid empty database to copy into.
  {
    UniqueFd fd(
        ::open(destination.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("cannot create ", destination));
    RETURN_IF_ERROR(fd.Close(absl::StrCat("cannot create ", destination)));
  }
  // Read-only: the backup must not change the live database (no checkpoint on close, no
  // journal mode switch).
  ASSIGN_OR_RETURN(Db from, OpenDb(source, SQLITE_OPEN_READONLY, "the state database"));
  ASSIGN_OR_RETURN(Db to, OpenDb(destination, SQLITE_OPEN_READWRITE, "the backup copy"));
  {
    Backup backup(sqlite3_backup_init(to.get(), "main", from.get(), "main"));
    if (backup == nullptr) {
      return SqliteError(to.get(), sqlite3_errcode(to.get()),
                         absl::StrCat("cannot start the backup of ", source));
    }
    int rc = SQLITE_OK;
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      rc = sqlite3_backup_step(backup.get(), -1);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    if (rc != SQLITE_DONE) {
      absl::Status error =
          SqliteError(from.get(), rc,
                      absl::StrCat("cannot copy the state database ", source, " to ", destination));
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        return absl::UnavailableError(
            absl::StrCat(error.message(), " (still locked after ", kMaxAttempts,
                         " attempts: another process holds it; try again)"));
      }
      return error;
    }
    // finish reports an error of the copy that step did not.
    rc = sqlite3_backup_finish(backup.release());
    if (rc != SQLITE_OK) {
      return SqliteError(to.get(), rc, absl::StrCat("cannot finish the copy ", destination));
    }
  }
  return QuickCheck(to.get(), destination);
}

}  // namespace acme_signer::signer::db
