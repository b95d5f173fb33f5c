#include "signer/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "signer/identifier_text.h"

namespace acme_signer::signer {
namespace {

// The account of rows written without one (matches the schema 6 column default).
constexpr absl::string_view kDefaultAccountForRecords = "default";

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// SQLite result codes become a Status here, and only here. Busy/locked/IO problems are
// Unavailable (retryable by an operator); constraint violations are AlreadyExists.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context) {
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
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return absl::Status(code, absl::StrCat(context, ": ", detail));
}

absl::StatusOr<Stmt> Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, "cannot prepare state store statement");
  return stmt;
}

void BindText(sqlite3_stmt* stmt, int index, absl::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `value` need not outlive the statement.
  sqlite3_bind_text(stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

// Binds every argument in order (1-based) as text or integer.
template <typename... Args>
void BindAll(sqlite3_stmt* stmt, const Args&... args) {
  int index = 0;
  (
      [&](const auto& arg) {
        ++index;
        if constexpr (std::is_integral_v<std::decay_t<decltype(arg)>>) {
          sqlite3_bind_int64(stmt, index, static_cast<sqlite3_int64>(arg));
        } else {
          BindText(stmt, index, absl::string_view(arg));
        }
      }(args),
      ...);
}

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const unsigned char* text = sqlite3_column_text(stmt, col);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "";
  // Fixed width, so text order is time order (ListInventory sorts on it).
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::Time ParseTimeText(const std::string& text) {
  absl::Time t;
  if (text.empty() || !absl::ParseTime(absl::RFC3339_full, text, &t, nullptr)) {
    return absl::InfinitePast();
  }
  return t;
}

std::string StringsToJson(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

std::vector<std::string> JsonToStrings(const std::string& text) {
  std::vector<std::string> out;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return out;
  for (const auto& item : j) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// Runs a statement that returns no rows.
absl::Status Exec(sqlite3* db, const char* sql, absl::string_view context) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db, rc, context);
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(db, rc, context);
  return absl::OkStatus();
}

constexpr const char* kSchemaV1[] = {
    "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
    "CREATE TABLE orders (order_url TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
    "identifiers TEXT NOT NULL, finalize_url TEXT NOT NULL, created TEXT NOT NULL, "
    "status TEXT NOT NULL)",
    "CREATE INDEX orders_by_finalize_url ON orders (finalize_url)",
    "CREATE TABLE inventory (serial TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
    "names TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
    "order_url TEXT NOT NULL, certificate_sha256 TEXT NOT NULL, "
    "revoked INTEGER NOT NULL DEFAULT 0, revocation_reason INTEGER NOT NULL DEFAULT 0, "
    "revoked_at TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX inventory_by_agent ON inventory (agent)",
};

// Schema 2: who owns which URL an order leads to, as a typed table instead of the
// "challenge-owner:<url>" key/value rows of schema 1 (moved over, order unknown), and the
// newOrders signed for agents in direct mode.
constexpr const char* kSchemaV2[] = {
    // (url, agent): a CA that reuses authorizations puts one authorization in the orders of
    // several agents, and each may read it.
    "CREATE TABLE order_resources (url TEXT NOT NULL, agent TEXT NOT NULL, "
    "order_url TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (url, agent))",
    "CREATE INDEX order_resources_by_order ON order_resources (order_url)",
    "INSERT OR IGNORE INTO order_resources (url, order_url, agent, kind) "
    "SELECT substr(key, 17), '', value, 'challenge' FROM kv "
    "WHERE substr(key, 1, 16) = 'challenge-owner:'",
    "DELETE FROM kv WHERE substr(key, 1, 16) = 'challenge-owner:'",
    "CREATE TABLE new_order_intents (id INTEGER PRIMARY KEY, agent TEXT NOT NULL, "
    "identifiers TEXT NOT NULL, signed_at TEXT NOT NULL)",
    "CREATE INDEX new_order_intents_by_agent ON new_order_intents (agent, identifiers)",
    "CREATE INDEX inventory_by_sha256 ON inventory (certificate_sha256)",
};

// Schema 3: the front door's per-host EAB credentials. No key material: the HMAC key is derived
// from kid inside the HSM (signer/frontdoor/credentials.h).
constexpr const char* kSchemaV3[] = {
    "CREATE TABLE frontdoor_credentials (kid TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, "
    "created TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, "
    "account_thumbprint TEXT, bound_at TEXT)",
    "CREATE INDEX frontdoor_credentials_by_host ON frontdoor_credentials (host)",
};

// Schema 4: the front door's ACME accounts and objects (orders, authorizations, certificates as
// JSON documents with their owner).
constexpr const char* kSchemaV4[] = {
    "CREATE TABLE frontdoor_accounts (id TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, "
    "eab_kid TEXT NOT NULL, jwk TEXT NOT NULL, thumbprint TEXT NOT NULL UNIQUE, "
    "status TEXT NOT NULL, contact TEXT NOT NULL, created TEXT NOT NULL)",
    "CREATE INDEX frontdoor_accounts_by_host ON frontdoor_accounts (host)",
    "CREATE TABLE frontdoor_objects (kind TEXT NOT NULL, id TEXT NOT NULL, "
    "account TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))",
};

// Schema 5: the agent identity lifecycle (issue 14): the agent certificates the agent CA
// issued (for `agents list` and `agents revoke`), one-time enrolment tokens (hashes only), and
// when each agent was last served.
constexpr const char* kSchemaV5[] = {
    "CREATE TABLE agent_certificates (sha256 TEXT PRIMARY KEY NOT NULL, agent TEXT NOT NULL, "
    "serial TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL, "
    "issued_at TEXT NOT NULL, source TEXT NOT NULL, renewed_from TEXT, "
    "revoked INTEGER NOT NULL DEFAULT 0, revoked_at TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX agent_certificates_by_agent ON agent_certificates (agent)",
    "CREATE TABLE enrollment_tokens (token_sha256 TEXT PRIMARY KEY NOT NULL, "
    "agent TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL, "
    "used_at TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE agents_seen (agent TEXT PRIMARY KEY NOT NULL, at TEXT NOT NULL, "
    "peer TEXT NOT NULL)",
};

// Schema 6: several ACME accounts (issue 15). Everything recorded before belongs to the one
// account there was, `default`; its URL moves from the key/value table to the accounts table.
constexpr const char* kSchemaV6[] = {
    "CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL, directory_url TEXT NOT NULL, "
    "account_url TEXT NOT NULL, key_thumbprint TEXT NOT NULL DEFAULT '', "
    "status TEXT NOT NULL DEFAULT 'valid', registered_at TEXT NOT NULL DEFAULT '', "
    "updated_at TEXT NOT NULL DEFAULT '', rollover_new_key TEXT NOT NULL DEFAULT '')",
    "INSERT INTO accounts (name, directory_url, account_url) "
    "SELECT 'default', '', value FROM kv WHERE key = 'acme.account_url'",
    "DELETE FROM kv WHERE key = 'acme.account_url'",
    "ALTER TABLE orders ADD COLUMN account TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE inventory ADD COLUMN account TEXT NOT NULL DEFAULT 'default'",
    "CREATE INDEX inventory_by_account ON inventory (account)",
    "ALTER TABLE new_order_intents ADD COLUMN account TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE frontdoor_credentials ADD COLUMN account TEXT NOT NULL DEFAULT 'default'",
};

// 7: per-agent rate counters that every replica shares and a restart keeps, and the claim a
// replica takes on an order while it finalizes it.
constexpr const char* kSchemaV7[] = {
    "CREATE TABLE rate_events (agent TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX rate_events_by_agent ON rate_events (agent, at)",
    "ALTER TABLE orders ADD COLUMN finalize_claimed_by TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE orders ADD COLUMN finalize_claimed_until TEXT NOT NULL DEFAULT ''",
};

#define ACME_SIGNER_AGENT_CERT_SELECT                                                        \
  "SELECT sha256, agent, serial, not_before, not_after, issued_at, source, renewed_from, " \
  "revoked, revoked_at FROM agent_certificates "

AgentCertificateRecord ReadAgentCertificateRow(sqlite3_stmt* stmt) {
  AgentCertificateRecord cert;
  cert.sha256 = ColumnText(stmt, 0);
  cert.agent = ColumnText(stmt, 1);
  cert.serial = ColumnText(stmt, 2);
  cert.not_before = ParseTimeText(ColumnText(stmt, 3));
  cert.not_after = ParseTimeText(ColumnText(stmt, 4));
  cert.issued_at = ParseTimeText(ColumnText(stmt, 5));
  cert.source = ColumnText(stmt, 6);
  if (sqlite3_column_type(stmt, 7) != SQLITE_NULL) cert.renewed_from = ColumnText(stmt, 7);
  cert.revoked = sqlite3_column_int(stmt, 8) != 0;
  cert.revoked_at = ParseTimeText(ColumnText(stmt, 9));
  return cert;
}

#define ACME_SIGNER_TOKEN_SELECT \
  "SELECT token_sha256, agent, created, expires, used_at FROM enrollment_tokens "

EnrollmentToken ReadTokenRow(sqlite3_stmt* stmt) {
  EnrollmentToken token;
  token.token_sha256 = ColumnText(stmt, 0);
  token.agent = ColumnText(stmt, 1);
  token.created = ParseTimeText(ColumnText(stmt, 2));
  token.expires = ParseTimeText(ColumnText(stmt, 3));
  token.used_at = ParseTimeText(ColumnText(stmt, 4));
  return token;
}

#define ACME_SIGNER_ACCOUNT_SELECT                                        \
  "SELECT id, host, eab_kid, jwk, thumbprint, status, contact, created, " \
  "COALESCE((SELECT c.account FROM frontdoor_credentials c "              \
  "WHERE c.kid = frontdoor_accounts.eab_kid), 'default') "                \
  "FROM frontdoor_accounts "

#define ACME_SIGNER_CREDENTIAL_SELECT                                  \
  "SELECT kid, host, created, disabled, account_thumbprint, bound_at, account " \
  "FROM frontdoor_credentials "

FrontDoorAccount ReadAccountRow(sqlite3_stmt* stmt) {
  FrontDoorAccount account;
  account.id = ColumnText(stmt, 0);
  account.host = ColumnText(stmt, 1);
  account.eab_kid = ColumnText(stmt, 2);
  account.jwk = ColumnText(stmt, 3);
  account.thumbprint = ColumnText(stmt, 4);
  account.status = ColumnText(stmt, 5);
  account.contact = JsonToStrings(ColumnText(stmt, 6));
  account.created = ParseTimeText(ColumnText(stmt, 7));
  account.signer_account = ColumnText(stmt, 8);
  return account;
}

FrontDoorCredential ReadCredentialRow(sqlite3_stmt* stmt) {
  FrontDoorCredential credential;
  credential.kid = ColumnText(stmt, 0);
  credential.host = ColumnText(stmt, 1);
  credential.created = ParseTimeText(ColumnText(stmt, 2));
  credential.disabled = sqlite3_column_int(stmt, 3) != 0;
  if (sqlite3_column_type(stmt, 4) != SQLITE_NULL)
    credential.account_thumbprint = ColumnText(stmt, 4);
  credential.bound_at = ParseTimeText(ColumnText(stmt, 5));
  credential.account = ColumnText(stmt, 6);
  return credential;
}

absl::StatusOr<OrderResourceKind> KindFromText(const std::string& text) {
  for (OrderResourceKind kind :
       {OrderResourceKind::kOrder, OrderResourceKind::kAuthorization,
        OrderResourceKind::kChallenge, OrderResourceKind::kCertificate}) {
    if (OrderResourceKindName(kind) == text) return kind;
  }
  return absl::DataLossError(absl::StrCat("unknown order resource kind \"", text, "\""));
}

#define ACME_SIGNER_INVENTORY_SELECT                                                      \
  "SELECT serial, agent, names, not_before, not_after, order_url, "             \
  "certificate_sha256, revoked, revocation_reason, revoked_at, account FROM inventory "

CertificateRecord ReadCertificateRow(sqlite3_stmt* stmt) {
  CertificateRecord cert;
  cert.serial = ColumnText(stmt, 0);
  cert.agent = ColumnText(stmt, 1);
  cert.names = JsonToStrings(ColumnText(stmt, 2));
  cert.not_before = ParseTimeText(ColumnText(stmt, 3));
  cert.not_after = ParseTimeText(ColumnText(stmt, 4));
  cert.order_url = ColumnText(stmt, 5);
  cert.certificate_sha256 = ColumnText(stmt, 6);
  cert.revoked = sqlite3_column_int(stmt, 7) != 0;
  cert.revocation_reason = sqlite3_column_int(stmt, 8);
  cert.revoked_at = ParseTimeText(ColumnText(stmt, 9));
  cert.account = ColumnText(stmt, 10);
  return cert;
}

// The identifiers column of new_order_intents, for matching a newOrder with the order the CA
// made of it: JSON of "type:value" texts in lower case, sorted, duplicates removed.
std::string NewOrderIntentKey(const std::vector<Identifier>& identifiers) {
  std::vector<std::string> texts = IdentifierTexts(identifiers);
  for (std::string& text : texts) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::sort(texts.begin(), texts.end());
  texts.erase(std::unique(texts.begin(), texts.end()), texts.end());
  return StringsToJson(texts);
}

#define ACME_SIGNER_ORDER_SELECT \
  "SELECT order_url, agent, identifiers, finalize_url, created, status, account FROM orders "
constexpr const char* kOrderByUrl = ACME_SIGNER_ORDER_SELECT "WHERE order_url = ?1";
constexpr const char* kOrderByFinalizeUrl = ACME_SIGNER_ORDER_SELECT "WHERE finalize_url = ?1";
#undef ACME_SIGNER_ORDER_SELECT

}  // namespace

StateStore::StateStore(std::string path, Db db) : path_(std::move(path)), db_(std::move(db)) {}

StateStore::~StateStore() = default;

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  // Create the file ourselves so it gets 0640 rather than whatever the umask gives SQLite.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open state store ", path));
  ::close(fd);

  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return SqliteError(db.get(), rc, absl::StrCat("cannot open state store ", path));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), 5000);
  auto context = absl::StrCat("cannot configure state store ", path);
  // journal_mode returns a row; a file that is not a database fails here.
  RETURN_IF_ERROR(Exec(db.get(), "PRAGMA journal_mode=WAL", context));
  RETURN_IF_ERROR(Exec(db.get(), "PRAGMA synchronous=FULL", context));
  RETURN_IF_ERROR(Exec(db.get(), "PRAGMA foreign_keys=ON", context));

  std::unique_ptr<StateStore> store(new StateStore(path, std::move(db)));
  {
    absl::MutexLock lock(&store->mu_);
    RETURN_IF_ERROR(store->Migrate());
  }
  return store;
}

