// StateStore: the signer's durable state in one SQLite database (WAL, synchronous=FULL):
// small key/value settings (account URL, directory, audit checkpoint), which agent owns which
// ACME order, and the inventory of issued certificates.
//
// Every write is a committed transaction that survives a crash before the call returns. All
// statements are prepared with bound parameters. The schema is versioned with
// PRAGMA user_version and migrated forward by Open; a database from a newer version is refused.
//
// Thread-safety: thread-safe; one connection guarded by a mutex. Other processes opening the
// same file wait up to the busy timeout.
#ifndef ACME_SIGNER_SIGNER_STATE_STORE_H_
#define ACME_SIGNER_SIGNER_STATE_STORE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

struct OrderRecord {
  std::string order_url;
  std::string agent;
  std::vector<std::string> identifiers;  // e.g. "dns:www.example.com"
  std::string finalize_url;
  absl::Time created;
  std::string status;  // ACME order status as last seen
};

struct CertificateRecord {
  std::string serial;  // lower-case hex, no separators
  std::string agent;
  std::vector<std::string> names;
  absl::Time not_before;
  absl::Time not_after;
  std::string order_url;
  std::string certificate_sha256;  // hex SHA-256 of the leaf certificate DER
  bool revoked = false;
  int revocation_reason = 0;  // RFC 5280 CRLReason
  absl::Time revoked_at = absl::InfinitePast();
};

class StateStore {
 public:
  // The schema version this code writes.
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the database at `path` (mode 0640 when created) and migrates it.
  // Errors name the path: Unavailable/Internal for SQLite failures (e.g. unwritable directory,
  // not a database), FailedPrecondition for a schema newer than kSchemaVersion.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path);

  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  // Key/value settings. GetValue returns nullopt for an unset key.
  absl::Status SetValue(absl::string_view key, absl::string_view value);
  absl::StatusOr<std::optional<std::string>> GetValue(absl::string_view key) const;

  // Records that `agent` created `order_url`. Idempotent for the same agent (a retry); a
  // different agent gets AlreadyExists (one order, one owner).
  absl::Status RecordOrder(absl::string_view order_url, absl::string_view agent,
                           const std::vector<std::string>& identifiers,
                           absl::string_view finalize_url);
  // Updates the status of a recorded order. NotFound for an unknown order.
  absl::Status SetOrderStatus(absl::string_view order_url, absl::string_view status);
  // The agent that owns `order_url`; NotFound when no agent does.
  absl::StatusOr<std::string> OrderOwner(absl::string_view order_url) const;
  // The order with this URL / finalize URL; NotFound when none.
  absl::StatusOr<OrderRecord> FindOrder(absl::string_view order_url) const;
  absl::StatusOr<OrderRecord> FindOrderByFinalizeUrl(absl::string_view finalize_url) const;

  // Adds an issued certificate. Idempotent on serial: the same serial with the same agent and
  // certificate hash is OK (a retry after a crash); the same serial with different contents is
  // AlreadyExists. The `revoked` fields of `cert` are ignored (use MarkRevoked).
  absl::Status RecordCertificate(const CertificateRecord& cert);
  // Marks a certificate revoked. NotFound for an unknown serial. Revoking twice keeps the first
  // reason and time.
  absl::Status MarkRevoked(absl::string_view serial, int reason, absl::Time when);
  // Certificates, optionally only those of `agent`, ordered by not_after then serial.
  absl::StatusOr<std::vector<CertificateRecord>> ListInventory(
      std::optional<std::string> agent = std::nullopt) const;

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  using Db = std::unique_ptr<sqlite3, DbCloser>;

  StateStore(std::string path, Db db);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<OrderRecord> FindOrderWhere(const char* sql, absl::string_view value) const;

  const std::string path_;
  mutable absl::Mutex mu_;
  Db db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_STATE_STORE_H_
