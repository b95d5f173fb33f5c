// WorkQueue: a fixed set of worker threads running queued jobs in order, for background work
// that must not hold a request thread (the front door's challenge validations, the upstream
// issuer's preparation and finalize work).
//
// Each job has `run` and `cancel`: a job still queued when Stop() begins gets `cancel` instead
// of `run` (so a caller waiting on its completion always hears back). Stop() stops taking
// jobs, lets running ones finish, cancels the rest, and joins the threads; jobs must be bounded
// in time (every network step has a timeout) for Stop() to be. The destructor calls Stop().
//
// Thread-safety: Enqueue and Stop may be called from any thread, but never from a job (Stop
// would join its own thread).
#ifndef ACME_SIGNER_COMMON_WORK_QUEUE_H_
#define ACME_SIGNER_COMMON_WORK_QUEUE_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace acme_signer {

class WorkQueue {
 public:
  struct Job {
    std::function<void()> run;
    std::function<void()> cancel;  // optional
  };

  // Starts `workers` threads (at least 1).
  explicit WorkQueue(int workers);
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;
  ~WorkQueue();

  // Queues `job`; false (and nothing queued, nothing run) once Stop() has begun.
  bool Enqueue(Job job) ABSL_LOCKS_EXCLUDED(mu_);

  // See the file comment. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  bool stopping() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
  absl::Mutex join_mu_;  // one Stop() joins
};

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_WORK_QUEUE_H_