absl::Status StateStore::Migrate() {
  sqlite3* db = db_.get();
  auto context = absl::StrCat("cannot migrate state store ", path_);
  ASSIGN_OR_RETURN(Stmt version_stmt, Prepare(db, "PRAGMA user_version"));
  int rc = sqlite3_step(version_stmt.get());
  if (rc != SQLITE_ROW) return SqliteError(db, rc, context);
  int version = sqlite3_column_int(version_stmt.get(), 0);
  version_stmt.reset();
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("state store ", path_, " has schema version ",
                                                      version, ", newer than this signer's ",
                                                      kSchemaVersion, "; use a newer acme-signer"));
  }
  if (version == kSchemaVersion) return absl::OkStatus();

  // Each step runs in one transaction together with its user_version bump.
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", context));
  absl::Status status;
  if (version < 1) {
    for (const char* sql : kSchemaV1) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 2) {
    for (const char* sql : kSchemaV2) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 3) {
    for (const char* sql : kSchemaV3) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 4) {
    for (const char* sql : kSchemaV4) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 5) {
    for (const char* sql : kSchemaV5) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 6) {
    for (const char* sql : kSchemaV6) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok() && version < 7) {
    for (const char* sql : kSchemaV7) {
      status = Exec(db, sql, context);
      if (!status.ok()) break;
    }
  }
  if (status.ok()) {
    // PRAGMA takes no bound parameters; the value is a compile-time constant.
    static_assert(kSchemaVersion == 7, "update the user_version below");
    status = Exec(db, "PRAGMA user_version = 7", context);
  }
  if (status.ok()) status = Exec(db, "COMMIT", context);
  if (!status.ok()) {
    (void)Exec(db, "ROLLBACK", context);
    return status;
  }
  return absl::OkStatus();
}

