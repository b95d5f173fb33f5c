// Direct mode (`acme-agent certonly --direct`): the order flow (agent/order_flow.h) with this
// host talking to the CA itself over HTTPS, while acme-signer only signs each request
// (RemoteKidSigner, agent/remote_kid_signer.h). The ACME account key never leaves the
// signer's HSM; the agent learns its public half (GetAccount) for key authorizations.
//
// Thread-safety: one backend, one call, one order, from the calling thread.
#ifndef ACME_SIGNER_AGENT_DIRECT_ISSUER_H_
#define ACME_SIGNER_AGENT_DIRECT_ISSUER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "acme/client.h"
#include "agent/challenge_solver.h"
#include "agent/order_backend.h"
#include "agent/order_flow.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

// OrderBackend over an acme::AcmeClient (any KidSigner: acme-signer's in direct mode, a local
// key in tests). The CA is untrusted input: an authorization for an identifier that was not
// asked for is refused before anything acts on it (its name reaches hooks, file names and
// the terminal). `client` must outlive the backend.
class DirectOrderBackend final : public OrderBackend {
 public:
  struct Options {
    std::string directory_url;  // for the first progress line
    // Called with the order URL right after newOrder (RemoteKidSigner::SetOrder).
    std::function<void(const std::string&)> order_created = [](const std::string&) {};
  };
  // `thumbprint` is the account key's (acme::JwkThumbprint) for key authorizations.
  DirectOrderBackend(acme::AcmeClient& client, std::string thumbprint, Options options)
      : client_(client), thumbprint_(std::move(thumbprint)), options_(std::move(options)) {}
  DirectOrderBackend(const DirectOrderBackend&) = delete;
  DirectOrderBackend& operator=(const DirectOrderBackend&) = delete;

  std::string Destination() const override;
  absl::StatusOr<OrderView> CreateOrder(const std::vector<std::string>& domains,
                                        const std::string& replaces) override;
  absl::StatusOr<OrderView> GetOrder(const std::string& order_url) override;
  absl::StatusOr<std::vector<AuthorizationView>> Authorizations(
      const OrderView& order, absl::string_view challenge_type) override;
  absl::Status AnswerChallenge(const ChallengeView& challenge) override;
  absl::Status DeactivateAuthorization(const std::string& authorization_url) override;
  absl::StatusOr<OrderView> Finalize(const OrderView& order, const std::string& csr_der) override;
  // Fetches the order's authorizations for their challenges' errors (the order has none).
  std::string FailureReason(const OrderView& order) override;
  // Alternate chains cost a request each: fetched only when there is a preference.
  absl::StatusOr<IssuedChain> Download(const OrderView& order,
                                       const std::string& preferred_chain) override;

 private:
  OrderView Seen(acme::Fetched<acme::Order> fetched);

  acme::AcmeClient& client_;
  const std::string thumbprint_;
  const Options options_;
  std::vector<std::string> requested_;  // the names of the order, as asked
  acme::Order last_;                    // the last state of the order
};

// RunOrderFlow over a DirectOrderBackend signing through `signer`. Errors: those of
// RunOrderFlow; the signer's, marked as such (IsFromSigner) also when the ACME client added
// context to a refused SignJws (PermissionDenied naming the refused name or request;
// Unavailable when unreachable); those of RemoteKidSigner::Create; the CA's problem documents
// (acme/problem.h codes) with what was being done; Unavailable for transport and TLS failures
// talking to the CA (a wrong [direct] ca_bundle shows up here). `ca_bundle` is the PEM file
// of CAs trusted for the CA's HTTPS ([direct] ca_bundle in agent.toml), "" for the system
// trust store.
absl::StatusOr<IssuedChain> IssueDirect(SignerClient& signer, ChallengeSolver& solver,
                                        const RelayIssueOptions& options,
                                        const std::string& ca_bundle);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_DIRECT_ISSUER_H_
