// Relay mode: the order flow (agent/order_flow.h) over acme-signer's order RPCs. The signer
// talks to the CA (and computes the key authorizations with its account key); this host
// solves the challenges and makes the CSR.
//
// Thread-safety: one backend, one call, one order, from the calling thread.
#ifndef ACME_SIGNER_AGENT_RELAY_ISSUER_H_
#define ACME_SIGNER_AGENT_RELAY_ISSUER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/challenge_solver.h"
#include "agent/order_backend.h"
#include "agent/order_flow.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

// OrderBackend over SignerClient. The signer inlines an order's authorizations in every
// order it returns; the backend keeps the last one it saw for Authorizations and
// FailureReason. Orders are made with the signer account `account` ("" for the agent's
// default); the signer routes every later call by the order's account. `signer` must outlive
// the backend.
class RelayOrderBackend final : public OrderBackend {
 public:
  explicit RelayOrderBackend(SignerClient& signer, std::string account = "")
      : signer_(signer), account_(std::move(account)) {}
  RelayOrderBackend(const RelayOrderBackend&) = delete;
  RelayOrderBackend& operator=(const RelayOrderBackend&) = delete;

  std::string Destination() const override { return ""; }
  absl::StatusOr<OrderView> CreateOrder(const std::vector<std::string>& domains,
                                        const std::string& replaces) override;
  absl::StatusOr<OrderView> GetOrder(const std::string& order_url) override;
  absl::StatusOr<std::vector<AuthorizationView>> Authorizations(
      const OrderView& order, absl::string_view challenge_type) override;
  absl::Status AnswerChallenge(const ChallengeView& challenge) override;
  absl::Status DeactivateAuthorization(const std::string& authorization_url) override;
  absl::StatusOr<OrderView> Finalize(const OrderView& order, const std::string& csr_der) override;
  std::string FailureReason(const OrderView& order) override;
  absl::StatusOr<IssuedChain> Download(const OrderView& order,
                                       const std::string& preferred_chain) override;

 private:
  // Remembers `order` as the last seen and returns its view.
  absl::StatusOr<OrderView> Seen(pb::Order order);

  SignerClient& signer_;
  const std::string account_;
  pb::Order last_;
};

// RunOrderFlow over a RelayOrderBackend. Errors: those of RunOrderFlow; the signer's are
// marked as such (IsFromSigner).
absl::StatusOr<IssuedChain> IssueThroughSigner(SignerClient& signer, ChallengeSolver& solver,
                                               const RelayIssueOptions& options);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_RELAY_ISSUER_H_
