// The issuance flow in direct mode (`acme-agent certonly --direct`): the agent talks to the CA
// itself over HTTPS, and acme-signer only signs each request (the SignJws RPC, under the
// agent's policy: newOrder within its names, finalize of a CSR that passes the checks, `{}`
// challenge responses, POST-as-GET reads). The ACME account key never leaves the signer's
// HSM; the agent learns its public half (GetAccount) for key authorizations.
//
// The steps are those of relay mode (agent/relay_issuer.h): create the order, skip
// authorizations already valid, present every challenge on this host, then ask the CA to
// validate each, wait (honouring the CA's Retry-After), finalize with the locally made CSR
// (passing the order URL so the signer can check the CSR against the order), wait through
// `processing`, download the chain. The solver is always cleaned up, also on failure.
//
// Thread-safety: one call drives one issuance from the calling thread.
#ifndef ACME_SIGNER_AGENT_DIRECT_ISSUER_H_
#define ACME_SIGNER_AGENT_DIRECT_ISSUER_H_

#include <string>

#include "absl/status/statusor.h"
#include "agent/challenge_solver.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"

namespace acme_signer::agent {

// Errors: the signer's, marked as such (IsFromSigner) also when the ACME client added context
// to a refused SignJws (PermissionDenied naming the refused name or request when the policy
// refuses to sign, e.g. SignJws not allowed for this agent; Unavailable when unreachable);
// the CA's problem documents (acme/problem.h codes) with what was being done; FailedPrecondition
// when no offered challenge can be solved (listing what was offered) or the order ends
// invalid (with the CA's reasons); DeadlineExceeded when a wait runs out; Unavailable for
// transport and TLS failures talking to the CA (a wrong [direct] ca_bundle shows up here).
// `options` are those of relay mode; `ca_bundle` is the PEM file of CAs trusted for the
// CA's HTTPS ([direct] ca_bundle in agent.toml), "" for the system trust store.
absl::StatusOr<IssuedChain> IssueDirect(SignerClient& signer, ChallengeSolver& solver,
                                        const RelayIssueOptions& options,
                                        const std::string& ca_bundle);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_DIRECT_ISSUER_H_
