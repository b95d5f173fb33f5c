#include "acme/eab.h"

#include "absl/status/status.h"
#include "acme/json_util.h"
#include "acme/jws.h"
#include "common/base64url.h"
#include "common/status_macros.h"

namespace acme_signer::acme {

absl::StatusOr<nlohmann::json> BuildExternalAccountBinding(const hsm::MacSigner& mac,
                                                           absl::string_view eab_kid,
                                                           absl::string_view new_account_url,
                                                           absl::string_view account_jwk) {
  if (eab_kid.empty()) {
    return absl::InvalidArgumentError("External Account Binding needs the CA's key id (EAB kid)");
  }
  // The inner header is the same shape as an ordinary JWS header with kid and no nonce.
  JwsHeader header;
  header.alg = std::string(mac.Algorithm());
  header.kid = std::string(eab_kid);
  header.url = std::string(new_account_url);
  ASSIGN_OR_RETURN(internal::Json jwk,
                   internal::ParseJsonObject(account_jwk, "account JWK for EAB"));
  ASSIGN_OR_RETURN(JwsSigningInput input, BuildJwsSigningInput(header, internal::DumpJson(jwk)));
  ASSIGN_OR_RETURN(std::string mac_value, mac.Sign(input.signing_input));
  nlohmann::json eab = nlohmann::json::object();
  eab["protected"] = input.protected_b64;
  eab["payload"] = input.payload_b64;
  eab["signature"] = Base64Url(mac_value);
  return eab;
}

}  // namespace acme_signer::acme
