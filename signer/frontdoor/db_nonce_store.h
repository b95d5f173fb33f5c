// DbNonceStore: the front door's nonces in the database shared by every replica ([state]
// backend = "postgresql"), so that a nonce issued by one replica is accepted, exactly once, by
// whichever replica the load balancer sends the next request to.
//
// Table frontdoor_nonces (nonce PRIMARY KEY, expires_us): Issue inserts a row, Consume is one
// `DELETE ... WHERE nonce = $1 AND expires_us > now RETURNING` (the row lock makes two replicas
// racing for the same nonce see one winner), and every kSweepEvery-th Issue deletes expired
// rows and trims the table to `capacity` (oldest first), so a flood of HEAD newNonce cannot grow
// it without bound. Times are microseconds since the epoch by Options.clock.
//
// A database error fails Issue/Consume with the database's status (the request is refused, not
// answered with badNonce); the connection is reset before the next statement, so the store
// recovers by itself when the database is back.
//
// Thread-safe: one connection, calls serialized by a mutex (each is one short statement).
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_DB_NONCE_STORE_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_DB_NONCE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "signer/db/pg_connection.h"
#include "signer/frontdoor/nonce_store.h"

namespace acme_signer::signer::frontdoor {

// The DDL of frontdoor_nonces, in order; idempotent. Run by the schema migration (tests may run
// it on a fresh database).
std::vector<std::string> DbNonceStoreSchema();

class DbNonceStore final : public NonceStore {
 public:
  // Issues between two sweeps of expired and excess nonces.
  static constexpr uint64_t kSweepEvery = 256;

  // Connects to options.postgresql_conninfo. InvalidArgument for bad options, Unavailable when
  // the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<DbNonceStore>> Create(Options options);

  absl::StatusOr<std::string> Issue() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Consume(absl::string_view nonce) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<size_t> size() const override ABSL_LOCKS_EXCLUDED(mu_);

  // Deletes expired nonces and trims to capacity now (Issue does it every kSweepEvery).
  absl::Status Sweep() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  DbNonceStore(Options options, std::unique_ptr<db::PgConnection> conn);
  int64_t NowMicros() const;
  absl::Status SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  const std::unique_ptr<db::PgConnection> conn_ ABSL_PT_GUARDED_BY(mu_);
  uint64_t issued_since_sweep_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_DB_NONCE_STORE_H_
