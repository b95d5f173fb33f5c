#include "common/work_queue.h"

#include <algorithm>
#include <utility>

namespace acme_signer {

WorkQueue::WorkQueue(int workers) {
  const int count = std::max(workers, 1);
  threads_.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

WorkQueue::~WorkQueue() { Stop(); }

bool WorkQueue::Enqueue(Job job) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  queue_.push_back(std::move(job));
  return true;
}

bool WorkQueue::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void WorkQueue::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock join_lock(&join_mu_);
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

void WorkQueue::WorkerLoop() {
  while (true) {
    Job job;
    bool cancel = false;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      cancel = stopping_;
    }
    if (cancel) {
      if (job.cancel) job.cancel();
    } else if (job.run) {
      job.run();
    }
  }
}

}  // namespace acme_signer
