#include "signer/refusal_budget.h"

#include <algorithm>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "http/host_port.h"

namespace acme_signer::signer {
namespace {

// What the audit log adds to a record's JSON: "kind":"event", "seq", "time", "prev" and "hash"
// (two 64-hex-digit hashes, an RFC 3339 time, a number, keys, quotes and commas: 240), and
// "replica" (at most 64 characters, [state] replica: 80).
constexpr uint64_t kChainOverheadBytes = 240 + 80;

}  // namespace

RefusalBudget::RefusalBudget(Options options, Writer writer)
    : options_(std::move(options)), writer_(std::move(writer)) {}

RefusalBudget::~RefusalBudget() { Close().IgnoreError(); }

uint64_t RefusalBudget::RecordCost(const AuditRecord& record) {
  return CanonicalJson(AuditRecordToJson(record)).size() + kChainOverheadBytes;
}

std::string RefusalBudget::IdentityKey(const AuditRecord& record) {
  // A front-door request signed by a known account: that account (one host may run several).
  if (!record.account_thumbprint.empty()) {
    return absl::StrCat("account:", record.account_thumbprint);
  }
  if (!record.agent.empty()) return absl::StrCat("agent:", record.agent);
  if (!record.client_cert_sha256.empty()) return absl::StrCat("cert:", record.client_cert_sha256);
  // No identity at all (unauthenticated front-door requests; never on the gRPC port, where
  // mutual TLS is required): the source address, without the port, so that opening new
  // connections does not buy a fresh budget.
  return absl::StrCat("peer:", http::PeerWithoutPort(record.peer));
}

std::string RefusalBudget::KindKey(const AuditRecord& record) {
  // The peer (address and port) is left out: an agent reconnecting to repeat the same refused
  // call is still repeating it. The folded record keeps the first refusal's peer.
  AuditRecord kind = record;
  kind.peer.clear();
  kind.repeated = AuditRepeat();
  return Sha256Hex(CanonicalJson(AuditRecordToJson(kind)));
}

AuditRecord RefusalBudget::FoldRecord(const Fold& fold) {
  AuditRecord out = fold.first;
  out.repeated.count = fold.count;
  out.repeated.first = FormatAuditTime(fold.first_repeat);
  out.repeated.last = FormatAuditTime(fold.last_repeat);
  out.repeated.folded = "identical";
  return out;
}

AuditRecord RefusalBudget::SummaryRecord(const Summary& summary) {
  AuditRecord out = summary.first;
  out.repeated.count = summary.count;
  out.repeated.first = FormatAuditTime(summary.first_at);
  out.repeated.last = FormatAuditTime(summary.last_at);
  out.repeated.folded = "over_budget";
  out.repeated.last_rpc = summary.last_rpc;
  out.repeated.last_reason = summary.last_reason;
  return out;
}

void RefusalBudget::Refill(Identity& identity, absl::Time now) const {
  // A clock that steps back refills nothing (never more than the real elapsed time).
  if (now > identity.refilled) {
    identity.tokens += absl::ToDoubleSeconds(now - identity.refilled) *
                       static_cast<double>(options_.bytes_per_second);
    identity.tokens = std::min(identity.tokens, static_cast<double>(options_.burst_bytes));
    identity.refilled = now;
  }
}

void RefusalBudget::TakeDueLocked(Identity& identity, absl::Time now, bool all,
                                  std::vector<AuditRecord>& out) {
  for (auto it = identity.folds.begin(); it != identity.folds.end();) {
    auto current = it++;
    const Fold& fold = current->second;
    if (!all && now - fold.opened < options_.fold_window) continue;
    if (fold.count > 0) {
      out.push_back(FoldRecord(fold));
      identity.tokens -= static_cast<double>(RecordCost(out.back()));
    }
    identity.folds.erase(current);
  }
  Summary& summary = identity.summary;
  if (summary.count > 0 && (all || now - summary.first_at >= options_.fold_window)) {
    out.push_back(SummaryRecord(summary));
    identity.tokens -= static_cast<double>(RecordCost(out.back()));
    summary = Summary();
  }
}

void RefusalBudget::EvictOneLocked(std::vector<AuditRecord>& out) {
  auto oldest = identities_.end();
  for (auto it = identities_.begin(); it != identities_.end(); ++it) {
    if (oldest == identities_.end() || it->second.last_seen < oldest->second.last_seen) {
      oldest = it;
    }
  }
  if (oldest == identities_.end()) return;
  TakeDueLocked(oldest->second, absl::InfiniteFuture(), /*all=*/true, out);
  identities_.erase(oldest);
}

absl::Status RefusalBudget::WriteAll(const std::vector<AuditRecord>& records) {
  absl::Status first_error;
  for (const AuditRecord& record : records) {
    absl::Status written = writer_(record);
    if (written.ok()) continue;
    // The audit log has failed (the signer is failing closed); the journal keeps the counts.
    std::cerr << "acme-signer: cannot write a folded refusal record to the audit log ("
              << written.message() << "); it was: " << CanonicalJson(AuditRecordToJson(record))
              << std::endl;
    if (first_error.ok()) first_error = written;
  }
  return first_error;
}

absl::Status RefusalBudget::Refuse(const AuditRecord& record) {
  std::vector<AuditRecord> evicted;
  bool write_now = false;
  std::string identity_key = IdentityKey(record);
  std::string kind_key = KindKey(record);
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock();
    if (closing_) {
      write_now = true;
    } else {
      auto it = identities_.find(identity_key);
      if (it == identities_.end()) {
        if (identities_.size() >= options_.max_identities) EvictOneLocked(evicted);
        Identity fresh;
        fresh.tokens = static_cast<double>(options_.burst_bytes);
        fresh.refilled = now;
        it = identities_.emplace(identity_key, std::move(fresh)).first;
      }
      Identity& identity = it->second;
      identity.last_seen = now;
      Refill(identity, now);
      auto fold = identity.folds.find(kind_key);
      if (fold != identity.folds.end()) {
        if (fold->second.count == 0) fold->second.first_repeat = now;
        fold->second.last_repeat = now;
        ++fold->second.count;
      } else if (const uint64_t cost = RecordCost(record);
                 identity.tokens >= static_cast<double>(cost)) {
        identity.tokens -= static_cast<double>(cost);
        if (identity.folds.size() < options_.max_kinds_per_identity) {
          identity.folds.emplace(kind_key, Fold{record, now, 0, now, now});
        }
        write_now = true;
      } else {
        Summary& summary = identity.summary;
        if (summary.count == 0) {
          summary.first = record;
          summary.first_at = now;
        }
        ++summary.count;
        summary.last_at = now;
        summary.last_rpc = record.rpc;
        summary.last_reason = record.reason;
      }
    }
  }
  // Evicted counts are written whatever happens to this refusal.
  WriteAll(evicted).IgnoreError();
  if (!write_now) return absl::OkStatus();
  absl::Status written = writer_(record);
  if (!written.ok()) {
    // Not recorded: repeats must not be folded into a record that does not exist.
    absl::MutexLock lock(&mu_);
    auto it = identities_.find(identity_key);
    if (it != identities_.end()) {
      auto fold = it->second.folds.find(kind_key);
      if (fold != it->second.folds.end() && fold->second.count == 0) {
        it->second.folds.erase(fold);
      }
    }
  }
  return written;
}

