// A clock tests move by hand, for code that takes a `std::function<absl::Time()>` clock
// (refusal budget, nonce store, ...). Thread-safe: the code under test may read it from its
// own threads while the test advances it.
#ifndef ACME_SIGNER_TESTS_TESTING_FAKE_CLOCK_H_
#define ACME_SIGNER_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::testing {

class FakeClock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_FAKE_CLOCK_H_
