// SessionPool: a bounded pool of read/write PKCS#11 sessions on one slot.
//
// A PKCS#11 session must not be used by two threads at once, so each caller leases a session
// for one operation. Login state belongs to the token (per application), so the pool logs in
// once, when it opens a session that the token reports as not logged in — which also covers
// the token dropping the login after all sessions were closed.
//
// Sessions from before a Module::Reinitialize() are forgotten, never closed: their handle
// numbers may belong to new sessions by then. Callers hold a Module::Use around Acquire() and
// the whole life of the Lease, so a reinitialization never happens under a leased session.
//
// Thread-safety: thread-safe. Acquire() blocks while max_sessions sessions are leased.
#ifndef ACME_SIGNER_HSM_SESSION_POOL_H_
#define ACME_SIGNER_HSM_SESSION_POOL_H_

#include <p11-kit/pkcs11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/secret.h"
#include "hsm/module.h"

namespace acme_signer::hsm {

class SessionPool {
 public:
  // `pin` must outlive the pool; `token_label` is for messages.
  SessionPool(std::shared_ptr<Module> module, CK_SLOT_ID slot, std::string token_label,
              const Secret* pin, size_t max_sessions);
  ~SessionPool();  // Closes idle sessions; all leases must have ended.
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // A session leased to one caller; returns to the pool when destroyed unless Discard()ed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    CK_SESSION_HANDLE handle() const { return handle_; }
    // Do not reuse this session, and drop every idle session opened before it (when one
    // session is lost, usually all are). `still_open`: the session itself is fine (e.g. the
    // login was dropped) and gets C_CloseSession; otherwise it is known to be gone and is
    // just forgotten.
    void Discard(bool still_open);

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, CK_SESSION_HANDLE handle, uint64_t generation)
        : pool_(pool), handle_(handle), generation_(generation) {}
    SessionPool* pool_;
    CK_SESSION_HANDLE handle_;
    uint64_t generation_;
    bool discarded_ = false;
    bool still_open_ = false;
  };

  // A logged-in session. Errors: PermissionDenied for a rejected or locked PIN (with "not
  // retried" in the message), Unavailable and others from C_OpenSession/C_Login with the CKR_.
  absl::StatusOr<Lease> Acquire() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  absl::StatusOr<CK_SESSION_HANDLE> OpenLoggedIn();
  void Return(CK_SESSION_HANDLE handle, uint64_t generation, bool discarded, bool still_open)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Whether Acquire() may proceed: an idle session or room to open one.
  bool CanLeaseLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return !idle_.empty() || open_ < max_sessions_;
  }

  const std::shared_ptr<Module> module_;
  const CK_SLOT_ID slot_;
  const std::string token_label_;
  const Secret* const pin_;
  const size_t max_sessions_;

  // Acquire() waits on it (Mutex::Await) until a session is idle or may be opened.
  absl::Mutex mutex_;
  struct Idle {
    CK_SESSION_HANDLE handle;
    uint64_t generation;
    uint64_t module_generation;  // Module::generation() when it was opened
  };
  // Forgets idle sessions opened before the module's latest reinitialization.
  void DropOutdatedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::vector<Idle> idle_ ABSL_GUARDED_BY(mutex_);
  size_t open_ ABSL_GUARDED_BY(mutex_) = 0;  // idle + leased + being opened
  // Bumped when a session was lost: sessions from older generations are closed, not reused.
  uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_SESSION_POOL_H_
