#include "signer/state_store_schema.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "signer/db_audit_log.h"
#include "signer/frontdoor/db_nonce_store.h"

namespace acme_signer::signer {
namespace {

using db::SqlDatabase;
using db::SqlRows;

// ---- SQLite: the upgrade chain single-host signers have followed ----

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
    ("CREATE TABLE frontdoor_objects (kind TEXT NOT NULL, id TEXT NOT NULL, "
    "account TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))"),
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
    ("CREATE TABLE agents_seen (agent TEXT PRIMARY KEY NOT NULL, at TEXT NOT NULL, "
    "peer TEXT NOT NULL)"),
};

// Schema 6: several ACME accounts (issue 15). Everything recorded before belongs to the one
// account there was, `default`; its URL moves from the key/value table to the accounts table.
constexpr const char* kSchemaV6[] = {
    "CREATE TABLE accounts (name TEXT PRIMARY KEY NOT NULL, directory_url TEXT NOT NULL, "
    "account_url TEXT NOT NULL, key_thumbprint TEXT NOT NULL DEFAULT '', "
    "status TEXT NOT NULL DEFAULT 'valid', registered_at TEXT NOT NULL DEFAULT '', "
    "updated_at TEXT NOT NULL DEFAULT '', rollover_new_key TEXT NOT NULL DEFAULT '')",
    ("INSERT INTO accounts (name, directory_url, account_url) "
    "SELECT 'default', '', value FROM kv WHERE key = 'acme.account_url'"),
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

// 8: when the signer recorded each certificate (the inventory's issued-at column; `audit
// report` and `inventory` show it). Rows recorded before have '' and read as their not_before.
constexpr const char* kSchemaV8[] = {
    "ALTER TABLE inventory ADD COLUMN issued_at TEXT NOT NULL DEFAULT ''",
};

struct SqliteStep {
  int version;
  const char* const* statements;
  size_t count;
};

template <size_t N>
constexpr SqliteStep Step(int version, const char* const (&statements)[N]) {
  return {version, statements, N};
}

constexpr SqliteStep kSqliteSteps[] = {
    Step(1, kSchemaV1), Step(2, kSchemaV2), Step(3, kSchemaV3), Step(4, kSchemaV4),
    Step(5, kSchemaV5), Step(6, kSchemaV6), Step(7, kSchemaV7), Step(8, kSchemaV8),
};
static_assert(sizeof(kSqliteSteps) / sizeof(kSqliteSteps[0]) == kStateSchemaVersion,
              "one SQLite step per schema version");

// ---- PostgreSQL: versioned migrations from a schema-7 baseline ----

// Every text column compares and sorts bytewise, as SQLite's BINARY collation does: the store
// relies on text order being time order for its fixed-width timestamps, whatever locale the
// database was created with.
#define ACME_SIGNER_PG_TEXT "TEXT COLLATE \"C\""
#define T ACME_SIGNER_PG_TEXT

// Version 7: the tables of SQLite schema 7, created directly. Differences, each for the same
// behaviour: identity columns instead of SQLite's implicit rowid (new_order_intents.id;
// frontdoor_objects.rowid, named so that "ORDER BY rowid" means insertion order on both).
constexpr const char* kPostgresBaseline[] = {
    "CREATE TABLE kv (key " T " PRIMARY KEY, value " T " NOT NULL)",
    "CREATE TABLE orders (order_url " T " PRIMARY KEY, agent " T " NOT NULL, "
    "identifiers " T " NOT NULL, finalize_url " T " NOT NULL, created " T " NOT NULL, "
    "status " T " NOT NULL, account " T " NOT NULL DEFAULT 'default', "
    "finalize_claimed_by " T " NOT NULL DEFAULT '', "
    "finalize_claimed_until " T " NOT NULL DEFAULT '')",
    "CREATE INDEX orders_by_finalize_url ON orders (finalize_url)",
    "CREATE TABLE inventory (serial " T " PRIMARY KEY, agent " T " NOT NULL, "
    "names " T " NOT NULL, not_before " T " NOT NULL, not_after " T " NOT NULL, "
    "order_url " T " NOT NULL, certificate_sha256 " T " NOT NULL, "
    "revoked INTEGER NOT NULL DEFAULT 0, revocation_reason INTEGER NOT NULL DEFAULT 0, "
    "revoked_at " T " NOT NULL DEFAULT '', account " T " NOT NULL DEFAULT 'default')",
    "CREATE INDEX inventory_by_agent ON inventory (agent)",
    "CREATE INDEX inventory_by_sha256 ON inventory (certificate_sha256)",
    "CREATE INDEX inventory_by_account ON inventory (account)",
    "CREATE TABLE order_resources (url " T " NOT NULL, agent " T " NOT NULL, "
    "order_url " T " NOT NULL, kind " T " NOT NULL, PRIMARY KEY (url, agent))",
    "CREATE INDEX order_resources_by_order ON order_resources (order_url)",
    "CREATE TABLE new_order_intents (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "agent " T " NOT NULL, identifiers " T " NOT NULL, signed_at " T " NOT NULL, "
    "account " T " NOT NULL DEFAULT 'default')",
    "CREATE INDEX new_order_intents_by_agent ON new_order_intents (agent, identifiers)",
    "CREATE TABLE frontdoor_credentials (kid " T " PRIMARY KEY, host " T " NOT NULL, "
    "created " T " NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, "
    "account_thumbprint " T ", bound_at " T ", account " T " NOT NULL DEFAULT 'default')",
    "CREATE INDEX frontdoor_credentials_by_host ON frontdoor_credentials (host)",
    "CREATE TABLE frontdoor_accounts (id " T " PRIMARY KEY, host " T " NOT NULL, "
    "eab_kid " T " NOT NULL, jwk " T " NOT NULL, thumbprint " T " NOT NULL UNIQUE, "
    "status " T " NOT NULL, contact " T " NOT NULL, created " T " NOT NULL)",
    "CREATE INDEX frontdoor_accounts_by_host ON frontdoor_accounts (host)",
    "CREATE TABLE frontdoor_objects (rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, "
    "kind " T " NOT NULL, id " T " NOT NULL, account " T " NOT NULL, body " T " NOT NULL, "
    "PRIMARY KEY (kind, id))",
    "CREATE TABLE agent_certificates (sha256 " T " PRIMARY KEY, agent " T " NOT NULL, "
    "serial " T " NOT NULL, not_before " T " NOT NULL, not_after " T " NOT NULL, "
    "issued_at " T " NOT NULL, source " T " NOT NULL, renewed_from " T ", "
    "revoked INTEGER NOT NULL DEFAULT 0, revoked_at " T " NOT NULL DEFAULT '')",
    "CREATE INDEX agent_certificates_by_agent ON agent_certificates (agent)",
    "CREATE TABLE enrollment_tokens (token_sha256 " T " PRIMARY KEY, agent " T " NOT NULL, "
    "created " T " NOT NULL, expires " T " NOT NULL, used_at " T " NOT NULL DEFAULT '')",
    "CREATE TABLE agents_seen (agent " T " PRIMARY KEY, at " T " NOT NULL, "
    "peer " T " NOT NULL)",
    "CREATE TABLE accounts (name " T " PRIMARY KEY, directory_url " T " NOT NULL, "
    "account_url " T " NOT NULL, key_thumbprint " T " NOT NULL DEFAULT '', "
    "status " T " NOT NULL DEFAULT 'valid', registered_at " T " NOT NULL DEFAULT '', "
    "updated_at " T " NOT NULL DEFAULT '', rollover_new_key " T " NOT NULL DEFAULT '')",
    "CREATE TABLE rate_events (agent " T " NOT NULL, at " T " NOT NULL)",
    "CREATE INDEX rate_events_by_agent ON rate_events (agent, at)",
};

// Version 8: SQLite schema 8's inventory.issued_at.
constexpr const char* kPostgresV8[] = {
    "ALTER TABLE inventory ADD COLUMN issued_at " T " NOT NULL DEFAULT ''",
};

#undef T
#undef ACME_SIGNER_PG_TEXT

// The tables that exist only on PostgreSQL, defined beside the code that uses them: the one
// audit chain of all replicas (signer/db_audit_log.h) and the front-door nonces every replica
// accepts (signer/frontdoor/db_nonce_store.h).
std::vector<std::string> PostgresOnlyTables() {
  std::vector<std::string> statements = DbAuditLogSchema();
  for (std::string& s : frontdoor::DbNonceStoreSchema()) statements.push_back(std::move(s));
  return statements;
}

struct PostgresMigration {
  int version;
  const char* const* statements;
  size_t count;
  // More statements built at run time (nullptr: none).
  std::vector<std::string> (*more)();
};

template <size_t N>
constexpr PostgresMigration Migration(int version, const char* const (&statements)[N],
                                      std::vector<std::string> (*more)() = nullptr) {
  return {version, statements, N, more};
}

// Ascending versions; the last is kStateSchemaVersion.
constexpr PostgresMigration kPostgresMigrations[] = {
    Migration(7, kPostgresBaseline, &PostgresOnlyTables),
    Migration(8, kPostgresV8),
};
static_assert(kPostgresMigrations[sizeof(kPostgresMigrations) / sizeof(kPostgresMigrations[0]) -
                                  1]
                      .version == kStateSchemaVersion,
              "the last PostgreSQL migration is the current schema");

// Two replicas running `migrate` at once take turns on this (transaction-scoped) lock.
constexpr absl::string_view kMigrationLock = "acme-signer state schema migration";

std::string NowText() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone());
}

