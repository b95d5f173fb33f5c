// CK_RV -> absl::Status, in one place. The status message keeps the CKR_ name and the raw
// code ("signing with account-key: CKR_DEVICE_REMOVED (0x32)"), and the CK_RV is attached as
// a payload so callers (the session retry loop) can act on the original code.
// Thread-safe (pure functions).
#ifndef ACME_SIGNER_HSM_CK_STATUS_H_
#define ACME_SIGNER_HSM_CK_STATUS_H_

#include <p11-kit/pkcs11.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace acme_signer::hsm {

// "CKR_PIN_INCORRECT", or "CKR_0x…" for a code without a name (vendor codes).
std::string CkrName(CK_RV rv);

// OK for CKR_OK; otherwise "<context>: <CKR_NAME> (0x..)" with a code chosen from the CK_RV:
// PermissionDenied for PIN problems and CKR_ATTRIBUTE_SENSITIVE, Unavailable for lost
// sessions/devices/logins, InvalidArgument for template/argument errors, Unimplemented for
// unsupported mechanisms, Internal otherwise.
absl::Status CkStatus(CK_RV rv, absl::string_view context);

// The CK_RV a status from CkStatus was made from, if any.
std::optional<CK_RV> CkRvOf(const absl::Status& status);

// True for codes after which reopening a session (and logging in again) may succeed:
// CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT,
// CKR_USER_NOT_LOGGED_IN, CKR_DEVICE_ERROR.
bool IsSessionLost(CK_RV rv);

// True for codes that say the token or the library behind it failed as a whole, rather than
// one session or object: CKR_GENERAL_ERROR, CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED,
// CKR_TOKEN_NOT_PRESENT, CKR_TOKEN_NOT_RECOGNIZED, CKR_SLOT_ID_INVALID,
// CKR_CRYPTOKI_NOT_INITIALIZED. Some libraries (SoftHSM2) only recover from these when they
// are initialized again (Module::Reinitialize).
bool IsTokenFailure(CK_RV rv);

// True for codes that say the PIN itself is wrong or unusable. These are never retried: a
// retry with the same wrong PIN moves the token closer to locking it.
bool IsPinProblem(CK_RV rv);

}  // namespace acme_signer::hsm

#endif  // ACME_SIGNER_HSM_CK_STATUS_H_
