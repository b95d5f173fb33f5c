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
// Thread-safety: Load() and all methods are thread-safe. functions() gives raw PKCS#11 access
// for hsm/ internals, tests and the operator tool; code outside hsm/ should use Token.
#ifndef ACME_SIGNER_HSM_MODULE_H_
#define ACME_SIGNER_HSM_MODULE_H_

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

 private:
  Module(std::string name, CK_FUNCTION_LIST* functions)
      : name_(std::move(name)), functions_(functions) {}

  const std::string name_;
  CK_FUNCTION_LIST* const functions_;
};

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_MODULE_H_
