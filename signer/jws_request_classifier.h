// Decides whether the signer may sign a JWS that an agent asks for (the SignJws RPC).
//
// Agents that talk to the CA themselves send the target URL and the payload; the signer builds
// the protected header (kid = the signer's account URL) and signs only what this classifier
// allows for that URL. ClassifyJwsRequest is pure (no I/O); it is thread-safe as long as the
// lookup callbacks are. The closed list of what can be signed (docs/policy.md, "SignJws"):
//   newOrder     URL = directory newOrder; payload {"identifiers": [...]} with optional
//                notBefore/notAfter/replaces; identifiers pass CheckIdentifiers.
//   finalize     URL = finalize URL of a known order owned by this agent; payload
//                {"csr": base64url} passing CheckCsr against that order's identifiers.
//   revokeCert   URL = directory revokeCert; payload {"certificate": base64url, "reason"?: int}
//                for a certificate in this agent's inventory (issued to it through this
//                signer, relay or direct mode) whose DNS names all pass CheckName; the reason
//                is one of acme::RevocationReason.
//   challenge    a challenge URL of an order this agent created or adopted; payload exactly {}
//                (a JSON object with no members), which starts validation of the challenge.
//   postAsGet    a resource of an order this agent created or adopted (the order, its
//                authorizations, challenges, certificate); empty payload (a read).
//   deactivateAuthorization
//                an authorization URL of an order this agent created or adopted; payload
//                exactly {"status":"deactivated"} (RFC 8555 §7.5.2; `acme-agent --dry-run`).
// Everything else is refused, in particular newNonce, newAccount, keyChange, renewalInfo, the
// account URL and anything below it (account update, deactivation), the account's orders list
// wherever the CA puts it, another agent's resources and any URL the signer does not know.
// Payload JSON must be a UTF-8 object without duplicate (or case-variant) member names and
// without members other than those listed: where we and the CA might read a payload
// differently, we refuse it.
#ifndef ACME_SIGNER_SIGNER_JWS_REQUEST_CLASSIFIER_H_
#define ACME_SIGNER_SIGNER_JWS_REQUEST_CLASSIFIER_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "signer/csr_checks.h"
#include "signer/name_policy.h"
#include "signer/order_resource.h"

namespace acme_signer::signer {

// Payloads larger than this are refused unparsed (a finalize with a 32 KiB CSR is ~43 KiB).
inline constexpr size_t kMaxJwsPayloadSize = 64 * 1024;

// The CA endpoints (from its directory) and the signer's own account URL.
struct CaDirectory {
  std::string directory_url;  // Defines the CA origin (scheme, host, port).
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string revoke_cert;
  std::string key_change;
  std::string renewal_info;  // Empty when the CA has no ARI.
  std::string account_url;   // The signer's account (the JWS "kid").
};

// An order the service recorded when it signed the newOrder (and learnt the CA's answer).
struct KnownOrder {
  std::string order_url;
  std::string finalize_url;
  std::vector<Identifier> identifiers;
  std::string owner;  // AgentPolicy::name of the agent that created it.
};

// What the service knows, passed to every classification.
struct JwsRequestContext {
  CaDirectory directory;
  // The ACME account public key, DER SubjectPublicKeyInfo (a CSR must not reuse it).
  std::string account_public_key_der;
  // Required: the order whose finalize URL is exactly `url`, or nullopt.
  std::function<std::optional<KnownOrder>(absl::string_view url)> find_order_by_finalize_url;
  // Required: the recorded resource at `url` (with its owner), or nullopt when no agent owns
  // it. POST-as-GET and challenge responses are signed only for the caller's own resources.
  std::function<std::optional<OrderResource>(absl::string_view url)> find_resource;
  // Required: the agent whose inventory holds the certificate with this SHA-256 (hex), or
  // nullopt. A revokeCert is signed only for the caller's own certificates.
  std::function<std::optional<std::string>(absl::string_view certificate_sha256_hex)>
      find_certificate_owner;
};

enum class JwsRequestKind {
  kNewOrder,
  kFinalize,
  kChallenge,
  kPostAsGet,
  kRevokeCert,
  kDeactivateAuthorization
};

// "newOrder", "finalize", "challenge", "postAsGet", "revokeCert", "deactivateAuthorization"
// (for logs and audit).
absl::string_view JwsRequestKindName(JwsRequestKind kind);

// What the signer is about to sign, for the audit log and the service.
struct JwsClassification {
  JwsRequestKind kind = JwsRequestKind::kPostAsGet;
  std::string url;  // As given; goes into the protected header unchanged.
  // newOrder: the requested identifiers. finalize: the CSR's names. revokeCert: the
  // certificate's DNS names.
  std::vector<Identifier> identifiers;
  std::optional<std::string> replaces;   // newOrder: ARI "replaces" certificate id.
  std::string order_url;                 // finalize: the order being finalized.
  std::optional<CsrSummary> csr;         // finalize.
  std::string certificate_sha256_hex;    // revokeCert: SHA-256 of the certificate DER.
  std::optional<int> revocation_reason;  // revokeCert, when the payload names one.
  std::optional<OrderResource> resource;  // challenge, postAsGet: what the URL is.
};

// Classifies a request by `policy`'s agent to sign `payload` for `url`.
// Errors: PermissionDenied when the agent may not have this signed (SignJws not allowed for
// it, forbidden endpoint, URL off the CA origin, names outside policy, someone else's order,
// resource or certificate, a URL the signer does not know);
// InvalidArgument when the URL or payload is malformed (bad JSON, duplicate or unexpected
// members, bad base64url, unparsable CSR or certificate, too large); FailedPrecondition when
// the context is unusable (malformed directory URL, no account URL or lookup). Messages name
// the agent, the URL kind and what was refused.
absl::StatusOr<JwsClassification> ClassifyJwsRequest(const JwsRequestContext& context,
                                                     const AgentPolicy& policy,
                                                     absl::string_view url,
                                                     absl::string_view payload);

// Checks that `url` is an acceptable ACME URL (same syntax rules as the URL of a SignJws) on
// the CA's origin (scheme, host and port of `directory_url`). The service calls it on URLs an
// agent gives it to fetch on the agent's behalf (SignJws order_url), so an agent cannot make
// the signer send a request signed with the account key anywhere else.
// Errors: InvalidArgument (malformed `url`, naming `what`), PermissionDenied (another origin),
// FailedPrecondition (malformed `directory_url`).
absl::Status CheckUrlOnCaOrigin(absl::string_view directory_url, absl::string_view url,
                                absl::string_view what);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_JWS_REQUEST_CLASSIFIER_H_
