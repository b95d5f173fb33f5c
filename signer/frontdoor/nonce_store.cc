#include "signer/frontdoor/nonce_store.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace acme_signer::signer::frontdoor {
namespace {

constexpr size_t kNonceBytes = 16;  // 128 bits
constexpr int kMaxIssueAttempts = 4;

absl::Status BadNonce(absl::string_view why) {
  return acme::ServerProblemStatus(acme::problem_type::kBadNonce,
                                   absl::StrCat(why,
                                                "; retry with the nonce in this response's "
                                                "Replay-Nonce header"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<NonceStore>> NonceStore::Create(Options options) {
  if (options.capacity == 0) return absl::InvalidArgumentError("nonce capacity must be > 0");
  if (options.lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("nonce lifetime must be positive");
  }
  return std::unique_ptr<NonceStore>(new NonceStore(std::move(options)));
}

NonceStore::NonceStore(Options options) : options_(std::move(options)) {}

absl::Time NonceStore::Now() const { return options_.clock ? options_.clock() : absl::Now(); }

void NonceStore::SweepLocked(absl::Time now) {
  while (!order_.empty() && (order_.front().expires <= now || order_.size() > options_.capacity)) {
    auto it = outstanding_.find(order_.front().nonce);
    if (it != outstanding_.end() && it->second == order_.front().sequence) outstanding_.erase(it);
    order_.pop_front();
  }
}

absl::StatusOr<std::string> NonceStore::Issue() {
  const absl::Time now = Now();
  for (int attempt = 0; attempt < kMaxIssueAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::string nonce, RandomBase64Url(kNonceBytes, "a nonce"));
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

absl::Status NonceStore::Consume(absl::string_view nonce) {
  const absl::Time now = Now();
  absl::MutexLock lock(&mu_);
  SweepLocked(now);
  auto it = outstanding_.find(nonce);
  if (it == outstanding_.end()) {
    return BadNonce("the nonce is unknown, already used or expired");
  }
  outstanding_.erase(it);
  return absl::OkStatus();
}

size_t NonceStore::size() const {
  absl::MutexLock lock(&mu_);
  return outstanding_.size();
}

}  // namespace acme_signer::signer::frontdoor
