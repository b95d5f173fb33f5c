#include "hsm/session_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "hsm/ck_status.h"

namespace acme_signer::hsm {

SessionPool::SessionPool(std::shared_ptr<Module> module, CK_SLOT_ID slot, std::string token_label,
                         const Secret* pin, size_t max_sessions)
    : module_(std::move(module)),
      slot_(slot),
      token_label_(std::move(token_label)),
      pin_(pin),
      max_sessions_(max_sessions == 0 ? 1 : max_sessions) {}

SessionPool::~SessionPool() {
  Module::Use in_use(*module_);
  absl::MutexLock lock(&mutex_);
  DropOutdatedLocked();
  for (const Idle& idle : idle_) module_->functions()->C_CloseSession(idle.handle);
}

void SessionPool::DropOutdatedLocked() {
  const uint64_t current = module_->generation();
  size_t kept = 0;
  for (const Idle& idle : idle_) {
    if (idle.module_generation == current) idle_[kept++] = idle;
  }
  open_ -= idle_.size() - kept;
  idle_.resize(kept);
}

SessionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      handle_(other.handle_),
      generation_(other.generation_),
      discarded_(other.discarded_),
      still_open_(other.still_open_) {}

SessionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(handle_, generation_, discarded_, still_open_);
}

void SessionPool::Lease::Discard(bool still_open) {
  discarded_ = true;
  still_open_ = still_open;
}

absl::StatusOr<SessionPool::Lease> SessionPool::Acquire() {
  uint64_t generation;
  {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(this, &SessionPool::CanLeaseLocked));
    DropOutdatedLocked();
    if (!idle_.empty()) {
      Idle idle = idle_.back();
      idle_.pop_back();
      return Lease(this, idle.handle, idle.generation);
    }
    ++open_;  // Reserve the slot; open outside the lock (C_Login can be slow on real HSMs).
    generation = generation_;
  }
  absl::StatusOr<CK_SESSION_HANDLE> handle = OpenLoggedIn();
  if (!handle.ok()) {
    absl::MutexLock lock(&mutex_);
    --open_;  // Await in Acquire() re-checks CanLeaseLocked() when the lock is released.
    return handle.status();
  }
  return Lease(this, *handle, generation);
}

absl::StatusOr<CK_SESSION_HANDLE> SessionPool::OpenLoggedIn() {
  CK_FUNCTION_LIST* f = module_->functions();
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  CK_RV rv =
      f->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &handle);
  if (rv != CKR_OK) {
    return CkStatus(rv, absl::StrCat("opening a session on token ", token_label_));
  }
  CK_SESSION_INFO info;
  rv = f->C_GetSessionInfo(handle, &info);
  if (rv != CKR_OK) {
    f->C_CloseSession(handle);
    return CkStatus(rv, absl::StrCat("C_GetSessionInfo on token ", token_label_));
  }
  if (info.state == CKS_RO_PUBLIC_SESSION || info.state == CKS_RW_PUBLIC_SESSION) {
    absl::string_view pin = pin_->reveal();
    // C_Login takes a non-const buffer but only reads it.
    rv = f->C_Login(handle, CKU_USER, reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin.data())),
                    pin.size());
    // Another thread's session may have logged the token in meanwhile.
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      f->C_CloseSession(handle);
      if (IsPinProblem(rv)) {
        return absl::PermissionDeniedError(absl::StrCat("PIN rejected by token ", token_label_,
                                                        "; not retried to avoid lock-out (",
                                                        CkrName(rv), ")"));
      }
      return CkStatus(rv, absl::StrCat("logging in to token ", token_label_));
    }
  }
  return handle;
}

void SessionPool::Return(CK_SESSION_HANDLE handle, uint64_t generation, bool discarded,
                         bool still_open) {
  std::vector<CK_SESSION_HANDLE> to_close;
  {
    absl::MutexLock lock(&mutex_);
    DropOutdatedLocked();
    if (discarded) {
      --open_;
      if (still_open) to_close.push_back(handle);
      // One lost session usually means all are (C_CloseAllSessions, device removed): retire
      // every idle session of this or an older generation.
      if (generation >= generation_) {
        generation_ = generation + 1;
        for (const Idle& idle : idle_) to_close.push_back(idle.handle);
        open_ -= idle_.size();
        idle_.clear();
      }
    } else if (generation < generation_) {
      --open_;
      to_close.push_back(handle);
    } else {
      idle_.push_back({handle, generation, module_->generation()});
    }
  }
  // Stale sessions may still be valid (only one was lost): close them so they do not leak.
  // The return code does not matter, the handle is forgotten either way.
  for (CK_SESSION_HANDLE stale : to_close) module_->functions()->C_CloseSession(stale);
}

}  // namespace acme_signer::hsm
