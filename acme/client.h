// AcmeClient: one ACME account at one CA (RFC 8555), speaking through an http::HttpClient and
// signing kid-form requests through a KidSigner strategy (acme/kid_signer.h): the account key
// on this host (an hsm::JwsSigner, whose private key never leaves the HSM), or acme-signer's
// SignJws RPC (the agent's direct mode).
//
// Two layers:
//  - Single steps (CreateOrder, GetOrder, GetAuthorization, AnswerChallenge, FinalizeOrder,
//    GetCertificate, Revoke, GetRenewalInfo, account operations). Each is ONE logical request
//    (plus, transparently, a newNonce HEAD when no nonce is pooled, bounded badNonce retries,
//    bounded retries of a 503 whose Retry-After asks for a short wait, and one retry of a
//    request refused (4xx) after the account key was switched while it was under way, signed
//    with the current key), returns the parsed
//    object and the CA's Retry-After hint, and never sleeps otherwise. The signer service
//    relays these; it must not park a thread waiting on the CA beyond the short, bounded wait
//    (max_retry_after_wait) a CA asks for when it is briefly unavailable.
//  - The polling order flow is the agent's (agent/order_flow.h), built on the single steps.
//
// Trust in the server: nothing it sends is trusted. 3xx responses are never followed; the
// Location of a new account or order must have the directory's origin; every URL the client
// will request must be https; JSON is type-checked field by field; content types are checked.
//
// Errors, for every method:
//  - An ACME problem document → the status of ProblemToStatus (acme/problem.h): code by error
//    type, actionable message, the raw document recoverable with GetProblem().
//  - A response the client cannot use (bad JSON, missing or wrong-typed field, wrong content
//    type, non-https URL, cross-origin Location, unexpected HTTP status, redirect) →
//    Unavailable, "<what was being done>: <what is wrong, naming the field>" (a body that does
//    not parse says "malformed response from the CA"; an error status says when the CA asked
//    to retry). The CA is unusable for this request; retrying is safe but may not help.
//  - Transport failures from HttpClient::Do, prefixed with what was being done.
//  - Signer failures (hsm::JwsSigner::Sign, KidSigner::SignKid) with their code and payloads,
//    prefixed with what was being done; Internal when a KidSigner's JWS is not the one asked
//    for (another url, nonce, kid or payload).
//  - FailedPrecondition for calls needing an account URL before one is known, and for
//    features the directory does not advertise (keyChange, revokeCert, renewalInfo).
//
// A client created with a KidSigner only (direct mode: the account's private key is in
// acme-signer's HSM) signs nothing else: requests that need the account key in jwk form
// (newAccount, keyChange) fail with FailedPrecondition.
//
// Thread-safety: thread-safe. The directory is fetched once and cached; nonces are pooled
// across threads. The HttpClient, JwsSigner(s), KidSigner and MacSigner must outlive the
// client.
#ifndef ACME_SIGNER_ACME_CLIENT_H_
#define ACME_SIGNER_ACME_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/ari.h"
#include "acme/certificate_chain.h"
#include "acme/identifier.h"
#include "acme/kid_signer.h"
#include "acme/nonce_pool.h"
#include "acme/resources.h"
#include "acme/revocation_reason.h"
#include "hsm/jws_signer.h"
#include "hsm/mac_signer.h"
#include "http/http_client.h"

