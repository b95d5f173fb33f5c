#include "signer/db/pg_connection.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace acme_signer::signer::db {
namespace {

struct ConninfoOptionsDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using ConninfoOptions = std::unique_ptr<PQconninfoOption, ConninfoOptionsDeleter>;

struct PgMemDeleter {
  void operator()(char* p) const { PQfreemem(p); }
};

// libpq messages end in a newline; a Status reads better without it.
std::string Trimmed(const char* text) {
  if (text == nullptr) return "";
  return std::string(absl::StripTrailingAsciiWhitespace(text));
}

// The one place a libpq result error becomes a Status. Only the primary message is used: the
// DETAIL of a unique violation repeats the key's value, which may be an identifier we would
// rather not spread through logs.
absl::Status ResultError(const PGresult* result, PGconn* conn, absl::string_view context) {
  const char* state_field =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state_field != nullptr ? state_field : "";
  const char* primary =
      result != nullptr ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string detail = primary != nullptr ? Trimmed(primary) : Trimmed(PQerrorMessage(conn));
  if (detail.empty()) detail = "unknown PostgreSQL error";

  absl::StatusCode code = absl::StatusCode::kInternal;
  if (sqlstate == "23505") {
    code = absl::StatusCode::kAlreadyExists;
  } else if (absl::StartsWith(sqlstate, "23")) {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (sqlstate == "40001" || sqlstate == "40P01") {
    code = absl::StatusCode::kAborted;
  } else if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "57P") ||
             absl::StartsWith(sqlstate, "53") || PQstatus(conn) == CONNECTION_BAD) {
    code = absl::StatusCode::kUnavailable;
  }
  std::string message = absl::StrCat(context, ": PostgreSQL: ", detail);
  if (!sqlstate.empty()) absl::StrAppend(&message, " (SQLSTATE ", sqlstate, ")");
  return absl::Status(code, message);
}

// `conninfo` (keyword/value text or a postgresql:// URI) split by libpq into its options, a
// null keyword ending the array. InvalidArgument "not a libpq connection string: <libpq's
// reason>".
absl::StatusOr<ConninfoOptions> ParseConninfo(const std::string& conninfo) {
  char* error = nullptr;
  ConninfoOptions options(PQconninfoParse(conninfo.c_str(), &error));
  std::unique_ptr<char, PgMemDeleter> error_owner(error);
  if (options == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a libpq connection string: ", Trimmed(error)));
  }
  return options;
}

// conninfo with connect_timeout=10 appended unless it sets one: libpq's default is to wait
// forever, and a signer whose database host vanished must notice and report NOT_SERVING.
std::string WithConnectTimeout(const std::string& conninfo) {
  absl::StatusOr<ConninfoOptions> options = ParseConninfo(conninfo);
  if (options.ok()) {
    for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
      if (std::string(o->keyword) == "connect_timeout" && o->val != nullptr && *o->val) {
        return conninfo;
      }
    }
  }
  // A URI takes options as query parameters; keyword/value text takes another pair.
  if (absl::StartsWith(conninfo, "postgresql://") || absl::StartsWith(conninfo, "postgres://")) {
    return absl::StrCat(conninfo, absl::StrContains(conninfo, "?") ? "&" : "?",
                        "connect_timeout=10");
  }
  return absl::StrCat(conninfo, " connect_timeout=10");
}

}  // namespace

PgRows::PgRows(PgResultPtr result) : result_(std::move(result)) {}

int PgRows::size() const { return result_ != nullptr ? PQntuples(result_.get()) : 0; }
int PgRows::columns() const { return result_ != nullptr ? PQnfields(result_.get()) : 0; }

bool PgRows::IsNull(int row, int col) const {
  return result_ == nullptr || PQgetisnull(result_.get(), row, col) != 0;
}

std::string PgRows::Text(int row, int col) const {
  if (IsNull(row, col)) return "";
  return std::string(PQgetvalue(result_.get(), row, col),
                     static_cast<size_t>(PQgetlength(result_.get(), row, col)));
}

int64_t PgRows::Int(int row, int col) const {
  int64_t value = 0;
  if (!absl::SimpleAtoi(Text(row, col), &value)) return 0;
  return value;
}

int64_t PgRows::affected() const {
  if (result_ == nullptr) return 0;
  int64_t value = 0;
  if (!absl::SimpleAtoi(PQcmdTuples(result_.get()), &value)) return 0;
  return value;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  const std::string full = WithConnectTimeout(conninfo);
  PgConnPtr conn(PQconnectdb(full.c_str()));
  if (conn == nullptr) return absl::ResourceExhaustedError("cannot allocate a PostgreSQL connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL ([state] url): ",
                                               Trimmed(PQerrorMessage(conn.get()))));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(full, std::move(conn)));
}

PgConnection::PgConnection(std::string conninfo, PgConnPtr conn)
    : conninfo_(std::move(conninfo)), conn_(std::move(conn)) {}

bool PgConnection::connected() const { return PQstatus(conn_.get()) == CONNECTION_OK; }

absl::Status PgConnection::EnsureConnected() {
  if (PQstatus(conn_.get()) == CONNECTION_OK) return absl::OkStatus();
  PQreset(conn_.get());
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL is unreachable ([state] url): ",
                                               Trimmed(PQerrorMessage(conn_.get()))));
  }
  return absl::OkStatus();
}

absl::StatusOr<PgRows> PgConnection::Exec(absl::string_view context, const std::string& sql,
                                          const std::vector<PgParam>& params) {
  if (absl::Status s = EnsureConnected(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(context, ": ", s.message()));
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p.has_value() ? p->c_str() : nullptr);
  // A connection the server closed while we were idle (a restart: "terminating connection due
  // to administrator command") is only noticed by the next statement. When that statement is
  // a BEGIN outside any transaction, it cannot have changed anything, so it is sent once more
  // on a fresh connection instead of failing the first request after every database restart.
  const bool repeatable = PQtransactionStatus(conn_.get()) == PQTRANS_IDLE &&
                          absl::StartsWithIgnoreCase(sql, "BEGIN");
  PgResultPtr result;
  for (int attempt = 0; attempt < 2; ++attempt) {
    result.reset(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                              /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                              /*paramFormats=*/nullptr, /*resultFormat=*/0));
    if (!repeatable || attempt > 0 || PQstatus(conn_.get()) != CONNECTION_BAD) break;
    if (!EnsureConnected().ok()) break;
  }
  const ExecStatusType status =
      result != nullptr ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(result.get(), conn_.get(), context);
  }
  return PgRows(std::move(result));
}

absl::Status PgConnection::Ping() {
  absl::StatusOr<PgRows> rows = Exec("database health check", "SELECT 1");
  return rows.status();
}

absl::Status CheckConninfoHasNoPassword(const std::string& conninfo) {
  absl::StatusOr<ConninfoOptions> options = ParseConninfo(conninfo);
  if (!options.ok()) return options.status();
  for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val != nullptr && *o->val) {
      return absl::InvalidArgumentError(
          "holds a password; put it in a libpq passfile (passfile=PATH, mode 0600) or use "
          "peer or certificate authentication instead");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ConninfoEnvironment(const std::string& conninfo) {
  absl::StatusOr<ConninfoOptions> options = ParseConninfo(conninfo);
  if (!options.ok()) return options.status();
  std::vector<std::string> env;
  for (PQconninfoOption* o = options->get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    if (o->envvar == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "[state] url: keyword ", o->keyword, " has no libpq environment variable"));
    }
    env.push_back(absl::StrCat(o->envvar, "=", o->val));
  }
  return env;
}

}  // namespace acme_signer::signer::db
