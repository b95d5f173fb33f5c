// NoncePool: Replay-Nonce values the server handed out and nobody has used yet.
//
// Every ACME response carries a fresh nonce (RFC 8555 §6.5); keeping them saves a newNonce
// round trip per request. Nonces are used at most once (Take removes). The pool is bounded:
// when full, the oldest nonce is dropped since it is the most likely to have expired.
// Thread-safe.
#ifndef ACME_SIGNER_ACME_NONCE_POOL_H_
#define ACME_SIGNER_ACME_NONCE_POOL_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer::acme {

class NoncePool {
 public:
  explicit NoncePool(size_t capacity = 16) : capacity_(capacity == 0 ? 1 : capacity) {}
  NoncePool(const NoncePool&) = delete;
  NoncePool& operator=(const NoncePool&) = delete;

  // Adds `nonce` unless http::ValidateReplayNonce refuses it (RFC 8555 §6.5.1) or it is
  // absurdly long; returns whether it was kept.
  bool Put(absl::string_view nonce) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes and returns the newest nonce, or nullopt when the pool is empty.
  std::optional<std::string> Take() ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<std::string> nonces_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_NONCE_POOL_H_
