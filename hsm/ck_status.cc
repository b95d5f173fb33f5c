#include "hsm/ck_status.h"

#include <p11-kit/p11-kit.h>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace acme_signer::hsm {
namespace {

constexpr absl::string_view kCkRvPayload = "type.acme-signer/ck_rv";

struct NamedRv {
  CK_RV rv;
  const char* name;
};

#define ACME_SIGNER_CKR(x) \
  { x, #x }
constexpr NamedRv kNames[] = {
    ACME_SIGNER_CKR(CKR_OK),
    ACME_SIGNER_CKR(CKR_CANCEL),
    ACME_SIGNER_CKR(CKR_HOST_MEMORY),
    ACME_SIGNER_CKR(CKR_SLOT_ID_INVALID),
    ACME_SIGNER_CKR(CKR_GENERAL_ERROR),
    ACME_SIGNER_CKR(CKR_FUNCTION_FAILED),
    ACME_SIGNER_CKR(CKR_ARGUMENTS_BAD),
    ACME_SIGNER_CKR(CKR_NO_EVENT),
    ACME_SIGNER_CKR(CKR_NEED_TO_CREATE_THREADS),
    ACME_SIGNER_CKR(CKR_CANT_LOCK),
    ACME_SIGNER_CKR(CKR_ATTRIBUTE_READ_ONLY),
    ACME_SIGNER_CKR(CKR_ATTRIBUTE_SENSITIVE),
    ACME_SIGNER_CKR(CKR_ATTRIBUTE_TYPE_INVALID),
    ACME_SIGNER_CKR(CKR_ATTRIBUTE_VALUE_INVALID),
    ACME_SIGNER_CKR(CKR_DATA_INVALID),
    ACME_SIGNER_CKR(CKR_DATA_LEN_RANGE),
    ACME_SIGNER_CKR(CKR_DEVICE_ERROR),
    ACME_SIGNER_CKR(CKR_DEVICE_MEMORY),
    ACME_SIGNER_CKR(CKR_DEVICE_REMOVED),
    ACME_SIGNER_CKR(CKR_ENCRYPTED_DATA_INVALID),
    ACME_SIGNER_CKR(CKR_ENCRYPTED_DATA_LEN_RANGE),
    ACME_SIGNER_CKR(CKR_FUNCTION_CANCELED),
    ACME_SIGNER_CKR(CKR_FUNCTION_NOT_PARALLEL),
    ACME_SIGNER_CKR(CKR_FUNCTION_NOT_SUPPORTED),
    ACME_SIGNER_CKR(CKR_KEY_HANDLE_INVALID),
    ACME_SIGNER_CKR(CKR_KEY_SIZE_RANGE),
    ACME_SIGNER_CKR(CKR_KEY_TYPE_INCONSISTENT),
    ACME_SIGNER_CKR(CKR_KEY_NOT_NEEDED),
    ACME_SIGNER_CKR(CKR_KEY_CHANGED),
    ACME_SIGNER_CKR(CKR_KEY_NEEDED),
    ACME_SIGNER_CKR(CKR_KEY_INDIGESTIBLE),
    ACME_SIGNER_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
    ACME_SIGNER_CKR(CKR_KEY_NOT_WRAPPABLE),
    ACME_SIGNER_CKR(CKR_KEY_UNEXTRACTABLE),
    ACME_SIGNER_CKR(CKR_MECHANISM_INVALID),
    ACME_SIGNER_CKR(CKR_MECHANISM_PARAM_INVALID),
    ACME_SIGNER_CKR(CKR_OBJECT_HANDLE_INVALID),
    ACME_SIGNER_CKR(CKR_OPERATION_ACTIVE),
    ACME_SIGNER_CKR(CKR_OPERATION_NOT_INITIALIZED),
    ACME_SIGNER_CKR(CKR_PIN_INCORRECT),
    ACME_SIGNER_CKR(CKR_PIN_INVALID),
    ACME_SIGNER_CKR(CKR_PIN_LEN_RANGE),
    ACME_SIGNER_CKR(CKR_PIN_EXPIRED),
    ACME_SIGNER_CKR(CKR_PIN_LOCKED),
    ACME_SIGNER_CKR(CKR_SESSION_CLOSED),
    ACME_SIGNER_CKR(CKR_SESSION_COUNT),
    ACME_SIGNER_CKR(CKR_SESSION_HANDLE_INVALID),
    ACME_SIGNER_CKR(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    ACME_SIGNER_CKR(CKR_SESSION_READ_ONLY),
    ACME_SIGNER_CKR(CKR_SESSION_EXISTS),
    ACME_SIGNER_CKR(CKR_SESSION_READ_ONLY_EXISTS),
    ACME_SIGNER_CKR(CKR_SESSION_READ_WRITE_SO_EXISTS),
    ACME_SIGNER_CKR(CKR_SIGNATURE_INVALID),
    ACME_SIGNER_CKR(CKR_SIGNATURE_LEN_RANGE),
    ACME_SIGNER_CKR(CKR_TEMPLATE_INCOMPLETE),
    ACME_SIGNER_CKR(CKR_TEMPLATE_INCONSISTENT),
    ACME_SIGNER_CKR(CKR_TOKEN_NOT_PRESENT),
    ACME_SIGNER_CKR(CKR_TOKEN_NOT_RECOGNIZED),
    ACME_SIGNER_CKR(CKR_TOKEN_WRITE_PROTECTED),
    ACME_SIGNER_CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
    ACME_SIGNER_CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    ACME_SIGNER_CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    ACME_SIGNER_CKR(CKR_USER_ALREADY_LOGGED_IN),
    ACME_SIGNER_CKR(CKR_USER_NOT_LOGGED_IN),
    ACME_SIGNER_CKR(CKR_USER_PIN_NOT_INITIALIZED),
    ACME_SIGNER_CKR(CKR_USER_TYPE_INVALID),
    ACME_SIGNER_CKR(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    ACME_SIGNER_CKR(CKR_USER_TOO_MANY_TYPES),
    ACME_SIGNER_CKR(CKR_WRAPPED_KEY_INVALID),
    ACME_SIGNER_CKR(CKR_WRAPPED_KEY_LEN_RANGE),
    ACME_SIGNER_CKR(CKR_WRAPPING_KEY_HANDLE_INVALID),
    ACME_SIGNER_CKR(CKR_WRAPPING_KEY_SIZE_RANGE),
    ACME_SIGNER_CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    ACME_SIGNER_CKR(CKR_RANDOM_SEED_NOT_SUPPORTED),
    ACME_SIGNER_CKR(CKR_RANDOM_NO_RNG),
    ACME_SIGNER_CKR(CKR_DOMAIN_PARAMS_INVALID),
    ACME_SIGNER_CKR(CKR_CURVE_NOT_SUPPORTED),
    ACME_SIGNER_CKR(CKR_BUFFER_TOO_SMALL),
    ACME_SIGNER_CKR(CKR_SAVED_STATE_INVALID),
    ACME_SIGNER_CKR(CKR_INFORMATION_SENSITIVE),
    ACME_SIGNER_CKR(CKR_STATE_UNSAVEABLE),
    ACME_SIGNER_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
    ACME_SIGNER_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    ACME_SIGNER_CKR(CKR_MUTEX_BAD),
    ACME_SIGNER_CKR(CKR_MUTEX_NOT_LOCKED),
    ACME_SIGNER_CKR(CKR_FUNCTION_REJECTED),
};
#undef ACME_SIGNER_CKR

absl::StatusCode CodeFor(CK_RV rv) {
  if (IsPinProblem(rv)) return absl::StatusCode::kPermissionDenied;
  if (IsSessionLost(rv)) return absl::StatusCode::kUnavailable;
  switch (rv) {
    case CKR_ATTRIBUTE_SENSITIVE:
    case CKR_KEY_UNEXTRACTABLE:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_USER_PIN_NOT_INITIALIZED:
    case CKR_TOKEN_WRITE_PROTECTED:
      return absl::StatusCode::kPermissionDenied;
    case CKR_ARGUMENTS_BAD:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_DATA_INVALID:
    case CKR_DATA_LEN_RANGE:
    case CKR_KEY_SIZE_RANGE:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_DOMAIN_PARAMS_INVALID:
    case CKR_SLOT_ID_INVALID:
      return absl::StatusCode::kInvalidArgument;
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_CURVE_NOT_SUPPORTED:
    case CKR_FUNCTION_NOT_SUPPORTED:
      return absl::StatusCode::kUnimplemented;
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
    case CKR_SESSION_COUNT:
      return absl::StatusCode::kResourceExhausted;
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

std::string CkrName(CK_RV rv) {
  for (const NamedRv& named : kNames) {
    if (named.rv == rv) return named.name;
  }
  return absl::StrFormat("CKR_0x%lx", static_cast<unsigned long>(rv));
}

absl::Status CkStatus(CK_RV rv, absl::string_view context) {
  if (rv == CKR_OK) return absl::OkStatus();
  // p11_kit_strerror adds a human sentence ("The password or PIN is incorrect").
  absl::Status status(CodeFor(rv),
                      absl::StrFormat("%s: %s (0x%lx: %s)", context, CkrName(rv),
                                      static_cast<unsigned long>(rv), p11_kit_strerror(rv)));
  status.SetPayload(kCkRvPayload, absl::Cord(absl::StrCat(rv)));
  return status;
}

std::optional<CK_RV> CkRvOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCkRvPayload);
  if (!payload.has_value()) return std::nullopt;
  CK_RV rv = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &rv)) return std::nullopt;
  return rv;
}

bool IsSessionLost(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_DEVICE_ERROR:
      return true;
    default:
      return false;
  }
}

bool IsTokenFailure(CK_RV rv) {
  switch (rv) {
    case CKR_GENERAL_ERROR:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SLOT_ID_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

bool IsPinProblem(CK_RV rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
      return true;
    default:
      return false;
  }
}

}  // namespace acme_signer::hsm
