// The issuance flow through the signer (relay mode): create the order, solve what the CA asks
// on this host, tell the CA to validate, wait (honouring the signer's Retry-After hints),
// finalize with the locally made CSR, wait through `processing`, download the chain.
// Authorizations already valid (pre-validated domains, reused authorizations) need nothing.
// The solver is always cleaned up, also on failure.
#ifndef ACME_SIGNER_AGENT_RELAY_ISSUER_H_
#define ACME_SIGNER_AGENT_RELAY_ISSUER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/challenge_solver.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

struct RelayIssueOptions {
  std::vector<std::string> domains;
  std::string csr_der;
  std::string replaces;         // ARI id of the certificate being renewed
  std::string preferred_chain;  // issuer CN
  // Validation is quick at most CAs; issuance (processing) can take minutes at Sectigo.
  absl::Duration validation_timeout = absl::Minutes(10);
  absl::Duration processing_timeout = absl::Minutes(30);
  absl::Duration min_poll = absl::Milliseconds(250);  // doubles up to max_poll
  absl::Duration max_poll = absl::Seconds(30);
  // Progress lines for the user ("waiting for the CA to issue (processing, 2m10s)").
  std::function<void(const std::string&)> progress = [](const std::string&) {};
  // Sleeps between polls; tests may speed it up.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

struct IssuedChain {
  std::string order_url;
  std::string pem_chain;  // leaf first
  std::string serial;
  absl::Time not_after;
};

// Errors: the signer's (a policy denial names the refused name), the CA's problem for an
// invalid order or authorization (with the challenge error), DeadlineExceeded when a wait runs
// out, FailedPrecondition when no offered challenge can be solved (listing what was offered).
absl::StatusOr<IssuedChain> IssueThroughSigner(SignerClient& signer, ChallengeSolver& solver,
                                               const RelayIssueOptions& options);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_RELAY_ISSUER_H_