absl::Status NewerSchema(const SqlDatabase& db, int version) {
  return absl::FailedPreconditionError(absl::StrCat(
      "state store ", db.name(), " has schema version ", version, ", newer than this signer's ",
      kStateSchemaVersion, "; use a newer acme-signer"));
}

absl::StatusOr<int> ReadVersion(SqlDatabase& db, absl::string_view context) {
  if (db.engine() == SqlDatabase::Engine::kSqlite) {
    ASSIGN_OR_RETURN(SqlRows rows, db.Exec(context, "PRAGMA user_version"));
    return static_cast<int>(rows.Int(0, 0));
  }
  // to_regclass follows search_path, as the store's own statements do.
  ASSIGN_OR_RETURN(SqlRows exists,
                   db.Exec(context, "SELECT to_regclass('schema_migrations') IS NOT NULL"));
  if (exists.Text(0, 0) != "t") return 0;
  ASSIGN_OR_RETURN(SqlRows rows,
                   db.Exec(context, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  return static_cast<int>(rows.Int(0, 0));
}

absl::Status RunStatements(SqlDatabase& db, absl::string_view context, const char* const* sql,
                           size_t count) {
  for (size_t i = 0; i < count; ++i) RETURN_IF_ERROR(db.Exec(context, sql[i]).status());
  return absl::OkStatus();
}

absl::Status MigrateSqlite(SqlDatabase& db, absl::string_view context, int version) {
  for (const SqliteStep& step : kSqliteSteps) {
    if (step.version > version) {
      RETURN_IF_ERROR(RunStatements(db, context, step.statements, step.count));
    }
  }
  // PRAGMA takes no bound parameters; the value is a compile-time constant.
  return db.Exec(context, absl::StrCat("PRAGMA user_version = ", kStateSchemaVersion)).status();
}

absl::Status MigratePostgres(SqlDatabase& db, absl::string_view context, int version) {
  for (const PostgresMigration& migration : kPostgresMigrations) {
    if (migration.version <= version) continue;
    RETURN_IF_ERROR(RunStatements(db, context, migration.statements, migration.count));
    if (migration.more != nullptr) {
      for (const std::string& sql : migration.more()) {
        RETURN_IF_ERROR(db.Exec(context, sql).status());
      }
    }
    RETURN_IF_ERROR(
        db.Exec(context, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                {migration.version, NowText()})
            .status());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> ReadStateSchemaVersion(db::SqlDatabase& db) {
  return ReadVersion(db, absl::StrCat("cannot read the schema version of state store ",
                                      db.name()));
}

absl::Status CheckStateSchemaIsCurrent(db::SqlDatabase& db, absl::string_view config_path) {
  ASSIGN_OR_RETURN(int version, ReadStateSchemaVersion(db));
  if (version == kStateSchemaVersion) return absl::OkStatus();
  if (version > kStateSchemaVersion) return NewerSchema(db, version);
  const std::string config = config_path.empty() ? "FILE" : std::string(config_path);
  if (version == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("state store ", db.name(), " has no schema yet (this signer's is version ",
                     kStateSchemaVersion, "); run `acme-signer init --config ", config,
                     "` first"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "state store ", db.name(), " has schema version ", version, ", older than this signer's ",
      kStateSchemaVersion, "; run `acme-signer migrate --config ", config,
      "` (serve and the admin commands never migrate)"));
}

absl::StatusOr<int> MigrateStateSchema(db::SqlDatabase& db) {
  const std::string context = absl::StrCat("cannot migrate state store ", db.name());
  int found = 0;
  // The whole upgrade is one transaction with its version record: a failed step leaves the
  // database as it was. The version is read inside it, under the write lock, so a second
  // migrate that waited sees the first one's result.
  RETURN_IF_ERROR(db::RunInTransaction(db, context, [&]() -> absl::Status {
    if (db.engine() == SqlDatabase::Engine::kPostgresql) {
      RETURN_IF_ERROR(db.LockName(context, kMigrationLock));
      // Statements, not IF NOT EXISTS: that form makes the server send a notice each time.
      ASSIGN_OR_RETURN(SqlRows exists,
                       db.Exec(context, "SELECT to_regclass('schema_migrations') IS NOT NULL"));
      if (exists.Text(0, 0) != "t") {
        RETURN_IF_ERROR(db.Exec(context,
                                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                                "applied_at TEXT NOT NULL)")
                            .status());
      }
    }
    ASSIGN_OR_RETURN(found, ReadVersion(db, context));
    if (found > kStateSchemaVersion) return NewerSchema(db, found);
    if (found == kStateSchemaVersion) return absl::OkStatus();
    return db.engine() == SqlDatabase::Engine::kSqlite ? MigrateSqlite(db, context, found)
                                                       : MigratePostgres(db, context, found);
  }));
  return found;
}

}  // namespace acme_signer::signer
