// External Account Binding (RFC 8555 §7.3.4): the inner JWS that ties a new ACME account key
// to an account the CA already knows (Sectigo/InCommon, Pebble with EAB required).
// Pure function; thread-safe.
#ifndef ACME_SIGNER_ACME_EAB_H_
#define ACME_SIGNER_ACME_EAB_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hsm/mac_signer.h"
#include "nlohmann/json.hpp"

namespace acme_signer::acme {

// Builds the externalAccountBinding member of a newAccount payload: a flattened JWS with
// protected header {"alg": mac.Algorithm() (HS256), "kid": eab_kid, "url": new_account_url},
// payload = the account's public JWK, MAC'd by `mac`. No nonce (§7.3.4).
// InvalidArgument for an empty kid/url or an account JWK that is not a JSON object; the MAC
// signer's errors otherwise.
absl::StatusOr<nlohmann::json> BuildExternalAccountBinding(const hsm::MacSigner& mac,
                                                           absl::string_view eab_kid,
                                                           absl::string_view new_account_url,
                                                           absl::string_view account_jwk);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_EAB_H_
