#include "acme/nonce_pool.h"

#include "absl/strings/ascii.h"

namespace acme_signer::acme {
namespace {

// Real nonces are ~20-50 characters; the cap keeps a hostile server from filling memory.
constexpr size_t kMaxNonceLength = 512;

bool IsBase64Url(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

}  // namespace

bool NoncePool::Put(absl::string_view nonce) {
  if (nonce.empty() || nonce.size() > kMaxNonceLength || !IsBase64Url(nonce)) return false;
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
