#include "signer/frontdoor/nonce_store.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"
#include "signer/frontdoor/db_nonce_store.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr size_t kNonceBytes = 16;  // 128 bits
constexpr int kMaxIssueAttempts = 4;

}  // namespace

absl::Status ValidateNonceOptions(const NonceStore::Options& options) {
  if (options.capacity == 0) return absl::InvalidArgumentError("nonce capacity must be > 0");
  if (options.lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("nonce lifetime must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewNonceText() { return RandomBase64Url(kNonceBytes, "a nonce"); }

absl::Status UnknownNonce() {
  return acme::ServerProblemStatus(
      acme::problem_type::kBadNonce,
      "the nonce is unknown, already used or expired; retry with the nonce in this response's "
      "Replay-Nonce header");
}

absl::StatusOr<std::unique_ptr<NonceStore>> NonceStore::Create(Options options) {
  if (!options.postgresql_conninfo.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<DbNonceStore> store, DbNonceStore::Create(std::move(options)));
    return std::unique_ptr<NonceStore>(std::move(store));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MemoryNonceStore> store,
                   MemoryNonceStore::Create(std::move(options)));
  return std::unique_ptr<NonceStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<MemoryNonceStore>> MemoryNonceStore::Create(Options options) {
  RETURN_IF_ERROR(ValidateNonceOptions(options));
  return std::unique_ptr<MemoryNonceStore>(new MemoryNonceStore(std::move(options)));
}

MemoryNonceStore::MemoryNonceStore(Options options) : options_(std::move(options)) {}

absl::Time MemoryNonceStore::Now() const { return options_.clock ? options_.clock() : absl::Now(); }

void MemoryNonceStore::SweepLocked(absl::Time now) {
  while (!order_.empty() && (order_.front().expires <= now || order_.size() > options_.capacity)) {
    auto it = outstanding_.find(order_.front().nonce);
    if (it != outstanding_.end() && it->second == order_.front().sequence) outstanding_.erase(it);
    order_.pop_front();
  }
}

absl::StatusOr<std::string> MemoryNonceStore::Issue() {
  const absl::Time now = Now();
  for (int attempt = 0; attempt < kMaxIssueAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::string nonce, NewNonceText());
    absl::MutexLock lock(&mu_);
    const uint64_t sequence = next_sequence_++;
    // 128 random bits do not collide; should the generator repeat itself, do not hand out
    // one nonce twice.
    if (!outstanding_.emplace(nonce, sequence).second) continue;
    order_.push_back(Issued{sequence, nonce, now + options_.lifetime});
    SweepLocked(now);
    return nonce;
  }
  return absl::InternalError("the random generator repeated nonces");
}

absl::Status MemoryNonceStore::Consume(absl::string_view nonce) {
  const absl::Time now = Now();
  absl::MutexLock lock(&mu_);
  SweepLocked(now);
  auto it = outstanding_.find(nonce);
  if (it == outstanding_.end()) {
    return UnknownNonce();
  }
  outstanding_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<size_t> MemoryNonceStore::size() const {
  absl::MutexLock lock(&mu_);
  return outstanding_.size();
}

}  // namespace acme_signer::signer::frontdoor
