// AcmeServer: the front door's RFC 8555 endpoints. Stock ACME clients (certbot, win-acme,
// lego, dehydrated, ...) talk to it over the HTTPS listener (http/https_server.h) with a
// per-host EAB credential (credentials.h); it checks every request the way production ACME
// servers do (acme/jws_verify.h), applies the host's [[agents]] policy (names at newOrder, CSR
// at finalize, rate limit), validates http-01/dns-01 itself against the host (like a CA), and
// gets the certificate upstream with the signer's HSM-held account (upstream_issuer.h).
//
// Signer accounts: a host credential (EAB key id) belongs to one signer account ([[accounts]]
// name, FrontDoorCredential::account), and the ACME account a client registers with it acts as
// that account: its orders are created, finalized, revoked and asked about (renewalInfo)
// upstream through it. An order remembers its account ("account" in the stored order), so an
// order resumed after a restart goes on with the same one. Every audit record and inventory
// entry carries it. A host whose [[agents]] entry no longer allows the credential's account is
// refused (unauthorized, naming the account and what to do), as a host without front_door.
//
// Resources (all under the configured external URL, never built from Host or X-Forwarded-*):
//   GET  /directory                      directory, meta.externalAccountRequired = true
//   HEAD /new-nonce (200), GET (204)     Replay-Nonce
//   POST /new-account                    jwk; EAB required; onlyReturnExisting; known key → 200
//   POST /acct/<id>                      POST-as-GET, contact update, deactivation
//   POST /key-change                     RFC 8555 §7.3.5 (409 + Location for a key in use)
//   POST /new-order                      policy, rate limit, then the upstream order at once
//   POST /order/<id>                     POST-as-GET (Retry-After while pending/processing)
//   POST /order/<id>/finalize            CSR checks, audit, upstream finalize in the background
//   POST /authz/<id>                     POST-as-GET, deactivation
//   POST /chall/<authz id>/<n>           {} starts validation (done before the reply), or GET
//   POST /cert/<id>[/<n>]                the chain; Link rel="alternate" for the others
//   POST /revoke-cert                    by the owning account (kid) or the certificate's key
//   GET  /renewal-info/<ARI id>          RFC 9773: the CA's answer, else 2/3 of the lifetime
// The account orders list is not offered (as Let's Encrypt).
//
// Every POST is audited with the host name (`agent`) and the account key thumbprint: allowed
// requests are durable in the audit log before the reply (an audit failure answers
// serverInternal: fail closed); refusals go through the RefusalBudget, keyed by account, or by
// source address when the request carried no verifiable account. Problem documents: the
// signer's own refusals as RFC 8555 types (acme/server_problem.h); the CA's problem documents
// are passed to the client unchanged.
//
// Thread-safety: Handle may be called from many threads at once.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_ACME_SERVER_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_ACME_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "acme/client.h"
#include "hsm/mac_signer.h"
#include "http/https_server.h"
#include "signer/audit_log.h"
#include "signer/audit_space.h"
#include "signer/config_holder.h"
#include "signer/frontdoor/dns01_validator.h"
#include "signer/frontdoor/http01_validator.h"
#include "signer/frontdoor/nonce_store.h"
#include "signer/frontdoor/upstream_issuer.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer::frontdoor {

// One signer account as the front door uses it upstream.
struct UpstreamAccount {
  UpstreamIssuer* upstream = nullptr;  // new orders and finalize
  acme::AcmeClient* acme = nullptr;    // revocation and renewal information
  // `acme-signer account deactivate` ran on it: every request through it is refused.
  bool deactivated = false;
};

struct AcmeServerDeps {
  ConfigHolder* config = nullptr;
  StateStore* store = nullptr;
  AuditAppender* audit = nullptr;
  RefusalBudget* refusals = nullptr;
  RateLimiter* rate_limiter = nullptr;
  // Optional: new orders are refused while the audit log's disk is below its floor.
  AuditSpaceFloor* audit_space = nullptr;
  const hsm::MacSigner* eab_master = nullptr;
  NonceStore* nonces = nullptr;
  const Http01Validator* http01 = nullptr;
  const Dns01Validator* dns01 = nullptr;
  // The signer's accounts by [[accounts]] name (at least one).
  std::map<std::string, UpstreamAccount, std::less<>> accounts;
  std::function<absl::Time()> clock;  // absl::Now when empty
};

class AcmeServer {
 public:
  using Deps = AcmeServerDeps;

  // `external_url`: [acme_server] external_url (https, no trailing '/'). InvalidArgument for a
  // bad URL or a missing dependency. Everything in `deps` must outlive the server.
  static absl::StatusOr<std::unique_ptr<AcmeServer>> Create(std::string external_url, Deps deps);

  AcmeServer(const AcmeServer&) = delete;
  AcmeServer& operator=(const AcmeServer&) = delete;
  ~AcmeServer();

  // Orders an earlier run left `processing` (stopped or killed after finalize): finalized
  // upstream again in the background, so their clients still get the certificate. Call once at
  // start, before serving. Returns how many were resumed (the others become invalid with a
  // reason).
  absl::StatusOr<int> ResumeProcessingOrders();

  // Answers one HTTP request (the HttpsServer handler). Never throws.
  http::ServerResponse Handle(const http::ServerRequest& request);

 private:
  class Request;
  struct Impl;
  explicit AcmeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_ACME_SERVER_H_
