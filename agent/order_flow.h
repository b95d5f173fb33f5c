// The agent's one order flow (RFC 8555 §7.1): create the order, solve on this host what the
// CA asks, tell the CA to validate, wait (honouring Retry-After hints), finalize with the
// locally made CSR, wait through `processing`, download the chain. It runs over an
// OrderBackend (agent/order_backend.h): relay mode (acme-signer's RPCs) or direct mode (this
// host talks to the CA, acme-signer signs).
//
// As RFC 8555 has it: authorizations already valid (pre-validated names, reused
// authorizations, Sectigo) need nothing and an order `ready` at creation goes straight to
// finalize; a challenge that is not `pending` (answered by an earlier run) is left alone and
// only waited for; the order is finalized only once `ready`, and a `ready` that lingers after
// finalize is waited out like `processing`. Every challenge is published before the CA is
// asked to look at any (a DNS hook may wait for propagation on the last one only, as with
// certbot), and the solver is cleaned up only after validation ends, also on failure.
//
// Thread-safety: one call drives one order from the calling thread.
#ifndef ACME_SIGNER_AGENT_ORDER_FLOW_H_
#define ACME_SIGNER_AGENT_ORDER_FLOW_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/challenge_solver.h"
#include "agent/order_backend.h"

namespace acme_signer::agent {

// The options of one order, in either mode (named after relay mode, the first one).
struct RelayIssueOptions {
  std::vector<std::string> domains;
  std::string csr_der;
  std::string replaces;         // ARI id of the certificate being renewed
  std::string preferred_chain;  // issuer CN
  // The signer account ([[accounts]] name) the order is made with; "" for the agent's default.
  std::string account;
  // --dry-run: stop once the CA has validated (order ready), deactivate the order's
  // authorizations (so a later order validates again) and finalize nothing.
  bool dry_run = false;
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

// Errors: the backend's (a signer's policy denial names the refused name; the CA's problem
// documents with what was being done); InvalidArgument without domains; FailedPrecondition
// when no offered challenge can be solved (listing what was offered), an authorization is
// no longer pending, or the order ends invalid (with the CA's reasons); DeadlineExceeded when
// a wait runs out (the order continues at the CA).
absl::StatusOr<IssuedChain> RunOrderFlow(OrderBackend& backend, ChallengeSolver& solver,
                                         const RelayIssueOptions& options);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_ORDER_FLOW_H_
