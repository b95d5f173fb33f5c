#include "acme/kid_signer.h"

#include <string>

#include "acme/jws.h"

namespace acme_signer::acme {

absl::StatusOr<std::string> LocalKidSigner::SignKid(const KidJwsRequest& request) const {
  if (request.kid.empty()) {
    return absl::InvalidArgumentError("a kid-form JWS needs the account URL");
  }
  return SignJws(key_, request.url, std::string(request.nonce), request.kid, request.payload);
}

}  // namespace acme_signer::acme