absl::Status StateStore::SetValue(absl::string_view key, absl::string_view value) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "INSERT INTO kv (key, value) VALUES (?1, ?2) "
                                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  BindAll(stmt.get(), key, value);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot store \"", key, "\" in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> StateStore::GetValue(absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), "SELECT value FROM kv WHERE key = ?1"));
  BindAll(stmt.get(), key);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read \"", key, "\" from ", path_));
  }
  return ColumnText(stmt.get(), 0);
}

absl::Status StateStore::RecordOrder(absl::string_view order_url, absl::string_view agent,
                                     const std::vector<Identifier>& identifiers,
                                     absl::string_view finalize_url, absl::string_view account) {
  absl::MutexLock lock(&mu_);
  return RecordOrderLocked(order_url, agent, identifiers, finalize_url, account);
}

absl::Status StateStore::RecordOrderLocked(absl::string_view order_url, absl::string_view agent,
                                           const std::vector<Identifier>& identifiers,
                                           absl::string_view finalize_url,
                                           absl::string_view account) {
  ASSIGN_OR_RETURN(Stmt insert,
                   Prepare(db_.get(),
                           "INSERT INTO orders (order_url, agent, identifiers, finalize_url, "
                           "created, status, account) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) "
                           "ON CONFLICT (order_url) DO NOTHING"));
  BindAll(insert.get(), order_url, agent, StringsToJson(IdentifierTexts(identifiers)), finalize_url,
          TimeText(absl::Now()), account);
  int rc = sqlite3_step(insert.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot record order ", order_url));
  }
  if (sqlite3_changes(db_.get()) == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(Stmt owner, Prepare(db_.get(), "SELECT agent FROM orders WHERE order_url = ?1"));
  BindAll(owner.get(), order_url);
  rc = sqlite3_step(owner.get());
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read order ", order_url));
  }
  std::string existing = ColumnText(owner.get(), 0);
  if (existing != agent) {
    return absl::AlreadyExistsError(absl::StrCat("order ", order_url, " belongs to agent \"",
                                                 existing, "\", not \"", agent, "\""));
  }
  return absl::OkStatus();
}

absl::Status StateStore::SetOrderStatus(absl::string_view order_url, absl::string_view status) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(), "UPDATE orders SET status = ?2 WHERE order_url = ?1"));
  BindAll(stmt.get(), order_url, status);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot update order ", order_url));
  }
  if (sqlite3_changes(db_.get()) == 0) {
    return absl::NotFoundError(absl::StrCat("no recorded order ", order_url));
  }
  return absl::OkStatus();
}

