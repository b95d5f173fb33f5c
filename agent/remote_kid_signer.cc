#include "agent/remote_kid_signer.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

absl::StatusOr<std::unique_ptr<RemoteKidSigner>> RemoteKidSigner::Create(
    SignerClient& signer, const std::string& account_name) {
  ASSIGN_OR_RETURN(pb::GetAccountResponse account, signer.GetAccount(account_name));
  // A signer older than several accounts names none: it has one, asked for by "".
  if (account.account().empty()) account.set_account(account_name);
  if (account.account_jwk().empty()) {
    return absl::FailedPreconditionError(
        "the signer did not send its account's public key (account_jwk): it is too old for "
        "direct mode; update acme-signer or issue without --direct");
  }
  absl::StatusOr<acme::PublicAccountKey> key =
      acme::ParsePublicAccountKey(account.jws_algorithm(), account.account_jwk());
  if (!key.ok()) {
    return absl::Status(key.status().code(),
                        absl::StrCat("the signer's account key: ", key.status().message()));
  }
  ASSIGN_OR_RETURN(std::string thumbprint, acme::JwkThumbprint(key->jwk));
  if (thumbprint != account.jwk_thumbprint()) {
    return absl::InternalError(absl::StrCat("the signer's account JWK has thumbprint ", thumbprint,
                                            " but the signer reported ", account.jwk_thumbprint()));
  }
  return std::unique_ptr<RemoteKidSigner>(
      new RemoteKidSigner(signer, std::move(account), *std::move(key)));
}

void RemoteKidSigner::SetOrder(std::string order_url) {
  absl::MutexLock lock(&mu_);
  order_url_ = std::move(order_url);
}

absl::StatusOr<std::string> RemoteKidSigner::SignKid(const acme::KidJwsRequest& request) const {
  ++sign_calls_;
  std::string order_url(request.order_url);
  if (order_url.empty()) {
    absl::MutexLock lock(&mu_);
    order_url = order_url_;
  }
  ASSIGN_OR_RETURN(pb::SignJwsResponse signed_jws,
                   signer_.SignJws(std::string(request.url), std::string(request.payload),
                                   std::string(request.nonce), order_url, account_.account()));
  return std::move(*signed_jws.mutable_flattened_json());
}

}  // namespace acme_signer::agent
