// NonceStore: the front door's anti-replay nonces (RFC 8555 §6.5).
//
// Issue() makes a fresh nonce (128 random bits from RAND_bytes, base64url: 22 characters) and
// remembers it; Consume() accepts each issued nonce exactly once, within its lifetime. A nonce
// that was never issued, was already used, expired, or was evicted is refused with a badNonce
// problem (acme/server_problem.h), which tells the client to retry with the fresh nonce sent
// in the error response's Replay-Nonce header.
//
// Two homes, chosen by Create():
//  - MemoryNonceStore (below; [state] backend = "sqlite", one signer): memory is bounded, at
//    most `capacity` nonces are outstanding and issuing one more forgets the oldest (its holder
//    gets badNonce and retries); a restart invalidates them, which clients handle the same way.
//  - DbNonceStore (signer/frontdoor/db_nonce_store.h; backend = "postgresql"): the nonces are
//    in the shared database, so a nonce issued by one replica is consumed (once) by any other
//    behind the same load balancer.
//
// Thread-safe: every method may be called concurrently.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_NONCE_STORE_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_NONCE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::signer::frontdoor {

class NonceStore {
 public:
  struct Options {
    // Outstanding nonces kept at most (each costs ~100 bytes; in the database, the sweep trims
    // to this many).
    size_t capacity = 100000;
    // How long an issued nonce stays usable.
    absl::Duration lifetime = absl::Minutes(30);
    // The clock; absl::Now when empty (tests pass a fake one). The database store stores and
    // compares expiry times by this clock too (replicas' clocks agree to far below a lifetime).
    std::function<absl::Time()> clock;
    // libpq conninfo of the shared database ([state] url with backend = "postgresql"): set,
    // Create() returns a DbNonceStore; empty, a MemoryNonceStore.
    std::string postgresql_conninfo;
  };

  // InvalidArgument when capacity is 0 or lifetime is not positive; for the database store,
  // Unavailable when the database cannot be reached.
  static absl::StatusOr<std::unique_ptr<NonceStore>> Create(Options options);

  virtual ~NonceStore() = default;

  // A fresh nonce, remembered until consumed, expired or evicted. Internal when the random
  // generator fails; the database's status (e.g. Unavailable) when it cannot be stored.
  virtual absl::StatusOr<std::string> Issue() = 0;

  // OK once for each issued nonce within its lifetime; afterwards, and for any other text, a
  // status carrying a badNonce ServerProblem (code Unavailable, as acme::ProblemCode says). A
  // database error is returned as it is (no badNonce: the request is refused, not retried).
  virtual absl::Status Consume(absl::string_view nonce) = 0;

  // Outstanding nonces (issued, not consumed; expired ones may still count until swept).
  virtual absl::StatusOr<size_t> size() const = 0;

 protected:
  NonceStore() = default;
  NonceStore(const NonceStore&) = delete;
  NonceStore& operator=(const NonceStore&) = delete;
};

// Checks Options shared by both stores: InvalidArgument for capacity 0 or lifetime <= 0.
absl::Status ValidateNonceOptions(const NonceStore::Options& options);

// A fresh random nonce text (128 bits, base64url).
absl::StatusOr<std::string> NewNonceText();

// The badNonce refusal of a nonce that is unknown, used or expired.
absl::Status UnknownNonce();

class MemoryNonceStore final : public NonceStore {
 public:
  // As NonceStore::Create without postgresql_conninfo.
  static absl::StatusOr<std::unique_ptr<MemoryNonceStore>> Create(Options options);

  absl::StatusOr<std::string> Issue() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Consume(absl::string_view nonce) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<size_t> size() const override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit MemoryNonceStore(Options options);
  absl::Time Now() const;
  // Forgets expired nonces at the front and, above capacity, the oldest.
  void SweepLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Issued {
    uint64_t sequence;
    std::string nonce;
    absl::Time expires;
  };

  const Options options_;
  mutable absl::Mutex mu_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Outstanding nonce -> sequence of its entry in order_.
  absl::flat_hash_map<std::string, uint64_t> outstanding_ ABSL_GUARDED_BY(mu_);
  // Issue order (so expiry order); entries of consumed nonces stay until swept, but the deque
  // never holds more than `capacity` entries.
  std::deque<Issued> order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_NONCE_STORE_H_