namespace acme_signer::acme {

struct AcmeClientOptions {
  // The CA's directory URL (https).
  std::string directory_url;
  // The account URL when already known (skips FindAccount/RegisterAccount).
  std::string account_url;
  // Retries of a request the CA rejected with badNonce (each with the fresh nonce from the
  // rejection). Retries are cheap and a CA under load may reject many nonces in a row
  // (Pebble's PEBBLE_WFE_NONCEREJECT=50 rejects half): 5 would fail ~1 issuance in 6 there.
  int max_bad_nonce_retries = 20;
  // A 503 whose Retry-After asks for at most max_retry_after_wait is retried after that wait
  // (a fresh nonce, a new JWS), at most max_unavailable_retries times per request: a CA that
  // is briefly unavailable costs the caller a short delay, not a failed issuance. A longer or
  // missing hint, or a 500, goes back to the caller (Unavailable, with the hint in the
  // message). Retrying is safe: every POST is a new nonce-bound JWS, a repeated newOrder at
  // worst leaves an unused pending order, and a CA finalizes an order only once. Bounded
  // because the signer relays these calls inside the agent's deadline.
  absl::Duration max_retry_after_wait = absl::Seconds(5);
  int max_unavailable_retries = 2;
  // How the client waits for those retries; tests inject one.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
  size_t nonce_pool_capacity = 16;
  // Alternate chains fetched at most by GetCertificate.
  size_t max_alternate_chains = 4;
  // Clock for Retry-After dates; tests inject one.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

// A parsed resource plus the CA's Retry-After hint from the same response.
template <typename T>
struct Fetched {
  T value;
  std::optional<absl::Duration> retry_after;
};

struct NewAccountOptions {
  std::vector<std::string> contact;  // "mailto:..." URLs
  bool terms_of_service_agreed = false;
  // External Account Binding: both set, or neither.
  std::string eab_kid;
  const hsm::MacSigner* eab_mac = nullptr;
};

struct NewOrderOptions {
  std::vector<Identifier> identifiers;
  std::optional<absl::Time> not_before;
  std::optional<absl::Time> not_after;
  std::string replaces;  // RFC 9773 ARI certificate id of the certificate being renewed
};

struct CertificateDownload {
  // chains[0] is the CA's default chain; the rest are its Link rel="alternate" chains.
  std::vector<CertificateChain> chains;
  std::optional<absl::Duration> retry_after;
};

class AcmeClient {
 public:
  // A client holding the account key (acme-signer): every request, account management
  // included. Checks the options (InvalidArgument: directory URL not https, retries < 0).
  // No I/O.
  static absl::StatusOr<std::unique_ptr<AcmeClient>> Create(http::HttpClient& http,
                                                            const hsm::JwsSigner& account_key,
                                                            AcmeClientOptions options);
  // A client whose account key is elsewhere (the agent's direct mode): kid-form requests
  // only, each signed by `account`. Nonces stay with the client: each badNonce retry asks
  // `account` again with the fresh nonce. Same checks as above.
  static absl::StatusOr<std::unique_ptr<AcmeClient>> Create(http::HttpClient& http,
                                                            const KidSigner& account,
                                                            AcmeClientOptions options);
  AcmeClient(const AcmeClient&) = delete;
  AcmeClient& operator=(const AcmeClient&) = delete;

  // --- Directory and nonces -----------------------------------------------------------------

  // The directory, fetched on first use and cached.
  absl::StatusOr<Directory> GetDirectory() ABSL_LOCKS_EXCLUDED(mu_);

  // A fresh nonce: from the pool, else from newNonce (HEAD). For callers that sign JWSs
  // themselves (the signer's SignJws RPC).
  absl::StatusOr<std::string> TakeNonce();

  // --- Account --------------------------------------------------------------------------------

  // The account URL (kid); empty until found, created, or given in the options.
  std::string account_url() const ABSL_LOCKS_EXCLUDED(mu_);
  // base64url RFC 7638 thumbprint of the current account key (for key authorizations).
  absl::StatusOr<std::string> AccountThumbprint() const ABSL_LOCKS_EXCLUDED(mu_);
  // The current account: its public key and kid-form signing (changes after
  // ChangeAccountKey).
  const KidSigner& account() const ABSL_LOCKS_EXCLUDED(mu_);
  // The current account key when it is on this host (clients made with a JwsSigner);
  // nullptr for a client made with a KidSigner only.
  const hsm::JwsSigner* local_account_key() const ABSL_LOCKS_EXCLUDED(mu_);

  // newAccount with onlyReturnExisting (§7.3.1): the account for this key, remembering its
  // URL. NotFound (accountDoesNotExist) when the CA has none. FailedPrecondition without a
  // local account key (as for CreateAccount, RegisterAccount and ChangeAccountKey).
  absl::StatusOr<Account> FindAccount();