absl::Status StateStore::ClaimOrderFinalize(absl::string_view order_url, absl::string_view replica,
                                            absl::Time now, absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot claim order ", order_url, " for finalize");
  RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE", context));
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Stmt read, Prepare(db_.get(),
                                        "SELECT finalize_claimed_by, finalize_claimed_until "
                                        "FROM orders WHERE order_url = ?1"));
    BindAll(read.get(), order_url);
    int rc = sqlite3_step(read.get());
    if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no recorded order ", order_url));
    if (rc != SQLITE_ROW) return SqliteError(db_.get(), rc, context);
    const std::string holder = ColumnText(read.get(), 0);
    const absl::Time until = ParseTimeText(ColumnText(read.get(), 1));
    read.reset();
    if (!holder.empty() && holder != replica && until > now) {
      return absl::FailedPreconditionError(
          absl::StrCat("order ", order_url, " is being finalized by replica ", holder,
                       " (claim held until ", absl::FormatTime(until), ")"));
    }
    ASSIGN_OR_RETURN(Stmt write, Prepare(db_.get(),
                                         "UPDATE orders SET finalize_claimed_by = ?2, "
                                         "finalize_claimed_until = ?3 WHERE order_url = ?1"));
    BindAll(write.get(), order_url, replica, TimeText(now + lease));
    rc = sqlite3_step(write.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    return absl::OkStatus();
  }();
  if (status.ok()) status = Exec(db_.get(), "COMMIT", context);
  if (!status.ok()) (void)Exec(db_.get(), "ROLLBACK", context);
  return status;
}

absl::Status StateStore::ReleaseOrderFinalize(absl::string_view order_url,
                                              absl::string_view replica) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE orders SET finalize_claimed_by = '', "
                                      "finalize_claimed_until = '' "
                                      "WHERE order_url = ?1 AND finalize_claimed_by = ?2"));
  BindAll(stmt.get(), order_url, replica);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot release order ", order_url));
  }
  return absl::OkStatus();
}

absl::StatusOr<RateDecision> StateStore::AdmitRateEvent(absl::string_view agent, int limit,
                                                        absl::Duration window, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const std::string context = "cannot update the rate counters";
  RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE", context));
  RateDecision decision;
  absl::Status status = [&]() -> absl::Status {
    const std::string cutoff = TimeText(now - window);
    ASSIGN_OR_RETURN(Stmt prune, Prepare(db_.get(),
                                         "DELETE FROM rate_events WHERE agent = ?1 AND at <= ?2"));
    BindAll(prune.get(), agent, cutoff);
    int rc = sqlite3_step(prune.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    // The limit-th newest admission is the one whose leaving the window frees a slot.
    ASSIGN_OR_RETURN(Stmt read, Prepare(db_.get(),
                                        "SELECT at FROM rate_events WHERE agent = ?1 "
                                        "ORDER BY at DESC"));
    BindAll(read.get(), agent);
    int count = 0;
    absl::Time limiting = absl::InfinitePast();
    while ((rc = sqlite3_step(read.get())) == SQLITE_ROW) {
      ++count;
      if (count == limit) limiting = ParseTimeText(ColumnText(read.get(), 0));
    }
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    read.reset();
    if (limit < 1 || count >= limit) {
      decision.admitted = false;
      decision.next_free = limit < 1 ? absl::InfiniteFuture() : limiting + window;
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(Stmt insert,
                     Prepare(db_.get(), "INSERT INTO rate_events (agent, at) VALUES (?1, ?2)"));
    BindAll(insert.get(), agent, TimeText(now));
    rc = sqlite3_step(insert.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    decision.admitted = true;
    return absl::OkStatus();
  }();
  if (status.ok()) status = Exec(db_.get(), "COMMIT", context);
  if (!status.ok()) {
    (void)Exec(db_.get(), "ROLLBACK", context);
    return status;
  }
  return decision;
}

absl::StatusOr<OrderRecord> StateStore::FindOrder(absl::string_view order_url) const {
  return FindOrderWhere(kOrderByUrl, order_url);
}

absl::StatusOr<OrderRecord> StateStore::FindOrderByFinalizeUrl(
    absl::string_view finalize_url) const {
  return FindOrderWhere(kOrderByFinalizeUrl, finalize_url);
}

absl::StatusOr<OrderRecord> StateStore::FindOrderWhere(const char* sql,
                                                       absl::string_view value) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), sql));
  BindAll(stmt.get(), value);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return absl::NotFoundError(absl::StrCat("no recorded order for ", value));
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read order for ", value));
  }
  OrderRecord order;
  order.order_url = ColumnText(stmt.get(), 0);
  order.agent = ColumnText(stmt.get(), 1);
  absl::StatusOr<std::vector<Identifier>> identifiers =
      ParseIdentifierTexts(JsonToStrings(ColumnText(stmt.get(), 2)));
  if (!identifiers.ok()) {
    return absl::InternalError(absl::StrCat("order ", order.order_url, " in ", path_,
                                            " has a malformed identifier: ",
                                            identifiers.status().message()));
  }
  order.identifiers = *std::move(identifiers);
  order.finalize_url = ColumnText(stmt.get(), 3);
  order.created = ParseTimeText(ColumnText(stmt.get(), 4));
  order.status = ColumnText(stmt.get(), 5);
  order.account = ColumnText(stmt.get(), 6);
  return order;
}

absl::Status StateStore::RecordOrderResource(const OrderResource& resource) {
  absl::MutexLock lock(&mu_);
  return RecordOrderResourceLocked(resource);
}

absl::Status StateStore::RecordOrderResourceLocked(const OrderResource& resource) {
  ASSIGN_OR_RETURN(Stmt insert,
                   Prepare(db_.get(),
                           "INSERT INTO order_resources (url, order_url, agent, kind) "
                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (url, agent) DO NOTHING"));
  BindAll(insert.get(), resource.url, resource.order_url, resource.agent,
          OrderResourceKindName(resource.kind));
  int rc = sqlite3_step(insert.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot record ", resource.url));
  }
  return absl::OkStatus();
}

absl::StatusOr<OrderResource> StateStore::FindOrderResource(absl::string_view url,
                                                            absl::string_view agent) const {
  {
    absl::MutexLock lock(&mu_);
    // The caller's own row first; otherwise any owner's, so a refusal can say whose it is.
    ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                        "SELECT url, order_url, agent, kind FROM order_resources "
                                        "WHERE url = ?1 ORDER BY agent = ?2 DESC, agent LIMIT 1"));
    BindAll(stmt.get(), url, agent);
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_ROW) {
      OrderResource resource;
      resource.url = ColumnText(stmt.get(), 0);
      resource.order_url = ColumnText(stmt.get(), 1);
      resource.agent = ColumnText(stmt.get(), 2);
      ASSIGN_OR_RETURN(resource.kind, KindFromText(ColumnText(stmt.get(), 3)));
      return resource;
    }
    if (rc != SQLITE_DONE) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot read owner of ", url));
    }
  }
  absl::StatusOr<OrderRecord> order = FindOrder(url);
  if (!order.ok()) return order.status();
  return OrderResource{order->order_url, order->order_url, order->agent,
                       OrderResourceKind::kOrder};
}

