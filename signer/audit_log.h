// AuditLog: the signer's append-only, hash-chained, HSM-checkpointed audit log (JSON Lines).
//
// Every record carries seq (1, 2, ... across files), prev (the previous record's hash; 64 zeros
// for the very first) and hash (SHA-256 of its canonical form, see signer/audit_record.h).
// Every `checkpoint_interval` records, at rotation, after recovering from a torn tail and on
// Close(), the log appends a "checkpoint" record signed by the audit key in the HSM, so a
// rewritten file with recomputed hashes fails verification (signer/audit_verifier.h).
//
// Durability: Append returns OK only after the record's line is written with one write() and
// fdatasync()ed. Concurrent Appends are group-committed: the first waiting caller becomes the
// leader and writes + syncs every pending line in one go while the others wait; then the next
// leader takes whatever queued up meanwhile.
//
// Files: the first file is `path`, later ones `path.1`, `path.2`, ... (signer/audit_files.h);
// the highest existing index is the active file. A file is never truncated or rewritten (O_APPEND,
// mode 0640). When the active file reaches `rotate_bytes`, it is closed with a checkpoint and the
// next file's first record links to it through prev. If the active file ends in a partial line (a
// crash during write(); such a record was never acknowledged), Open leaves it untouched and starts
// the next file with a "recovery" checkpoint naming the damaged file and the offset of the partial
// line.
//
// Start-up: before it signs anything, Open verifies the whole existing log with the audit
// key's public key (signer/audit_verifier.h: every hash, link and checkpoint signature, no
// missing file) and, with a state store, that it still holds the checkpoint stored there.
// Anything wrong stops Open with DataLoss naming file, line and seq: the signer must not sign
// a forged or truncated tail. Only a partial last line is recovered as above. A state store
// without a reference is accepted only while the log holds no checkpoint (a fresh install).
//
// Failure: a failed write/fsync (disk full, I/O error, torn write) marks the log failed; that
// Append and every later one return an error (the service must refuse issuance: fail closed)
// until the log is reopened. A checkpoint whose signature fails (HSM unavailable) is not
// permanent: the Append that triggered it writes its record durably but returns the signer's
// error (the caller must refuse), and every later Append first retries the checkpoint and,
// while that still fails, returns the error without writing anything. So at most
// `checkpoint_interval` records ever follow the last signed checkpoint, and appends resume by
// themselves once the HSM signs again.
//
// Thread-safety: Append and Close may be called from any number of threads.
#ifndef ACME_SIGNER_SIGNER_AUDIT_LOG_H_
#define ACME_SIGNER_SIGNER_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/unique_fd.h"
#include "hsm/jws_signer.h"
#include "nlohmann/json.hpp"
#include "signer/audit_appender.h"
#include "signer/audit_files.h"  // AuditLogFiles: the files of a log
#include "signer/audit_record.h"
#include "signer/audit_verifier.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

struct AuditLogOptions {
  std::string path;                     // the first file; later ones get ".N"
  uint64_t checkpoint_interval = 256;   // records between signed checkpoints (>= 1)
  uint64_t rotate_bytes = 64ull << 20;  // start a new file once the active one is this big
  // Optional. When set, each durable checkpoint's (seq, hash) is stored under
  // kAuditCheckpointKey and the audit public key (DER, base64) under kAuditPublicKeyKey, so the
  // verifier can detect a log cut off after its last checkpoint. Not owned; must outlive the log.
  StateStore* state_store = nullptr;
  // This signer's name ([state] replica); when set, every record carries it as "replica" (the
  // verifier hashes it like any other field; logs written without it verify as before).
  std::string replica;
};

// State store keys written by the log.
inline constexpr absl::string_view kAuditCheckpointKey = "audit.checkpoint";
inline constexpr absl::string_view kAuditPublicKeyKey = "audit.public_key_der_b64";

// Reads the checkpoint reference the log stored, or nullopt when none was stored yet.
absl::StatusOr<std::optional<AuditCheckpointRef>> LoadAuditCheckpoint(const StateStore& store);

// Stores `ref` under kAuditCheckpointKey, unless that would move the stored reference
// backwards: FailedPrecondition (nothing stored) when the stored reference has a higher seq, or
// the same seq with another hash. The reference only ever names the newest durable checkpoint,
// so going back means the log or the state store was swapped underneath the signer.
absl::Status StoreAuditCheckpoint(StateStore& store, const AuditCheckpointRef& ref);