  // newAccount (§7.3) with contact, termsOfServiceAgreed and EAB (§7.3.4). FailedPrecondition
  // before any request when the directory says externalAccountRequired and no EAB is given
  // ("this CA requires External Account Binding; run `acme-signer init` with --eab-kid and
  // --eab-hmac-key-file"). Returns the existing account if the CA already has one for the key.
  absl::StatusOr<Account> CreateAccount(const NewAccountOptions& options);

  // FindAccount, then CreateAccount only when none exists: re-running registration with the
  // same key is harmless and does not consume the EAB credentials again.
  absl::StatusOr<Account> RegisterAccount(const NewAccountOptions& options);

  // Account key rollover (§7.3.5). On success the client signs with `new_key` from then on;
  // `new_key` must outlive the client. FailedPrecondition when the directory has no keyChange
  // or no account URL is known; the CA's problem (e.g. the new key is already in use) otherwise.
  absl::Status ChangeAccountKey(const hsm::JwsSigner& new_key);

  // Account deactivation (§7.3.6): POST {"status":"deactivated"} to the account URL, signed by
  // the account (kid). Returns the account as the CA now describes it (status deactivated; a
  // CA that answers with an empty body gets kDeactivated assumed). Irreversible at the CA:
  // every later request of the account is refused. FailedPrecondition when no account URL is
  // known; the CA's problem otherwise (unauthorized when it is already deactivated).
  absl::StatusOr<Account> DeactivateAccount();

  // Signs with `key` from now on, without any request: for a process that finished a key
  // change elsewhere (or reopened the same key under another handle). `key` must be the
  // account key the CA has; it must outlive the client. Requests already being signed finish
  // with the key they started with. FailedPrecondition for a client made with a KidSigner only.
  absl::Status UseAccountKey(const hsm::JwsSigner& key);

  // --- Orders (single steps; none of them sleeps) ---------------------------------------------

  // newOrder (§7.4). InvalidArgument for no identifiers or notAfter before notBefore.
  absl::StatusOr<Fetched<Order>> CreateOrder(const NewOrderOptions& options);
  // POST-as-GET of an order URL.
  absl::StatusOr<Fetched<Order>> GetOrder(absl::string_view order_url);
  // POST-as-GET of an authorization URL; `url` is filled in.
  absl::StatusOr<Fetched<Authorization>> GetAuthorization(absl::string_view authorization_url);
  // Tells the CA to validate a challenge (POST {} to its URL, §7.5.1).
  absl::StatusOr<Fetched<Challenge>> AnswerChallenge(absl::string_view challenge_url);
  // Deactivates an authorization (POST {"status":"deactivated"}, §7.5.2), so the CA does not
  // reuse it for later orders (a dry run's validation proves nothing lasting). `url` is
  // filled in; the result's status is the CA's (deactivated).
  absl::StatusOr<Fetched<Authorization>> DeactivateAuthorization(
      absl::string_view authorization_url);
  // Posts the DER CSR to `finalize_url` (§7.4). The result's url is `order_url`.
  absl::StatusOr<Fetched<Order>> FinalizeOrder(absl::string_view order_url,
                                               absl::string_view finalize_url,
                                               absl::string_view csr_der);
  // Downloads the certificate chain (application/pem-certificate-chain) and, when
  // `with_alternates`, every Link rel="alternate" chain (at most max_alternate_chains).
  absl::StatusOr<CertificateDownload> GetCertificate(absl::string_view certificate_url,
                                                     bool with_alternates = true);

  // Revocation (§7.6), signed by the account (kid).
  absl::Status Revoke(absl::string_view certificate_der, RevocationReason reason);
  // Revocation signed by the certificate's own key (jwk form), e.g. after key compromise.
  // Signed here with `certificate_key`, whatever the account's KidSigner.
  absl::Status RevokeWithCertificateKey(absl::string_view certificate_der, RevocationReason reason,
                                        const hsm::JwsSigner& certificate_key);