absl::Status StateStore::RecordNewOrderIntent(absl::string_view agent, absl::string_view account,
                                              const std::vector<Identifier>& identifiers,
                                              absl::Time when, absl::Duration keep) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt prune,
                   Prepare(db_.get(), "DELETE FROM new_order_intents WHERE signed_at < ?1"));
  BindAll(prune.get(), TimeText(when - keep));
  int rc = sqlite3_step(prune.get());
  if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, "cannot prune newOrder intents");
  ASSIGN_OR_RETURN(Stmt insert, Prepare(db_.get(),
                                        "INSERT INTO new_order_intents (agent, identifiers, "
                                        "signed_at, account) VALUES (?1, ?2, ?3, ?4)"));
  BindAll(insert.get(), agent, NewOrderIntentKey(identifiers), TimeText(when), account);
  rc = sqlite3_step(insert.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot record a newOrder of ", agent));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> StateStore::HasNewOrderIntent(absl::string_view agent,
                                                   absl::string_view account,
                                                   const std::vector<Identifier>& identifiers,
                                                   absl::Time since) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "SELECT 1 FROM new_order_intents WHERE agent = ?1 AND "
                                      "identifiers = ?2 AND signed_at >= ?3 AND account = ?4 "
                                      "LIMIT 1"));
  BindAll(stmt.get(), agent, NewOrderIntentKey(identifiers), TimeText(since), account);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_.get(), rc, absl::StrCat("cannot read newOrders of ", agent));
}

absl::Status StateStore::AdoptOrder(const AdoptedOrder& order) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot adopt order ", order.order_url);
  RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE", context));
  // Runs under `lock`; the annotation tells -Wthread-safety so (lambdas are analysed alone).
  absl::Status status = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    ASSIGN_OR_RETURN(Stmt owner,
                     Prepare(db_.get(), "SELECT agent FROM orders WHERE order_url = ?1"));
    BindAll(owner.get(), order.order_url);
    int rc = sqlite3_step(owner.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    // Adopted already by this agent (two requests raced): only the resources are new.
    const bool already_adopted = rc == SQLITE_ROW;
    if (!already_adopted) {
      ASSIGN_OR_RETURN(Stmt intent,
                       Prepare(db_.get(),
                               "DELETE FROM new_order_intents WHERE id = (SELECT id FROM "
                               "new_order_intents WHERE agent = ?1 AND identifiers = ?2 "
                               "AND account = ?3 ORDER BY signed_at LIMIT 1)"));
      BindAll(intent.get(), order.agent, NewOrderIntentKey(order.identifiers), order.account);
      rc = sqlite3_step(intent.get());
      if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
      if (sqlite3_changes(db_.get()) != 1) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the signer signed no unused newOrder for exactly these identifiers for agent ",
            order.agent));
      }
    }
    // AlreadyExists when another agent has the order.
    RETURN_IF_ERROR(
        RecordOrderLocked(order.order_url, order.agent, order.identifiers, order.finalize_url,
                          order.account));
    for (const OrderResource& resource : order.resources) {
      RETURN_IF_ERROR(RecordOrderResourceLocked(resource));
    }
    return absl::OkStatus();
  }();
  if (status.ok()) status = Exec(db_.get(), "COMMIT", context);
  if (!status.ok()) (void)Exec(db_.get(), "ROLLBACK", context);
  return status;
}

absl::Status StateStore::RecordCertificate(const CertificateRecord& cert) {
  if (cert.serial.empty()) return absl::InvalidArgumentError("certificate serial is empty");
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt insert,
                   Prepare(db_.get(),
                           "INSERT INTO inventory (serial, agent, names, not_before, not_after, "
                           "order_url, certificate_sha256, account) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                           "ON CONFLICT (serial) DO NOTHING"));
  BindAll(insert.get(), cert.serial, cert.agent, StringsToJson(cert.names),
          TimeText(cert.not_before), TimeText(cert.not_after), cert.order_url,
          cert.certificate_sha256,
          cert.account.empty() ? std::string(kDefaultAccountForRecords) : cert.account);
  int rc = sqlite3_step(insert.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot record certificate ", cert.serial));
  }
  if (sqlite3_changes(db_.get()) == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(
      Stmt existing,
      Prepare(db_.get(), "SELECT agent, certificate_sha256 FROM inventory WHERE serial = ?1"));
  BindAll(existing.get(), cert.serial);
  rc = sqlite3_step(existing.get());
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read certificate ", cert.serial));
  }
  if (ColumnText(existing.get(), 0) != cert.agent ||
      ColumnText(existing.get(), 1) != cert.certificate_sha256) {
    return absl::AlreadyExistsError(
        absl::StrCat("certificate serial ", cert.serial,
                     " is already recorded with a different agent or certificate hash"));
  }
  return absl::OkStatus();
}

absl::Status StateStore::MarkRevoked(absl::string_view serial, int reason, absl::Time when) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE inventory SET revoked = 1, revocation_reason = ?2, "
                                      "revoked_at = ?3 WHERE serial = ?1 AND revoked = 0"));
  BindAll(stmt.get(), serial, reason, TimeText(when));
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot mark ", serial, " revoked"));
  }
  if (sqlite3_changes(db_.get()) == 1) return absl::OkStatus();

  ASSIGN_OR_RETURN(Stmt exists, Prepare(db_.get(), "SELECT 1 FROM inventory WHERE serial = ?1"));
  BindAll(exists.get(), serial);
  rc = sqlite3_step(exists.get());
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no certificate with serial ", serial));
  }
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read certificate ", serial));
  }
  return absl::OkStatus();  // already revoked
}

absl::StatusOr<std::optional<CertificateRecord>> StateStore::FindCertificateBySha256(
    absl::string_view certificate_sha256) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(), ACME_SIGNER_INVENTORY_SELECT "WHERE certificate_sha256 = ?1 LIMIT 1"));
  BindAll(stmt.get(), certificate_sha256);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read inventory in ", path_));
  }
  return ReadCertificateRow(stmt.get());
}

absl::StatusOr<std::vector<CertificateRecord>> StateStore::ListInventory(
    std::optional<std::string> agent, std::optional<std::string> account) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_INVENTORY_SELECT
                                      "WHERE (?1 IS NULL OR agent = ?1) AND "
                                      "(?2 IS NULL OR account = ?2) ORDER BY not_after, serial"));
  if (agent.has_value()) sqlite3_bind_text(stmt.get(), 1, agent->data(),
                                           static_cast<int>(agent->size()), SQLITE_TRANSIENT);
  if (account.has_value()) sqlite3_bind_text(stmt.get(), 2, account->data(),
                                             static_cast<int>(account->size()), SQLITE_TRANSIENT);
  std::vector<CertificateRecord> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot list inventory in ", path_));
    }
    out.push_back(ReadCertificateRow(stmt.get()));
  }
  return out;
}

