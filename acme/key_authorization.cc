#include "acme/key_authorization.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
absl::StatusOr<std::string> KeyAuthorization(absl::string_view token,
                                             absl::string_view account_thumbprint) {
  if (!IsBase64Url(token)) {
    return absl::InvalidArgumentError("challenge token is empty or not base64url");
  }
  if (!IsBase64Url(account_thumbprint)) {
    return absl::InvalidArgumentError("account key thumbprint is empty or not base64url");
  }
  return absl::StrCat(token, ".", account_thumbprint);
}

absl::StatusOr<std::string> Dns01TxtValue(absl::string_view key_authorization) {
  return Base64Url(Sha256(key_authorization));
}

absl::StatusOr<std::string> TlsAlpn01Digest(absl::string_view key_authorization) {
  return Sha256(key_authorization);
}

std::string Dns01RecordName(absl::string_view identifier_value) {
  absl::ConsumePrefix(&identifier_value, "*.");
  return absl::StrCat("_acme-challenge.", identifier_value);
}

}  // namespace acme_signer::acme
