// OrderBackend: the steps of one ACME order as the agent's order flow (agent/order_flow.h)
// needs them, whoever talks to the CA. Two implementations:
//  - RelayOrderBackend (agent/relay_issuer.h): acme-signer's order RPCs; the signer talks to
//    the CA and computes the key authorizations.
//  - DirectOrderBackend (agent/direct_issuer.h): this host talks to the CA through an
//    acme::AcmeClient whose requests acme-signer signs (SignJws).
// The flow decides what to do and when to wait; a backend does one step per call and never
// sleeps. Errors keep their origin (a signer's refusal stays marked as the signer's, the
// CA's problem documents keep their codes) with what was being done.
//
// Thread-safety: one backend serves one flow on one thread.
#ifndef ACME_SIGNER_AGENT_ORDER_BACKEND_H_
#define ACME_SIGNER_AGENT_ORDER_BACKEND_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acme/resources.h"

namespace acme_signer::agent {

// An order as last seen.
struct OrderView {
  std::string url;
  acme::OrderStatus status = acme::OrderStatus::kPending;
  std::optional<absl::Duration> retry_after;  // the hint that came with this state
  int authorizations = 0;                      // how many authorizations the order has
};

// The challenge of the type this host solves, with the answer to publish.
struct ChallengeView {
  std::string type;
  std::string url;
  acme::ChallengeStatus status = acme::ChallengeStatus::kPending;
  std::string token;
  std::string key_authorization;  // token "." thumbprint (the http-01 body)
  std::string dns01_txt_value;    // base64url(SHA-256(key authorization))
};

struct AuthorizationView {
  std::string name;  // the identifier's value (without "*." for a wildcard)
  acme::AuthorizationStatus status = acme::AuthorizationStatus::kPending;
  std::vector<std::string> offered_types;  // every challenge type offered, in the CA's order
  std::optional<ChallengeView> challenge;  // the one of the asked type, when offered
  std::string url;                         // the authorization URL (for deactivation)
};

// A downloaded certificate (the preferred chain when several are offered).
struct IssuedChain {
  std::string order_url;
  std::string pem_chain;  // leaf first
  std::string serial;
  absl::Time not_after;
  int authorizations_already_valid = 0;  // authorizations that needed no challenge
  int challenges_answered = 0;           // challenges the CA was asked to validate
  // A dry run (RelayIssueOptions::dry_run) stops after validation: no certificate (pem_chain
  // empty), the order's authorizations deactivated.
  bool dry_run = false;
  int authorizations_deactivated = 0;
};

class OrderBackend {
 public:
  virtual ~OrderBackend() = default;

  // Where orders go, for the first progress line: "" or " from <directory> (direct mode)".
  virtual std::string Destination() const = 0;

  // newOrder for `domains` (renewing the certificate with ARI id `replaces`, if any).
  virtual absl::StatusOr<OrderView> CreateOrder(const std::vector<std::string>& domains,
                                                const std::string& replaces) = 0;
  virtual absl::StatusOr<OrderView> GetOrder(const std::string& order_url) = 0;
  // The authorizations of `order` (pending), each with its challenge of `challenge_type`.
  // FailedPrecondition when the CA names an identifier that was not asked for.
  virtual absl::StatusOr<std::vector<AuthorizationView>> Authorizations(
      const OrderView& order, absl::string_view challenge_type) = 0;
  // Asks the CA to validate `challenge`.
  virtual absl::Status AnswerChallenge(const ChallengeView& challenge) = 0;
  // Deactivates an authorization (RFC 8555 §7.5.2) so the CA does not reuse it.
  virtual absl::Status DeactivateAuthorization(const std::string& authorization_url) = 0;
  // Finalizes `order` (ready) with the DER CSR.
  virtual absl::StatusOr<OrderView> Finalize(const OrderView& order,
                                             const std::string& csr_der) = 0;
  // Why `order` failed, in the CA's words (its error and the failed challenges), made safe
  // for a terminal; "the CA gave no reason" when it said nothing. Best effort: never fails.
  virtual std::string FailureReason(const OrderView& order) = 0;
  // The certificate of `order` (valid), in the chain whose top issuer is `preferred_chain`
  // when offered ("" for the CA's default).
  virtual absl::StatusOr<IssuedChain> Download(const OrderView& order,
                                               const std::string& preferred_chain) = 0;
};

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_ORDER_BACKEND_H_