#define ACME_SIGNER_SIGNER_ACCOUNT_SELECT                                                  \
  "SELECT name, directory_url, account_url, key_thumbprint, status, registered_at, "     \
  "updated_at, rollover_new_key FROM accounts "

namespace {
AccountRecord ReadSignerAccountRow(sqlite3_stmt* stmt) {
  AccountRecord account;
  account.name = ColumnText(stmt, 0);
  account.directory_url = ColumnText(stmt, 1);
  account.account_url = ColumnText(stmt, 2);
  account.key_thumbprint = ColumnText(stmt, 3);
  account.status = ColumnText(stmt, 4);
  account.registered_at = ParseTimeText(ColumnText(stmt, 5));
  account.updated_at = ParseTimeText(ColumnText(stmt, 6));
  account.rollover_new_key = ColumnText(stmt, 7);
  return account;
}
}  // namespace

absl::Status StateStore::PutAccount(const AccountRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(),
                           "INSERT INTO accounts (name, directory_url, account_url, "
                           "key_thumbprint, status, registered_at, updated_at, rollover_new_key) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (name) DO UPDATE "
                           "SET directory_url = excluded.directory_url, "
                           "account_url = excluded.account_url, "
                           "key_thumbprint = excluded.key_thumbprint, status = excluded.status, "
                           "registered_at = excluded.registered_at, "
                           "updated_at = excluded.updated_at, "
                           "rollover_new_key = excluded.rollover_new_key"));
  BindAll(stmt.get(), record.name, record.directory_url, record.account_url,
          record.key_thumbprint, record.status, TimeText(record.registered_at),
          TimeText(record.updated_at), record.rollover_new_key);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot record account ", record.name, " in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AccountRecord>> StateStore::FindAccount(
    absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_SIGNER_ACCOUNT_SELECT "WHERE name = ?1"));
  BindAll(stmt.get(), name);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read account ", name, " from ", path_));
  }
  return ReadSignerAccountRow(stmt.get());
}

absl::StatusOr<std::vector<AccountRecord>> StateStore::ListAccounts() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_SIGNER_ACCOUNT_SELECT "ORDER BY name"));
  std::vector<AccountRecord> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot list accounts in ", path_));
    }
    out.push_back(ReadSignerAccountRow(stmt.get()));
  }
  return out;
}

absl::Status StateStore::AddFrontDoorCredential(absl::string_view kid, absl::string_view host,
                                                absl::string_view account, absl::Time created) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(),
                           "INSERT INTO frontdoor_credentials (kid, host, created, account) "
                           "VALUES (?1, ?2, ?3, ?4)"));
  BindAll(stmt.get(), kid, host, TimeText(created), account);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot record front-door credential ", kid, " for host ", host,
                                    " in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FrontDoorCredential>> StateStore::FindFrontDoorCredential(
    absl::string_view kid) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_CREDENTIAL_SELECT "WHERE kid = ?1"));
  BindAll(stmt.get(), kid);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot read front-door credentials from ", path_));
  }
  return ReadCredentialRow(stmt.get());
}

absl::Status StateStore::BindFrontDoorCredential(absl::string_view kid,
                                                 absl::string_view account_thumbprint,
                                                 absl::Time when) {
  absl::MutexLock lock(&mu_);
  // One conditional UPDATE: two newAccounts racing with one key id (in this process or
  // another) cannot both bind it.
  ASSIGN_OR_RETURN(Stmt update, Prepare(db_.get(),
                                        "UPDATE frontdoor_credentials SET account_thumbprint = ?2, "
                                        "bound_at = ?3 WHERE kid = ?1 AND disabled = 0 AND "
                                        "account_thumbprint IS NULL"));
  BindAll(update.get(), kid, account_thumbprint, TimeText(when));
  int rc = sqlite3_step(update.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot bind front-door credential ", kid, " in ", path_));
  }
  if (sqlite3_changes(db_.get()) == 1) return absl::OkStatus();
  // Why not: read the row as it is now.
  ASSIGN_OR_RETURN(Stmt find, Prepare(db_.get(), ACME_SIGNER_CREDENTIAL_SELECT "WHERE kid = ?1"));
  BindAll(find.get(), kid);
  rc = sqlite3_step(find.get());
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(absl::StrCat("no front-door credential with key id ", kid));
  }
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot read front-door credentials from ", path_));
  }
  const FrontDoorCredential credential = ReadCredentialRow(find.get());
  if (credential.disabled) {
    return absl::FailedPreconditionError(
        absl::StrCat("front-door credential ", kid, " of host ", credential.host, " is disabled"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "front-door credential ", kid, " of host ", credential.host,
      " is already bound to the account with key thumbprint ",
      credential.account_thumbprint.value_or(""), " (since ", TimeText(credential.bound_at),
      "); a key id registers one account, once: issue another with acme-signer enroll-client"));
}

absl::StatusOr<int> StateStore::DisableFrontDoorCredentials(absl::string_view host) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE frontdoor_credentials SET disabled = 1 "
                                      "WHERE host = ?1 AND disabled = 0"));
  BindAll(stmt.get(), host);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(
        db_.get(), rc,
        absl::StrCat("cannot disable the front-door credentials of host ", host, " in ", path_));
  }
  return sqlite3_changes(db_.get());
}

absl::StatusOr<std::vector<FrontDoorCredential>> StateStore::ListFrontDoorCredentials(
    absl::string_view host) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_CREDENTIAL_SELECT
                                      "WHERE host = ?1 ORDER BY created, kid"));
  BindAll(stmt.get(), host);
  std::vector<FrontDoorCredential> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc,
                         absl::StrCat("cannot list front-door credentials from ", path_));
    }
    out.push_back(ReadCredentialRow(stmt.get()));
  }
  return out;
}