class AuditLog : public AuditAppender {
 public:
  // Opens (creating if needed) the log at options.path, verifies what is there (see
  // "Start-up" above), recovers seq/prev from its last record and writes a checkpoint if the
  // previous run ended without one. `signer` (not owned, must outlive the log) holds the audit
  // key. Errors: InvalidArgument for bad options; DataLoss naming the file, line and seq when
  // the existing log fails verification (tampered, truncated, a file missing, a line that is
  // not a record) or does not hold the state store's checkpoint; errno-derived codes for I/O.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(AuditLogOptions options,
                                                        const hsm::JwsSigner* signer);

  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  // Calls Close() (errors are dropped: call Close() yourself to see them).
  ~AuditLog() override;

  // Appends `record` and returns once it is durable, with the seq it got. Errors (the caller
  // must refuse to act on every one of them):
  //  - FailedPrecondition when the log has failed earlier or is closed;
  //  - the errno-derived status of a failed write/fsync (the log is then failed);
  //  - the signer's code (e.g. Unavailable) when the checkpoint this record made due cannot
  //    be signed: `record` IS durable (message: "record N was written ... not yet covered by
  //    a signed checkpoint"); or when an earlier owed checkpoint still cannot be signed:
  //    `record` was NOT written ("this record was not written"). Both are transient.
  absl::StatusOr<uint64_t> Append(const AuditRecord& record) override;

  // Writes a "shutdown" checkpoint (unless the last record is already one), syncs and closes.
  // Later Appends fail. Idempotent. When the checkpoint cannot be signed, every record is
  // still made durable and the signer's error is returned; the next Open then signs the tail
  // with a "startup" checkpoint.
  absl::Status Close() override;

  // The seq and hash of the last record made durable.
  uint64_t last_seq() const;
  std::string last_hash() const;
  // The file currently appended to.
  std::string active_file() const;

 private:
  // A run of serialized lines for one file; `rotate_after` closes the file once written.
  struct Batch {
    std::string bytes;
    uint64_t last_seq = 0;  // 0: no lines
    std::string last_hash;
    std::optional<AuditCheckpointRef> checkpoint;  // the last checkpoint among the lines
    bool rotate_after = false;
  };

  AuditLog(AuditLogOptions options, const hsm::JwsSigner* signer);

  absl::Status Recover() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Continues in a new file after the partial line `torn` with a signed recovery checkpoint.
  absl::Status SetTornTailAside(const AuditLogFileSet& files, const AuditTornTail& torn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Assigns seq/prev/time/hash to `record` (kind already set) and queues its line.
  void QueueLocked(nlohmann::json record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds, signs and queues a checkpoint covering everything queued so far. When signing
  // fails nothing is queued and the chain head is unchanged.
  absl::Status QueueCheckpointLocked(absl::string_view trigger, nlohmann::json extra)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The checkpoint an Append makes due: "rotate" (then switches files) or "interval".
  absl::Status QueueDueCheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits until `seq` is durable, leading a group commit when no one else is writing.
  absl::Status WaitDurableLocked(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes and syncs `batches` to the files; runs without mu_ held, by the one leader.
  absl::Status WriteBatches(std::vector<Batch>& batches);
  absl::Status OpenFileForAppend(int index);
  std::string FileName(int index) const;

  const AuditLogOptions options_;
  const hsm::JwsSigner* const signer_;
  const std::string key_id_;  // hex SHA-256 of the audit key's SPKI

  mutable absl::Mutex mu_;
  // Assigned (not necessarily durable) chain head.
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::string head_hash_ ABSL_GUARDED_BY(mu_);
  uint64_t since_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_queued_is_checkpoint_ ABSL_GUARDED_BY(mu_) = false;
  // A due checkpoint could not be signed; the next Append signs it before anything else.
  bool checkpoint_owed_ ABSL_GUARDED_BY(mu_) = false;
  // Bytes in the active file plus queued bytes bound for it.
  uint64_t planned_file_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Batch> pending_ ABSL_GUARDED_BY(mu_);
  // Durable chain head.
  uint64_t durable_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string durable_hash_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a leader is in WriteBatches
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  absl::CondVar durable_cv_;
  std::string active_file_name_ ABSL_GUARDED_BY(mu_);

  // Owned by whoever has writing_ set (or by Open/Close with no leader running).
  UniqueFd fd_;
  int file_index_ = 0;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_LOG_H_