  // ARI (RFC 9773): GET <renewalInfo>/<certificate id>. FailedPrecondition when the directory
  // does not advertise renewalInfo; InvalidArgument when the certificate has no AKI.
  absl::StatusOr<RenewalInfo> GetRenewalInfo(absl::string_view certificate_der);

 private:
  AcmeClient(http::HttpClient& http, const KidSigner& account,
             std::unique_ptr<LocalKidSigner> local, AcmeClientOptions options);
  // Checks `options` and fills in the defaults of empty hooks.
  static absl::Status CheckOptions(AcmeClientOptions& options);

  // How one request is signed: by the account in kid form, or by `jwk_key` in jwk form.
  struct Signed {
    const KidSigner* account = nullptr;
    const hsm::JwsSigner* jwk_key = nullptr;
    // Finalize only: the order URL (a remote KidSigner checks the CSR against it).
    absl::string_view order_url_hint = {};
  };

  // http_.Do, retrying a 503 with a short Retry-After (see max_retry_after_wait). For requests
  // that carry no JWS (directory, newNonce, renewalInfo).
  absl::StatusOr<http::HttpResponse> Fetch(const http::HttpRequest& request);
  // True (after waiting) when `response` is a 503 to retry; counts `*retries`.
  bool WaitToRetryUnavailable(const http::HttpResponse& response, int* retries) const;
  // The JWS of one attempt: kid form through the account's KidSigner (checked: it must be
  // the JWS asked for; on failure `nonce` goes back to the pool, unused), or jwk form.
  absl::StatusOr<std::string> SignedBody(absl::string_view url, absl::string_view payload,
                                         Signed how, absl::string_view kid, std::string nonce,
                                         absl::string_view context);
  // Signs and POSTs `payload` ("" for POST-as-GET) to `url`, pooling the response's nonce and
  // retrying badNonce rejections. The response may be an error response.
  absl::StatusOr<http::HttpResponse> Post(absl::string_view url, absl::string_view payload,
                                          Signed how, absl::string_view context,
                                          absl::string_view accept = "");
  // Post, then: problem → status, 3xx/unexpected status → Unavailable.
  absl::StatusOr<http::HttpResponse> PostExpecting(absl::string_view url, absl::string_view payload,
                                                   Signed how, absl::string_view context,
                                                   absl::string_view accept = "");
  // The status for a non-2xx response: the CA's problem document, a refused redirect, or
  // Unavailable quoting the status and the start of the body.
  absl::Status ErrorResponse(const http::HttpResponse& response, absl::string_view context) const;
  absl::StatusOr<http::HttpResponse> PostAsGetKid(absl::string_view url, absl::string_view context,
                                                  absl::string_view accept = "");
  absl::StatusOr<Account> NewAccount(const std::string& payload, absl::string_view context);
  absl::Status Revocation(absl::string_view certificate_der, RevocationReason reason, Signed how);
  absl::Status CheckSameOrigin(absl::string_view url, absl::string_view what);
  absl::StatusOr<CertificateChain> DownloadChain(absl::string_view url,
                                                 http::HttpResponse* response);
  void KeepNonce(const http::HttpResponse& response);
  std::optional<absl::Duration> RetryAfter(const http::HttpResponse& response) const;
  Signed AccountKid() const ABSL_LOCKS_EXCLUDED(mu_);
  // The local account key; FailedPrecondition without one: `context` needs it here.
  absl::StatusOr<const hsm::JwsSigner*> RequireLocalAccountKey(absl::string_view context) const
      ABSL_LOCKS_EXCLUDED(mu_);

  http::HttpClient& http_;
  const AcmeClientOptions options_;
  NoncePool nonces_;
  mutable absl::Mutex mu_;
  // The current account. With a local key it is the last of local_signers_, which keeps
  // every key this client has signed with alive (a request in flight on another thread may
  // still use the key from before a ChangeAccountKey).
  const KidSigner* account_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<LocalKidSigner>> local_signers_ ABSL_GUARDED_BY(mu_);
  std::string account_url_ ABSL_GUARDED_BY(mu_);
  std::optional<Directory> directory_ ABSL_GUARDED_BY(mu_);
};

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_CLIENT_H_
