#include "signer/db/sql_postgresql.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace acme_signer::signer::db {

std::string PostgresPlaceholders(absl::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  char quote = 0;  // the quote character of the literal or identifier we are inside, or 0
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      out.push_back(c);
      if (c == quote) quote = 0;  // a doubled quote re-enters at once: same result
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out.push_back(c);
      continue;
    }
    if (c != '?') {
      out.push_back(c);
      continue;
    }
    size_t j = i + 1;
    int number = 0;
    while (j < sql.size() && absl::ascii_isdigit(static_cast<unsigned char>(sql[j])) &&
           number < 100000) {
      number = number * 10 + (sql[j] - '0');
      ++j;
    }
    if (j == i + 1) number = highest + 1;  // a bare '?'
    highest = std::max(highest, number);
    absl::StrAppend(&out, "$", number);
    i = j - 1;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PostgresDatabase>> PostgresDatabase::Connect(
    const std::string& url) {
  if (absl::Status s = CheckConninfoHasNoPassword(url); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("state.url: ", s.message()));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(url));
  return std::unique_ptr<PostgresDatabase>(new PostgresDatabase(std::move(conn)));
}

absl::StatusOr<SqlRows> PostgresDatabase::Exec(absl::string_view context, absl::string_view sql,
                                               const std::vector<SqlValue>& params) {
  std::vector<PgParam> values;
  values.reserve(params.size());
  for (const SqlValue& value : params) {
    values.push_back(value.is_null() ? PgParam() : PgParam(value.AsText()));
  }
  ASSIGN_OR_RETURN(PgRows rows, conn_->Exec(context, PostgresPlaceholders(sql), values));
  const int columns = rows.columns();
  std::vector<std::optional<std::string>> cells;
  cells.reserve(static_cast<size_t>(rows.size()) * static_cast<size_t>(columns));
  for (int row = 0; row < rows.size(); ++row) {
    for (int col = 0; col < columns; ++col) {
      if (rows.IsNull(row, col)) {
        cells.emplace_back(std::nullopt);
      } else {
        cells.emplace_back(rows.Text(row, col));
      }
    }
  }
  return SqlRows(columns, std::move(cells), rows.affected());
}

absl::Status PostgresDatabase::Begin(absl::string_view context) {
  RETURN_IF_ERROR(Exec(context, "BEGIN ISOLATION LEVEL READ COMMITTED").status());
  in_transaction_ = true;
  return absl::OkStatus();
}

absl::Status PostgresDatabase::Commit(absl::string_view context) {
  // A COMMIT ends the transaction whether it succeeds or not (a failed transaction's COMMIT
  // rolls back).
  in_transaction_ = false;
  return Exec(context, "COMMIT").status();
}

void PostgresDatabase::Rollback() {
  if (!in_transaction_) return;
  in_transaction_ = false;
  // A lost connection took its transaction with it; resetting it just to roll back is not
  // needed (the next statement resets it).
  if (!conn_->connected()) return;
  (void)Exec("cannot roll back", "ROLLBACK");
}

absl::Status PostgresDatabase::LockName(absl::string_view context, absl::string_view name) {
  return Exec(context, "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))", {name}).status();
}

absl::Status PostgresDatabase::Ping() { return conn_->Ping(); }

}  // namespace acme_signer::signer::db