absl::Status StateStore::CreateFrontDoorAccount(const FrontDoorAccount& account) {
  // BindFrontDoorCredential takes the lock; the binding and the insert must be one
  // transaction, so the bind runs here as the same conditional UPDATE.
  absl::MutexLock lock(&mu_);
  const std::string context =
      absl::StrCat("cannot record front-door account ", account.id, " in ", path_);
  RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE", context));
  absl::Status status = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    ASSIGN_OR_RETURN(Stmt taken, Prepare(db_.get(), ACME_SIGNER_ACCOUNT_SELECT
                                         "WHERE thumbprint = ?1"));
    BindAll(taken.get(), account.thumbprint);
    int rc = sqlite3_step(taken.get());
    if (rc == SQLITE_ROW) {
      return absl::AlreadyExistsError(absl::StrCat(
          "the key with thumbprint ", account.thumbprint, " is already the key of account ",
          ColumnText(taken.get(), 0)));
    }
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    ASSIGN_OR_RETURN(Stmt bind, Prepare(db_.get(),
                                        "UPDATE frontdoor_credentials SET account_thumbprint = ?2, "
                                        "bound_at = ?3 WHERE kid = ?1 AND disabled = 0 AND "
                                        "account_thumbprint IS NULL"));
    BindAll(bind.get(), account.eab_kid, account.thumbprint, TimeText(account.created));
    rc = sqlite3_step(bind.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    if (sqlite3_changes(db_.get()) != 1) {
      ASSIGN_OR_RETURN(Stmt find,
                       Prepare(db_.get(), ACME_SIGNER_CREDENTIAL_SELECT "WHERE kid = ?1"));
      BindAll(find.get(), account.eab_kid);
      rc = sqlite3_step(find.get());
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(
            absl::StrCat("no front-door credential with key id ", account.eab_kid));
      }
      if (rc != SQLITE_ROW) return SqliteError(db_.get(), rc, context);
      const FrontDoorCredential credential = ReadCredentialRow(find.get());
      if (credential.disabled) {
        return absl::FailedPreconditionError(absl::StrCat(
            "front-door credential ", account.eab_kid, " of host ", credential.host,
            " is disabled"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "front-door credential ", account.eab_kid, " of host ", credential.host,
          " is already bound to an account (since ", TimeText(credential.bound_at),
          "); a key id registers one account, once: issue another with acme-signer "
          "enroll-client"));
    }
    ASSIGN_OR_RETURN(Stmt insert,
                     Prepare(db_.get(),
                             "INSERT INTO frontdoor_accounts (id, host, eab_kid, jwk, thumbprint, "
                             "status, contact, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
    BindAll(insert.get(), account.id, account.host, account.eab_kid, account.jwk,
            account.thumbprint, account.status, StringsToJson(account.contact),
            TimeText(account.created));
    rc = sqlite3_step(insert.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    return absl::OkStatus();
  }();
  if (status.ok()) status = Exec(db_.get(), "COMMIT", context);
  if (!status.ok()) (void)Exec(db_.get(), "ROLLBACK", context);
  return status;
}

absl::StatusOr<std::optional<FrontDoorAccount>> StateStore::FindFrontDoorAccount(
    absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_ACCOUNT_SELECT "WHERE id = ?1"));
  BindAll(stmt.get(), id);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read front-door accounts from ", path_));
  }
  return ReadAccountRow(stmt.get());
}

absl::StatusOr<std::optional<FrontDoorAccount>> StateStore::FindFrontDoorAccountByThumbprint(
    absl::string_view thumbprint) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(), ACME_SIGNER_ACCOUNT_SELECT "WHERE thumbprint = ?1"));
  BindAll(stmt.get(), thumbprint);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read front-door accounts from ", path_));
  }
  return ReadAccountRow(stmt.get());
}

absl::Status StateStore::UpdateFrontDoorAccount(const FrontDoorAccount& account) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE frontdoor_accounts SET status = ?2, contact = ?3, "
                                      "jwk = ?4, thumbprint = ?5 WHERE id = ?1"));
  BindAll(stmt.get(), account.id, account.status, StringsToJson(account.contact), account.jwk,
          account.thumbprint);
  int rc = sqlite3_step(stmt.get());
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(absl::StrCat("the key with thumbprint ", account.thumbprint,
                                                 " is already another account's key"));
  }
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot update front-door account ", account.id, " in ", path_));
  }
  if (sqlite3_changes(db_.get()) != 1) {
    return absl::NotFoundError(absl::StrCat("no front-door account ", account.id));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> StateStore::RevokeFrontDoorAccounts(absl::string_view host) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE frontdoor_accounts SET status = 'revoked' "
                                      "WHERE host = ?1 AND status = 'valid'"));
  BindAll(stmt.get(), host);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(
        db_.get(), rc,
        absl::StrCat("cannot revoke the front-door accounts of host ", host, " in ", path_));
  }
  return sqlite3_changes(db_.get());
}

absl::Status StateStore::PutFrontDoorObject(const FrontDoorObject& object) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(),
                           "INSERT INTO frontdoor_objects (kind, id, account, body) "
                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, id) DO UPDATE SET "
                           "body = excluded.body WHERE account = excluded.account"));
  BindAll(stmt.get(), object.kind, object.id, object.account, object.body);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot store front-door ", object.kind, " ", object.id,
                                    " in ", path_));
  }
  if (sqlite3_changes(db_.get()) != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "front-door ", object.kind, " ", object.id, " belongs to another account"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<FrontDoorObject>> StateStore::GetFrontDoorObject(
    absl::string_view kind, absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "SELECT account, body FROM frontdoor_objects "
                                      "WHERE kind = ?1 AND id = ?2"));
  BindAll(stmt.get(), kind, id);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot read front-door objects from ", path_));
  }
  FrontDoorObject object;
  object.kind = std::string(kind);
  object.id = std::string(id);
  object.account = ColumnText(stmt.get(), 0);
  object.body = ColumnText(stmt.get(), 1);
  return object;
}

absl::StatusOr<std::vector<FrontDoorObject>> StateStore::ListFrontDoorObjectsWithStatus(
    absl::string_view kind, absl::string_view status) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "SELECT id, account, body FROM frontdoor_objects "
                                      "WHERE kind = ?1 AND json_valid(body) AND "
                                      "json_extract(body, '$.status') = ?2 ORDER BY rowid"));
  BindAll(stmt.get(), kind, status);
  std::vector<FrontDoorObject> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc,
                         absl::StrCat("cannot list front-door objects from ", path_));
    }
    FrontDoorObject object;
    object.kind = std::string(kind);
    object.id = ColumnText(stmt.get(), 0);
    object.account = ColumnText(stmt.get(), 1);
    object.body = ColumnText(stmt.get(), 2);
    out.push_back(std::move(object));
  }
  return out;
}

