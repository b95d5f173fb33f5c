// Module: one PKCS#11 module (e.g. SoftHSM2, a vendor HSM library) loaded through p11-kit and
// initialized for multi-threaded use (CKF_OS_LOCKING_OK).
//
// There is at most one Module object per name/path in the process: Load() returns the live
// instance when there is one, so every Token shares one initialization. (Loading the same
// library once by name and once by path gives two p11-kit managed instances of it, which is
// safe but logs in twice; use one spelling per process.) The module is finalized
// (C_Finalize) and unloaded when the last shared_ptr goes away; a later Load() initializes it
// again (which also makes SoftHSM2 rescan its token directory).
//
// A token that fails at the library level (SoftHSM2 after its token directory vanished:
// CKR_GENERAL_ERROR for ever, even once the directory is back) only recovers when the library
// is initialized again. Reinitialize() does that in place, at most once per interval, while no
// other thread is inside the module: every PKCS#11 call on a live Module runs under a Use()
// lock, and Reinitialize() waits for all of them. Session and object handles from before a
// reinitialization are meaningless afterwards (numbers may be reused); generation() tells
// their holders (SessionPool, ObjectRef via Token) to forget them.
//
// Thread-safety: Load() and all methods are thread-safe. functions() gives raw PKCS#11 access
// for hsm/ internals, tests and the operator tool; code outside hsm/ should use Token, and
// long-lived users call it under Use().
#ifndef ACME_SIGNER_HSM_MODULE_H_
#define ACME_SIGNER_HSM_MODULE_H_

#include <p11-kit/pkcs11.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace acme_signer::hsm {

class Module {
 public:
  // `name_or_path` is either a p11-kit module name registered in
  // /usr/share/p11-kit/modules/ (e.g. "softhsm2"; see `p11-kit list-modules`) or a path to
  // the module's shared library (anything containing '/').
  // Errors: NotFound (no such registered module / file), FailedPrecondition (the library
  // could not be loaded or C_Initialize failed; the message has the CKR_ name).
  static absl::StatusOr<std::shared_ptr<Module>> Load(absl::string_view name_or_path);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The name or path given to Load().
  const std::string& name() const { return name_; }

  // Raw PKCS#11 entry points of this (p11-kit managed) module instance. Valid while this
  // Module lives.
  CK_FUNCTION_LIST* functions() const { return functions_; }

  // Slots that currently have a token. Errors carry the CKR_ name.
  absl::StatusOr<std::vector<CK_SLOT_ID>> SlotsWithToken() const;

  // Held (shared) around PKCS#11 calls so that Reinitialize() never runs beside one.
  class ABSL_SCOPED_LOCKABLE Use {
   public:
    explicit Use(const Module& module) ABSL_SHARED_LOCK_FUNCTION(module.mutex_)
        : mutex_(module.mutex_) {
      mutex_.ReaderLock();
    }
    ~Use() ABSL_UNLOCK_FUNCTION() { mutex_.ReaderUnlock(); }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    absl::Mutex& mutex_;
  };

  // Counts reinitializations. Stable while a Use is held.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // C_Finalize + C_Initialize, unless generation() already moved past `seen_generation`
  // (another caller reinitialized meanwhile: OK at once). Must not be called under Use.
  // Unavailable without touching the module when the previous reinitialization is less than
  // `min_interval` ago (so an outage does not turn every call into a reinitialization), or
  // when C_Initialize fails (the next call tries again).
  absl::Status Reinitialize(uint64_t seen_generation, absl::Duration min_interval);

 private:
  Module(std::string name, CK_FUNCTION_LIST* functions)
      : name_(std::move(name)), functions_(functions) {}

  const std::string name_;
  CK_FUNCTION_LIST* const functions_;
  mutable absl::Mutex mutex_;
  std::atomic<uint64_t> generation_{0};
  bool initialized_ ABSL_GUARDED_BY(mutex_) = true;
  absl::Time last_reinitialized_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_MODULE_H_
