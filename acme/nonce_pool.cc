#include "acme/nonce_pool.h"

#include "http/headers.h"

namespace acme_signer::acme {
namespace {

// Real nonces are ~20-50 characters; the cap keeps a hostile server from filling memory.
constexpr size_t kMaxNonceLength = 512;

}  // namespace

bool NoncePool::Put(absl::string_view nonce) {
  if (nonce.size() > kMaxNonceLength || !http::ValidateReplayNonce(nonce).ok()) return false;
  absl::MutexLock lock(&mu_);
  if (nonces_.size() >= capacity_) nonces_.pop_front();
  nonces_.emplace_back(nonce);
  return true;
}

std::optional<std::string> NoncePool::Take() {
  absl::MutexLock lock(&mu_);
  if (nonces_.empty()) return std::nullopt;
  std::string nonce = std::move(nonces_.back());
  nonces_.pop_back();
  return nonce;
}

size_t NoncePool::size() const {
  absl::MutexLock lock(&mu_);
  return nonces_.size();
}

}  // namespace acme_signer::acme