absl::Status StateStore::RecordAgentCertificate(const AgentCertificateRecord& cert) {
  if (cert.sha256.empty() || cert.agent.empty()) {
    return absl::InvalidArgumentError("agent certificate record without fingerprint or agent");
  }
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(),
                           "INSERT INTO agent_certificates (sha256, agent, serial, not_before, "
                           "not_after, issued_at, source, renewed_from) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  BindAll(stmt.get(), cert.sha256, cert.agent, cert.serial, TimeText(cert.not_before),
          TimeText(cert.not_after), TimeText(cert.issued_at), cert.source,
          cert.renewed_from.value_or(""));
  if (!cert.renewed_from.has_value()) sqlite3_bind_null(stmt.get(), 8);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return absl::AlreadyExistsError(
        absl::StrCat("agent certificate ", cert.sha256, " is already recorded"));
  }
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot record agent certificate ", cert.sha256, " of ",
                                    cert.agent, " in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AgentCertificateRecord>> StateStore::ListAgentCertificates(
    absl::string_view agent) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_AGENT_CERT_SELECT
                                      "WHERE ?1 = '' OR agent = ?1 ORDER BY issued_at, sha256"));
  BindAll(stmt.get(), agent);
  std::vector<AgentCertificateRecord> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot list agent certificates in ", path_));
    }
    out.push_back(ReadAgentCertificateRow(stmt.get()));
  }
  return out;
}

absl::StatusOr<std::optional<AgentCertificateRecord>> StateStore::FindAgentCertificate(
    absl::string_view sha256) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_AGENT_CERT_SELECT "WHERE sha256 = ?1"));
  BindAll(stmt.get(), sha256);
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    return SqliteError(db_.get(), rc, absl::StrCat("cannot read agent certificates in ", path_));
  }
  return ReadAgentCertificateRow(stmt.get());
}

absl::StatusOr<int> StateStore::RevokeAgentCertificates(absl::string_view agent,
                                                        absl::Time when) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "UPDATE agent_certificates SET revoked = 1, revoked_at = ?2 "
                                      "WHERE agent = ?1 AND revoked = 0"));
  BindAll(stmt.get(), agent, TimeText(when));
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot revoke the certificates of agent ", agent, " in ",
                                    path_));
  }
  return sqlite3_changes(db_.get());
}

absl::StatusOr<std::vector<std::string>> StateStore::RevokedAgentCertificateFingerprints() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "SELECT sha256 FROM agent_certificates WHERE revoked = 1 "
                                      "ORDER BY sha256"));
  std::vector<std::string> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc,
                         absl::StrCat("cannot read revoked agent certificates in ", path_));
    }
    out.push_back(ColumnText(stmt.get(), 0));
  }
  return out;
}

absl::Status StateStore::AddEnrollmentToken(const EnrollmentToken& token) {
  if (token.token_sha256.size() != 64 || token.agent.empty()) {
    return absl::InvalidArgumentError("enrolment token record without hash or agent");
  }
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "INSERT INTO enrollment_tokens (token_sha256, agent, "
                                      "created, expires) VALUES (?1, ?2, ?3, ?4)"));
  BindAll(stmt.get(), token.token_sha256, token.agent, TimeText(token.created),
          TimeText(token.expires));
  int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return absl::AlreadyExistsError("this enrolment token is already stored");
  }
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot store an enrolment token for agent ", token.agent,
                                    " in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<EnrollmentToken> StateStore::RedeemEnrollmentToken(
    absl::string_view token_sha256, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const std::string context = absl::StrCat("cannot redeem an enrolment token in ", path_);
  RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE", context));
  absl::StatusOr<EnrollmentToken> result =
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<EnrollmentToken> {
    ASSIGN_OR_RETURN(Stmt find,
                     Prepare(db_.get(), ACME_SIGNER_TOKEN_SELECT "WHERE token_sha256 = ?1"));
    BindAll(find.get(), token_sha256);
    int rc = sqlite3_step(find.get());
    if (rc == SQLITE_DONE) return absl::NotFoundError("unknown enrolment token");
    if (rc != SQLITE_ROW) return SqliteError(db_.get(), rc, context);
    EnrollmentToken token = ReadTokenRow(find.get());
    find.reset();
    if (token.used_at != absl::InfinitePast()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the enrolment token for agent ", token.agent, " was already used at ",
                       absl::FormatTime(token.used_at, absl::UTCTimeZone())));
    }
    if (now >= token.expires) {
      return absl::DeadlineExceededError(
          absl::StrCat("the enrolment token for agent ", token.agent, " expired at ",
                       absl::FormatTime(token.expires, absl::UTCTimeZone())));
    }
    ASSIGN_OR_RETURN(Stmt use, Prepare(db_.get(),
                                       "UPDATE enrollment_tokens SET used_at = ?2 "
                                       "WHERE token_sha256 = ?1 AND used_at = ''"));
    BindAll(use.get(), token_sha256, TimeText(now));
    rc = sqlite3_step(use.get());
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), rc, context);
    if (sqlite3_changes(db_.get()) != 1) {
      return absl::FailedPreconditionError("the enrolment token was already used");
    }
    token.used_at = now;
    return token;
  }();
  // A refused token changes nothing, so its transaction is rolled back like a failed one.
  if (!result.ok()) {
    (void)Exec(db_.get(), "ROLLBACK", context);
    return result;
  }
  RETURN_IF_ERROR(Exec(db_.get(), "COMMIT", context));
  return result;
}

absl::StatusOr<std::vector<EnrollmentToken>> StateStore::ListEnrollmentTokens(
    absl::string_view agent) const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(), ACME_SIGNER_TOKEN_SELECT
                                      "WHERE ?1 = '' OR agent = ?1 ORDER BY created"));
  BindAll(stmt.get(), agent);
  std::vector<EnrollmentToken> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot list enrolment tokens in ", path_));
    }
    out.push_back(ReadTokenRow(stmt.get()));
  }
  return out;
}

absl::Status StateStore::NoteAgentSeen(const AgentSeen& seen) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt, Prepare(db_.get(),
                                      "INSERT INTO agents_seen (agent, at, peer) "
                                      "VALUES (?1, ?2, ?3) ON CONFLICT (agent) DO UPDATE "
                                      "SET at = excluded.at, peer = excluded.peer"));
  BindAll(stmt.get(), seen.agent, TimeText(seen.at), seen.peer);
  int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) {
    return SqliteError(db_.get(), rc,
                       absl::StrCat("cannot note agent ", seen.agent, " as seen in ", path_));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AgentSeen>> StateStore::ListAgentsSeen() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Stmt stmt,
                   Prepare(db_.get(), "SELECT agent, at, peer FROM agents_seen ORDER BY agent"));
  std::vector<AgentSeen> out;
  while (true) {
    int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      return SqliteError(db_.get(), rc, absl::StrCat("cannot list agents seen in ", path_));
    }
    AgentSeen seen;
    seen.agent = ColumnText(stmt.get(), 0);
    seen.at = ParseTimeText(ColumnText(stmt.get(), 1));
    seen.peer = ColumnText(stmt.get(), 2);
    out.push_back(std::move(seen));
  }
  return out;
}

}  // namespace acme_signer::signer
