#include "signer/frontdoor/db_nonce_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr int kMaxIssueAttempts = 4;

}  // namespace

std::vector<std::string> DbNonceStoreSchema() {
  return {
      "CREATE TABLE IF NOT EXISTS frontdoor_nonces ("
      " nonce TEXT PRIMARY KEY,"
      " expires_us BIGINT NOT NULL)",
      // The sweep deletes by expiry and trims the oldest (= first to expire).
      "CREATE INDEX IF NOT EXISTS frontdoor_nonces_expiry ON frontdoor_nonces (expires_us)",
  };
}

absl::StatusOr<std::unique_ptr<DbNonceStore>> DbNonceStore::Create(Options options) {
  RETURN_IF_ERROR(ValidateNonceOptions(options));
  if (options.postgresql_conninfo.empty()) {
    return absl::InvalidArgumentError("the database nonce store needs [state] url");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<db::PgConnection> conn,
                   db::PgConnection::Connect(options.postgresql_conninfo));
  return std::unique_ptr<DbNonceStore>(new DbNonceStore(std::move(options), std::move(conn)));
}

DbNonceStore::DbNonceStore(Options options, std::unique_ptr<db::PgConnection> conn)
    : options_(std::move(options)), conn_(std::move(conn)) {}

int64_t DbNonceStore::NowMicros() const {
  return absl::ToUnixMicros(options_.clock ? options_.clock() : absl::Now());
}

absl::StatusOr<std::string> DbNonceStore::Issue() {
  const int64_t expires = NowMicros() + absl::ToInt64Microseconds(options_.lifetime);
  absl::MutexLock lock(&mu_);
  if (++issued_since_sweep_ >= kSweepEvery) {
    // A failed sweep only delays the cleanup; the nonce itself can still be issued.
    if (SweepLocked().ok()) issued_since_sweep_ = 0;
  }
  for (int attempt = 0; attempt < kMaxIssueAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::string nonce, NewNonceText());
    absl::StatusOr<db::PgRows> inserted =
        conn_->Exec("cannot store a front-door nonce",
                    "INSERT INTO frontdoor_nonces (nonce, expires_us) VALUES ($1, $2)",
                    {nonce, std::to_string(expires)});
    // 128 random bits do not collide; should the generator repeat itself, do not hand out
    // one nonce twice.
    if (inserted.status().code() == absl::StatusCode::kAlreadyExists) continue;
    RETURN_IF_ERROR(inserted.status());
    return nonce;
  }
  return absl::InternalError("the random generator repeated nonces");
}

absl::Status DbNonceStore::Consume(absl::string_view nonce) {
  const int64_t now = NowMicros();
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(db::PgRows deleted,
                   conn_->Exec("cannot check a front-door nonce",
                               "DELETE FROM frontdoor_nonces WHERE nonce = $1 AND expires_us > $2 "
                               "RETURNING 1",
                               {std::string(nonce), std::to_string(now)}));
  if (deleted.size() == 0) return UnknownNonce();
  return absl::OkStatus();
}

absl::StatusOr<size_t> DbNonceStore::size() const {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(db::PgRows rows, conn_->Exec("cannot count front-door nonces",
                                                "SELECT count(*) FROM frontdoor_nonces"));
  return static_cast<size_t>(rows.Int(0, 0));
}

absl::Status DbNonceStore::Sweep() {
  absl::MutexLock lock(&mu_);
  return SweepLocked();
}

absl::Status DbNonceStore::SweepLocked() {
  RETURN_IF_ERROR(conn_->Exec("cannot sweep expired front-door nonces",
                              "DELETE FROM frontdoor_nonces WHERE expires_us <= $1",
                              {std::to_string(NowMicros())})
                      .status());
  // Above capacity, the oldest go first, as in memory: their holders get badNonce and retry.
  return conn_
      ->Exec("cannot trim front-door nonces",
             "DELETE FROM frontdoor_nonces WHERE nonce IN (SELECT nonce FROM frontdoor_nonces "
             "ORDER BY expires_us DESC OFFSET $1)",
             {std::to_string(options_.capacity)})
      .status();
}

}  // namespace acme_signer::signer::frontdoor
