// The revocation reasons acme-signer accepts, on every path (the RevokeCertificate RPC, a
// SignJws revokeCert payload, `acme-agent revoke --reason`).
//
// RFC 8555 §7.6 lets a client send any RFC 5280 CRLReason, but CAs accept only some: Let's
// Encrypt (Boulder) takes 0, 1, 3, 4 and 5 and answers badRevocationReason to the others, and
// the CA/Browser Forum baseline requirements limit subscriber-requested reasons to the same set.
// One list here keeps the two signer paths and the agent from disagreeing (docs/policy.md).
//
// Thread-safety: constants and pure functions.
#ifndef ACME_SIGNER_ACME_REVOCATION_REASON_H_
#define ACME_SIGNER_ACME_REVOCATION_REASON_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::acme {

// RFC 5280 CRLReason codes that ACME CAs accept from a subscriber.
enum class RevocationReason : int {
  kUnspecified = 0,
  kKeyCompromise = 1,
  kAffiliationChanged = 3,
  kSuperseded = 4,
  kCessationOfOperation = 5,
};

// certbot's name of the reason ("unspecified", "keyCompromise", ...).
absl::string_view RevocationReasonName(RevocationReason reason);

// The reason with this CRLReason code. InvalidArgument naming the code and the accepted
// ones ("0 unspecified, 1 keyCompromise, ...") for any other value.
absl::StatusOr<RevocationReason> RevocationReasonFromCode(int64_t code);

// The reason with this name, compared ignoring ASCII case. InvalidArgument listing the names.
absl::StatusOr<RevocationReason> RevocationReasonFromName(absl::string_view name);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_REVOCATION_REASON_H_
