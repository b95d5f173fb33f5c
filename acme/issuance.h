// The high-level issuance flow: order → authorizations → challenges → finalize → certificate,
// polling with a bounded, jittered back-off. Used by tests and by the agent's direct mode;
// the signer service does NOT use it (it relays single steps and never waits on the CA).
//
// Sectigo-compatible: authorizations that are already valid are skipped without touching a
// challenge; an order that is "ready" right after creation goes straight to finalize; offered
// challenge types the solver does not support (sectigo-email-01, ...) are ignored, and when
// none is supported the error lists what the CA offered.
#ifndef ACME_SIGNER_ACME_ISSUANCE_H_
#define ACME_SIGNER_ACME_ISSUANCE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "acme/certificate_chain.h"
#include "acme/client.h"
#include "acme/poll.h"
#include "acme/resources.h"

namespace acme_signer::acme {

// Makes challenge responses visible to the CA (http-01 file, dns-01 TXT record, ...).
// Called from the thread running IssueCertificate.
class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;

  // Challenge types this solver can answer, most preferred first (e.g. {"http-01"}).
  virtual std::vector<std::string> SupportedTypes() const = 0;

  // Publishes the response to `challenge` of `authz`. `key_authorization` is
  // token "." thumbprint; derive the dns-01 TXT value with Dns01TxtValue().
  virtual absl::Status Present(const Authorization& authz, const Challenge& challenge,
                               absl::string_view key_authorization) = 0;

  // Removes what Present published. Called once for every successful Present, whatever the
  // outcome of the order; failures here are the solver's to report.
  virtual void CleanUp(const Authorization& authz, const Challenge& challenge,
                       absl::string_view key_authorization) = 0;
};

struct IssueOptions {
  PollPolicy poll;
  // Issuer CN of the preferred chain's topmost certificate (see SelectChain); empty = default.
  std::string preferred_chain;
};

struct IssuedCertificate {
  Order order;                               // the final (valid) order
  CertificateChain chain;                    // the selected chain
  std::vector<CertificateChain> all_chains;  // default first, then alternates
  int authorizations_already_valid = 0;      // skipped without a challenge
  int challenges_answered = 0;
};

// Runs the whole flow. Errors: those of the single steps (problem documents intact);
// FailedPrecondition when an authorization offers no challenge type the solver supports (the
// message lists the offered types) or ends invalid (the message has the CA's error for the
// identifier) or the order ends invalid; DeadlineExceeded when polling runs past
// options.poll.timeout (the order may still complete: poll its URL later).
absl::StatusOr<IssuedCertificate> IssueCertificate(AcmeClient& client, const NewOrderOptions& order,
                                                   absl::string_view csr_der,
                                                   ChallengeSolver& solver,
                                                   const IssueOptions& options = {});

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_ISSUANCE_H_
