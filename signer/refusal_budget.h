// RefusalBudget: how refused calls reach the audit log without letting one caller grow it
// without bound, and without losing count of any refusal.
//
// Every refusal is an fsync'ed audit record, and refusals are the caller's to repeat: before
// this, one unprivileged agent grew the log by megabytes per second and a full disk then failed
// the signer closed for everyone. Per identity (the agent name; the client certificate
// fingerprint when the certificate names no agent), RefusalBudget decides:
//  - the first refusal of a kind (same identity, certificate, rpc, request, reason and outcome;
//    the transport peer is not part of the kind) is written at once, as before, when the
//    identity's byte budget allows it;
//  - identical repeats of it within `fold_window` are only counted, then written as ONE record
//    (the first refusal's fields plus "repeated": count, first, last, folded = "identical")
//    when the window has passed, when the identity is evicted, or on Close();
//  - refusals of a new kind beyond the budget are folded into one summary record per identity
//    and window (the first one's fields plus "repeated": count, first, last, last_rpc,
//    last_reason, folded = "over_budget").
// The budget is a token bucket of record bytes: `burst_bytes`, refilled at `bytes_per_second`.
// Folded records are charged too (the bucket may go into debt), so over any span t one
// identity adds at most about burst_bytes + bytes_per_second * t, plus the folded records of
// the last window. Allowed calls never pass through here: they are never folded or delayed,
// and one identity's budget never touches another's.
//
// A record stands for one refusal, or for repeated.count refusals when it has "repeated";
// summing these over an identity's deny records gives the number of its refusals. Counts held
// in memory are lost if the process dies without Close() (SIGKILL, crash): at most one window
// of folded repeats per identity.
//
// Memory is bounded: at most `max_identities` identities (the least recently refused one is
// evicted by writing what it holds) and `max_kinds_per_identity` open folds each (a new kind
// beyond that is written when the budget allows, unfolded).
//
// Thread-safety: thread-safe. The writer is called without the internal lock held, from the
// refusing thread, the background flusher or Close().
#ifndef ACME_SIGNER_SIGNER_REFUSAL_BUDGET_H_
#define ACME_SIGNER_SIGNER_REFUSAL_BUDGET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "signer/audit_record.h"

namespace acme_signer::signer {

class RefusalBudget {
 public:
  struct Options {
    // Several of the largest records (about 8 KiB: identifiers, URLs and reasons are bounded)
    // fit in a burst, so an agent making an occasional mistake never sees one folded.
    uint64_t burst_bytes = 64 << 10;
    uint64_t bytes_per_second = 2 << 10;
    absl::Duration fold_window = absl::Seconds(5);
    size_t max_identities = 256;
    size_t max_kinds_per_identity = 8;
    // Injectable for unit tests; production uses absl::Now.
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };
  // Writes one record durably (AuditLog::Append); an error means it was not written.
  using Writer = std::function<absl::Status(const AuditRecord&)>;

  RefusalBudget(Options options, Writer writer);
  RefusalBudget(const RefusalBudget&) = delete;
  RefusalBudget& operator=(const RefusalBudget&) = delete;
  // Close(), errors dropped.
  ~RefusalBudget();

  // Accounts for refusal `record` (decision deny). OK when it was written now or folded (to be
  // written later); the writer's error when it was to be written now and could not be (the
  // caller must then fail closed, as for any audit write).
  absl::Status Refuse(const AuditRecord& record) ABSL_LOCKS_EXCLUDED(mu_);

  // Writes every fold whose window has passed. Returns the first writer error; a folded
  // record that cannot be written is printed on stderr instead (the journal keeps it).
  absl::Status FlushDue() ABSL_LOCKS_EXCLUDED(mu_);

  // Calls FlushDue() every `period` on a thread of its own until Close(). Call at most once.
  void StartBackgroundFlush(absl::Duration period) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the background flusher and writes every fold, due or not. Later refusals are
  // written unfolded (nothing is held once closing started). Idempotent.
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);

  // Identities currently tracked (for tests of the memory bound).
  size_t TrackedIdentities() const ABSL_LOCKS_EXCLUDED(mu_);

  // The bytes a record is charged: its canonical JSON plus what the log adds (kind, seq,
  // time, prev, hash).
  static uint64_t RecordCost(const AuditRecord& record);

 private:
  // Identical repeats of one written refusal.
  struct Fold {
    AuditRecord first;  // the refusal that was written
    absl::Time opened;
    uint64_t count = 0;  // repeats since, none of them written
    absl::Time first_repeat;
    absl::Time last_repeat;
  };
  // Refusals beyond the budget, of any kind.
  struct Summary {
    AuditRecord first;
    uint64_t count = 0;
    absl::Time first_at;
    absl::Time last_at;
    std::string last_rpc;
    std::string last_reason;
  };
  struct Identity {
    double tokens = 0;
    absl::Time refilled;
    absl::Time last_seen;
    absl::flat_hash_map<std::string, Fold> folds;  // by kind (SHA-256 of its canonical form)
    Summary summary;
  };

  static std::string IdentityKey(const AuditRecord& record);
  static std::string KindKey(const AuditRecord& record);
  static AuditRecord FoldRecord(const Fold& fold);
  static AuditRecord SummaryRecord(const Summary& summary);

  void Refill(Identity& identity, absl::Time now) const;
  // Moves what `identity` holds (folds with repeats, a summary) into `out`, charging it.
  // `all`: everything; otherwise only what is older than the window at `now`.
  void TakeDueLocked(Identity& identity, absl::Time now, bool all, std::vector<AuditRecord>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes room for one more identity by evicting the least recently refused one.
  void EvictOneLocked(std::vector<AuditRecord>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteAll(const std::vector<AuditRecord>& records);

  const Options options_;
  const Writer writer_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Identity> identities_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread flusher_;  // started once by StartBackgroundFlush, joined by Close
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_REFUSAL_BUDGET_H_
