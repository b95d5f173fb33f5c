// DbAuditLog: the ONE audit chain that every signer replica appends to, kept in the shared
// PostgreSQL database ([state] backend = "postgresql"). One chain for all replicas, not one per
// replica: a deleted per-replica chain would leave no trace, a gap in the shared one does.
//
// Records are exactly the lines the file log (signer/audit_log.h) writes: same fields, same
// seq/prev/hash rules and canonical form (signer/audit_record.h), same checkpoints signed by the
// audit key in the HSM; every record also names the replica that wrote it ("replica"). So
// `acme-signer audit export` turns the table into a JSON Lines file the offline verifier checks.
//
// Tables (DbAuditLogSchema(), created by the schema migration):
//   audit_head    one row (id = 1): the chain head (seq, hash), records since the last
//                 checkpoint, the last checkpoint's (seq, hash) and the audit public key. Its row
//                 lock serializes appends across replicas.
//   audit_records (seq PRIMARY KEY, replica, line): line = the record's canonical JSON.
//
// Group commit: concurrent Appends queue; the first caller with no leader running becomes the
// leader, takes everything queued and, in one transaction, locks the head (SELECT ... FOR
// UPDATE), assigns seq/prev/time/hash, inserts the records, adds a checkpoint each time the
// shared count since the last one reaches `checkpoint_every` (so replicas share the cadence),
// updates the head and commits. Only after COMMIT returns does any caller of the batch get OK:
// the durability promise is PostgreSQL's (fsync + synchronous_commit; a synchronous standby for
// "no data loss" when a database host dies, docs/signer.md).
//
// Failure: any database error (connection lost, server stopped), or a checkpoint the HSM cannot
// sign, rolls the whole batch back and fails every Append of it (fail closed: the callers
// refuse; nothing half-written). The connection is reset before the next batch, so appends
// resume by themselves when the database is back. If the connection is lost while COMMIT is in
// flight the outcome is unknown to us: the callers are refused anyway, and the records may or
// may not be in the chain (chained correctly either way).
//
// Start-up (Open): the whole chain in the database is verified with the audit key (as the file
// log does: hashes, links, seq from 1, checkpoint signatures, the head's checkpoint present and
// the head matching the last record); anything wrong stops Open with DataLoss. The head
// remembers the audit public key; a replica with another audit key is refused
// (FailedPrecondition): its checkpoints would not verify.
//
// Thread-safety: Append and Close may be called from any number of threads.
#ifndef ACME_SIGNER_SIGNER_DB_AUDIT_LOG_H_
#define ACME_SIGNER_SIGNER_DB_AUDIT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "hsm/jws_signer.h"
#include "nlohmann/json.hpp"
#include "signer/audit_appender.h"
#include "signer/audit_record.h"
#include "signer/audit_verifier.h"
#include "signer/db/pg_connection.h"

namespace acme_signer::signer {

// The DDL of the audit chain's tables, in order. Idempotent (IF NOT EXISTS / ON CONFLICT DO
// NOTHING): the schema migration runs them; tests may run them on a fresh database.
std::vector<std::string> DbAuditLogSchema();

// Runs DbAuditLogSchema() on `conn`.
absl::Status CreateDbAuditLogTables(db::PgConnection& conn);

// Where problems in the database chain are reported (the verifier's "file").
inline constexpr char kDbAuditSource[] = "postgresql:audit_records";

struct DbAuditLogOptions {
  std::string conninfo;               // libpq conninfo ([state] url)
  std::string replica;                // this replica's name ([state] replica)
  uint64_t checkpoint_interval = 256;  // records of the chain between signed checkpoints (>= 1)
  // Most records one transaction takes from the queue (the rest wait for the next batch).
  size_t max_batch = 1000;
};

// The head row as stored.
struct DbAuditHead {
  uint64_t seq = 0;  // last record's seq; 0 = empty chain
  std::string hash;  // last record's hash (genesis when empty)
  uint64_t since_checkpoint = 0;
  AuditCheckpointRef checkpoint;  // seq 0 = none yet
  std::string public_key_der;     // "" until the first replica opened the chain
};

// Reads the head (in the connection's current transaction, if any). FailedPrecondition when
// the tables or the head row are missing ("run acme-signer migrate").
absl::StatusOr<DbAuditHead> ReadDbAuditHead(db::PgConnection& conn, bool for_update);

// Verifies the chain in the database from seq 1 to the head, in one read-only snapshot: every
// hash, link, seq contiguity, checkpoint signature (with `public_key_der`, or the key the head
// stores when empty), the head's checkpoint present and the head matching the last record.
// Problems are in the report; errors only for what prevents verification (database
// unreachable, tables missing, no key).
absl::StatusOr<AuditVerifyReport> VerifyDbAuditChain(db::PgConnection& conn,
                                                     const std::string& public_key_der);

// Calls `write` with each line of the chain (without '\n'), seq 1 to the head, in one snapshot.
absl::Status ExportDbAuditChain(db::PgConnection& conn,
                                const std::function<absl::Status(const std::string&)>& write);

class DbAuditLog : public AuditAppender {
 public:
  // Connects, checks the audit key against the head (storing it on first use), verifies the
  // chain (see "Start-up"). `signer` (not owned, must outlive the log) holds the audit key.
  // Errors: InvalidArgument for bad options; Unavailable when the database cannot be reached;
  // FailedPrecondition for missing tables or another audit key; DataLoss when the chain fails
  // verification.
  static absl::StatusOr<std::unique_ptr<DbAuditLog>> Open(DbAuditLogOptions options,
                                                          const hsm::JwsSigner* signer);

  DbAuditLog(const DbAuditLog&) = delete;
  DbAuditLog& operator=(const DbAuditLog&) = delete;
  ~DbAuditLog() override;  // Close(), errors dropped

  // Appends `record` (with "replica") and returns its seq once the transaction holding it has
  // committed. Errors (the caller must refuse): FailedPrecondition once closed; the database's
  // status (Unavailable, Aborted, Internal, ...) or the HSM's when the checkpoint due could not
  // be signed; in both cases the batch was rolled back.
  absl::StatusOr<uint64_t> Append(const AuditRecord& record) override;

  // Waits for a running batch, signs a "shutdown" checkpoint when the chain's last record is
  // not one (other replicas may keep appending: it bounds what this one leaves unsigned) and
  // refuses later Appends. Idempotent.
  absl::Status Close() override;

 private:
  struct Pending {
    nlohmann::json record;  // event fields + kind + replica
    bool done = false;
    absl::StatusOr<uint64_t> result = uint64_t{0};
  };

  DbAuditLog(DbAuditLogOptions options, const hsm::JwsSigner* signer,
             std::unique_ptr<db::PgConnection> conn);

  // One transaction for `batch` (the leader, without mu_; `closing` adds a shutdown
  // checkpoint). Sets each Pending's result and returns the transaction's status.
  absl::Status CommitBatch(const std::vector<Pending*>& batch, bool closing);
  // The transaction's body; `seqs` gets each record's seq.
  absl::Status WriteBatch(const std::vector<Pending*>& batch, bool closing,
                          std::vector<uint64_t>& seqs);

  const DbAuditLogOptions options_;
  const hsm::JwsSigner* const signer_;
  const std::string key_id_;  // hex SHA-256 of the audit key's SPKI

  absl::Mutex mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;  // a leader owns conn_ and runs a batch
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar cv_;

  // Owned by whoever has leading_ set (or by Open/Close with no leader running).
  std::unique_ptr<db::PgConnection> conn_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_DB_AUDIT_LOG_H_
