// RemoteKidSigner: the kid-JWS strategy of the agent's direct mode (acme/kid_signer.h). The
// ACME account key stays in acme-signer's HSM; every kid-form JWS comes from its SignJws RPC,
// which signs only what the agent's policy allows (newOrder within its names, finalize of a
// CSR that passes the checks, `{}` challenge responses, POST-as-GET reads of its orders).
//
// The signer signs for an order's resources only once it knows the order is this agent's:
// each request names the order it belongs to (SetOrder after newOrder; a finalize names its
// own). Refusals keep the signer's mark (IsFromSigner) through the AcmeClient.
//
// Thread-safety: thread-safe.
#ifndef ACME_SIGNER_AGENT_REMOTE_KID_SIGNER_H_
#define ACME_SIGNER_AGENT_REMOTE_KID_SIGNER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "acme/jwk.h"
#include "acme/kid_signer.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

class RemoteKidSigner final : public acme::KidSigner {
 public:
  // Asks the signer for its account `account` ([[accounts]] name; "" for the agent's default)
  // with GetAccount, and checks the public key it sends: its
  // JWK must parse and fit its algorithm (acme::ParsePublicAccountKey) and have the
  // thumbprint the signer reports. FailedPrecondition for a signer too old for direct mode
  // (no account_jwk); InvalidArgument for a bad key; Internal for a thumbprint mismatch; the
  // signer's errors (marked) for GetAccount. `signer` must outlive the result.
  // Every SignJws names the account GetAccount described, so the kid, the key authorizations
  // and the signatures are of one account.
  static absl::StatusOr<std::unique_ptr<RemoteKidSigner>> Create(SignerClient& signer,
                                                                 const std::string& account = "");
  RemoteKidSigner(const RemoteKidSigner&) = delete;
  RemoteKidSigner& operator=(const RemoteKidSigner&) = delete;

  // The CA's directory and this account's URL, as the signer reported them.
  const pb::GetAccountResponse& account() const { return account_; }
  const std::string& thumbprint() const { return account_.jwk_thumbprint(); }

  // The order every following request belongs to (the URL newOrder returned).
  void SetOrder(std::string order_url) ABSL_LOCKS_EXCLUDED(mu_);
  // How many JWSs the signer made for this host.
  int sign_calls() const { return sign_calls_.load(); }

  absl::string_view Algorithm() const override { return key_.algorithm; }
  const std::string& PublicJwk() const override { return key_.jwk; }
  const std::string& PublicKeyDer() const override { return key_.spki_der; }
  // Errors: the signer's SignJws errors, marked (PermissionDenied names what it refused).
  absl::StatusOr<std::string> SignKid(const acme::KidJwsRequest& request) const override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  RemoteKidSigner(SignerClient& signer, pb::GetAccountResponse account,
                  acme::PublicAccountKey key)
      : signer_(signer), account_(std::move(account)), key_(std::move(key)) {}

  SignerClient& signer_;
  const pb::GetAccountResponse account_;
  const acme::PublicAccountKey key_;
  mutable std::atomic<int> sign_calls_{0};
  mutable absl::Mutex mu_;
  std::string order_url_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_REMOTE_KID_SIGNER_H_