absl::Status RefusalBudget::FlushDue() {
  std::vector<AuditRecord> due;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock();
    for (auto it = identities_.begin(); it != identities_.end();) {
      auto current = it++;
      Identity& identity = current->second;
      TakeDueLocked(identity, now, /*all=*/false, due);
      Refill(identity, now);
      // An identity holding nothing with a full bucket is the same as a new one: forget it,
      // so memory follows the identities refused recently.
      if (identity.folds.empty() && identity.summary.count == 0 &&
          identity.tokens >= static_cast<double>(options_.burst_bytes)) {
        identities_.erase(current);
      }
    }
  }
  return WriteAll(due);
}

void RefusalBudget::StartBackgroundFlush(absl::Duration period) {
  flusher_ = std::thread([this, period] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (mu_.AwaitWithTimeout(absl::Condition(&closing_), period)) return;
      }
      FlushDue().IgnoreError();  // WriteAll has reported any failure on stderr
    }
  });
}

absl::Status RefusalBudget::Close() {
  std::vector<AuditRecord> all;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  if (flusher_.joinable()) flusher_.join();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, identity] : identities_) {
      TakeDueLocked(identity, absl::InfiniteFuture(), /*all=*/true, all);
    }
    identities_.clear();
  }
  return WriteAll(all);
}

size_t RefusalBudget::TrackedIdentities() const {
  absl::MutexLock lock(&mu_);
  return identities_.size();
}

}  // namespace acme_signer::signer
