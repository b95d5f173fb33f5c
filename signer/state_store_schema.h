// The state store's schema and its versioned migrations, for both engines. Migrations run only
// when an operator asks (`acme-signer init`, `acme-signer migrate`), never implicitly by
// `serve` or an admin command: those check the version and refuse an older schema.
//
// SQLite keeps the version in PRAGMA user_version and upgrades along the chain 1..7 that
// single-host signers have followed (each step also moves data: kv rows to typed tables, the
// one account to `default`). PostgreSQL starts at 7 with a baseline that creates the schema-7
// tables directly, and records each applied version in `schema_migrations` (version,
// applied_at); later versions append a step to both lists.
//
// Thread-safety: functions of one SqlDatabase, which the caller serializes. Several processes
// may migrate the same database at once: SQLite's BEGIN IMMEDIATE and a PostgreSQL advisory
// lock make them take turns, and the second finds nothing left to do.
#ifndef ACME_SIGNER_SIGNER_STATE_STORE_SCHEMA_H_
#define ACME_SIGNER_SIGNER_STATE_STORE_SCHEMA_H_

#include "absl/status/statusor.h"
#include "signer/db/sql_database.h"

namespace acme_signer::signer {

// The schema version this code reads and writes.
// 1: kv, orders, inventory. 2: order_resources (replaces "challenge-owner:" kv rows),
// new_order_intents. 3: frontdoor_credentials. 4: frontdoor_accounts, frontdoor_objects.
// 5: agent_certificates, enrollment_tokens, agents_seen. 6: accounts; `account` columns.
// 7: rate_events; orders.finalize_claimed_by/_until. (PostgreSQL: 7 is the baseline.)
// 8: inventory.issued_at.
inline constexpr int kStateSchemaVersion = 8;

// The database's schema version; 0 for a database without the store's tables.
absl::StatusOr<int> ReadStateSchemaVersion(db::SqlDatabase& db);

// OK when the schema is kStateSchemaVersion. FailedPrecondition otherwise, naming the command
// that fixes it with `config_path` (the --config to pass): `acme-signer init` for an empty
// database, `acme-signer migrate` for an older schema, a newer acme-signer for a newer one.
absl::Status CheckStateSchemaIsCurrent(db::SqlDatabase& db, absl::string_view config_path);

// Brings the schema to kStateSchemaVersion in one transaction and returns the version it
// found (kStateSchemaVersion: nothing to do). FailedPrecondition for a newer schema; nothing
// changes on error.
absl::StatusOr<int> MigrateStateSchema(db::SqlDatabase& db);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_STATE_STORE_SCHEMA_H_
