#include "acme/jwk.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "acme/json_util.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "common/status_macros.h"

namespace acme_signer::acme {
using internal::Json;

absl::StatusOr<std::string> CanonicalJwk(absl::string_view jwk_json) {
  ASSIGN_OR_RETURN(Json jwk, internal::ParseJsonObject(jwk_json, "JWK"));
  ASSIGN_OR_RETURN(std::string kty, internal::RequiredString(jwk, "kty", "JWK"));
  static constexpr const char* kEcMembers[] = {"crv", "kty", "x", "y"};
  static constexpr const char* kRsaMembers[] = {"e", "kty", "n"};
  static constexpr const char* kOkpMembers[] = {"crv", "kty", "x"};
  absl::Span<const char* const> members;
  if (kty == "EC") {
    members = kEcMembers;
  } else if (kty == "RSA") {
    members = kRsaMembers;
  } else if (kty == "OKP") {
    members = kOkpMembers;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("JWK has unsupported kty \"", internal::SanitizeForMessage(kty, 20), "\""));
  }
  // nlohmann::json keeps object members sorted and dumps without whitespace, which is
  // exactly the RFC 7638 canonical form for these all-ASCII members.
  Json canonical = Json::object();
  for (const char* member : members) {
    ASSIGN_OR_RETURN(std::string value, internal::RequiredString(jwk, member, "JWK"));
    canonical[member] = value;
  }
  return internal::DumpJson(canonical);
}

absl::StatusOr<std::string> JwkThumbprint(absl::string_view jwk_json) {
  ASSIGN_OR_RETURN(std::string canonical, CanonicalJwk(jwk_json));
  return Base64Url(Sha256(canonical));
}

}  // namespace acme_signer::acme
