// PeerFailureLimiter: a per-source-address bound on failed attempts, for the listener that
// answers callers without a client certificate (token enrolment, signer/enrollment_service.h).
//
// A token has 256 random bits, so guessing is hopeless; the limit is against a flood of
// refused attempts, each of which costs a SQLite transaction and an audit decision. After
// `max_failures` failures from one address within `window`, every further attempt from that
// address is refused until the window that started with its first counted failure has passed.
// Successes do not count. Addresses are compared without the port ("ipv4:127.0.0.1:5555" and
// "ipv4:127.0.0.1:6666" are one address), so new connections do not buy fresh attempts.
//
// Memory is bounded: at most `max_peers` addresses are tracked; when full, windows that have
// passed are dropped first, then the address whose window started earliest.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_SIGNER_PEER_FAILURE_LIMITER_H_
#define ACME_SIGNER_SIGNER_PEER_FAILURE_LIMITER_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace acme_signer::signer {

class PeerFailureLimiter {
 public:
  struct Options {
    int max_failures = 10;
    absl::Duration window = absl::Minutes(1);
    size_t max_peers = 4096;
    // Injectable for unit tests; production uses absl::Now.
    std::function<absl::Time()> clock = [] { return absl::Now(); };
  };

  explicit PeerFailureLimiter(Options options) : options_(std::move(options)) {}
  PeerFailureLimiter(const PeerFailureLimiter&) = delete;
  PeerFailureLimiter& operator=(const PeerFailureLimiter&) = delete;

  // OK when `peer` (a gRPC peer string) may make an attempt now; ResourceExhausted naming the
  // address and how long it has to wait when it used up its failures.
  absl::Status Check(absl::string_view peer) ABSL_LOCKS_EXCLUDED(mu_);

  // Counts one failed attempt of `peer`.
  void NoteFailure(absl::string_view peer) ABSL_LOCKS_EXCLUDED(mu_);

  // Addresses currently tracked (for tests of the memory bound).
  size_t TrackedPeers() const ABSL_LOCKS_EXCLUDED(mu_);

  // `peer` without its port: "ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1",
  // "ipv6:[::1]:5555" -> "ipv6:[::1]".
  static std::string Address(absl::string_view peer);

 private:
  struct Entry {
    absl::Time window_start;
    int failures = 0;
  };

  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_PEER_FAILURE_LIMITER_H_
