// UpstreamIssuer: the front door's side of the CA. When a host's local order passes policy,
// the signer creates the matching order at the CA (RFC 8555) with its HSM-held account, at
// once: CAs like Sectigo stay `processing` for minutes, and a stock client gives finalize only
// ~90 s. The upstream order's authorizations are then prepared in the background while the
// host validates locally:
//   - already `valid` (Sectigo/InCommon pre-validated domains, authorization reuse): nothing;
//   - `pending` with a dns-01 challenge and a configured hook: the hook publishes the TXT
//     record (environment below), the challenge is answered, the authorization polled until it
//     is valid, then the hook is called again to clean up;
//   - otherwise the order fails with a message saying why (no hook configured, the CA offers no
//     dns-01, the authorization became invalid with the CA's problem).
// Finalize (after the host's own authorizations are valid) waits for that preparation, sends
// the host's CSR upstream, polls the upstream order until `valid` (honouring Retry-After,
// bounded by Options::order_timeout) and downloads the certificate with its alternate chains.
//
// The hook (config [acme_server] upstream_dns01_hook, an absolute path to an executable) runs
// with an environment of exactly:
//   ACME_SIGNER_DNS01_ACTION      "present" (publish) or "cleanup" (remove)
//   ACME_SIGNER_DNS01_IDENTIFIER  the identifier, e.g. "www.example.org" ("*." dropped)
//   ACME_SIGNER_DNS01_NAME        the TXT record name, "_acme-challenge.www.example.org."
//   ACME_SIGNER_DNS01_VALUE       the TXT value (base64url SHA-256 of the key authorization)
//   PATH                          "/usr/sbin:/usr/bin:/sbin:/bin"
// no argv beyond its path, stdin /dev/null, bounded by Options::hook_timeout (killed after);
// a non-zero exit fails the order naming the hook and its exit status (its stderr, truncated
// to 1 KiB and with control characters escaped, is in the message). The values are not secret
// (they are published in DNS) and appear in messages.
//
// Errors that come from the CA keep the CA's problem document (acme::GetProblem works on the
// returned status), so the front door can pass it to the client unchanged.
//
// Thread-safety: thread-safe. Background work runs on a bounded pool of worker threads
// (Options::workers); the destructor stops taking work, and waits for running work to end
// (each step is bounded by timeouts).
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_UPSTREAM_ISSUER_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_UPSTREAM_ISSUER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acme/client.h"
#include "acme/identifier.h"

namespace acme_signer::signer::frontdoor {

struct UpstreamIssuerOptions {
  // Absolute path of the dns-01 hook; nullopt = none (then only pre-validated authorizations
  // can be used).
  std::optional<std::string> dns01_hook;
  // Without a hook, a pending authorization fails the order saying a hook is needed (false),
  // or its dns-01 challenge is answered anyway, with nothing published (true): for a CA that
  // validates the account's domains by other means but still wants a challenge answered,
  // such as Pebble with PEBBLE_VA_ALWAYS_VALID=1 (whose authorizations start `pending`). A
  // CA that really validates then fails the authorization with its problem document.
  bool answer_challenges_without_hook = false;
  absl::Duration hook_timeout = absl::Seconds(60);
  // Without a Retry-After from the CA: first wait min_poll_interval, doubling up to
  // poll_interval. A Retry-After is honoured, clamped to [min_poll_interval,
  // max_poll_interval].
  absl::Duration min_poll_interval = absl::Milliseconds(200);
  absl::Duration poll_interval = absl::Seconds(5);
  absl::Duration max_poll_interval = absl::Seconds(30);
  // Bound for preparing the authorizations, and for finalize-to-valid.
  absl::Duration authorization_timeout = absl::Minutes(5);
  absl::Duration order_timeout = absl::Minutes(15);
  int workers = 4;
};

struct UpstreamOrderRequest {
  std::vector<acme::Identifier> identifiers;
  std::optional<absl::Time> not_before;
  std::optional<absl::Time> not_after;
  std::string replaces;  // RFC 9773 certificate id, "" when none
};

struct UpstreamCertificate {
  std::string order_url;        // the upstream order
  std::string certificate_url;  // the upstream certificate URL
  // chains[0] is the CA's default chain (PEM, leaf first); the rest its alternates.
  std::vector<std::string> chains;
};

class UpstreamIssuer {
 public:
  using Options = UpstreamIssuerOptions;
  // Called exactly once per Finalize, from a worker thread (Cancelled when the issuer is
  // destroyed before the work started). It must not destroy the issuer.
  using FinalizeDone = std::function<void(absl::StatusOr<UpstreamCertificate>)>;

  // `acme` (the signer's HSM-backed account client) must outlive the issuer. InvalidArgument
  // for a relative hook path, non-positive durations or workers < 1.
  static absl::StatusOr<std::unique_ptr<UpstreamIssuer>> Create(acme::AcmeClient* acme,
                                                                Options options);

  UpstreamIssuer(const UpstreamIssuer&) = delete;
  UpstreamIssuer& operator=(const UpstreamIssuer&) = delete;
  ~UpstreamIssuer();

  // newOrder at the CA (one request, synchronous), then starts preparing its authorizations in
  // the background. Returns the upstream order URL. The CA's errors as they are.
  absl::StatusOr<std::string> CreateOrder(const UpstreamOrderRequest& request);

  // Finalizes upstream order `order_url` (returned by CreateOrder of this process, or an order
  // of an earlier run: its authorizations are then prepared first) with `csr_der`, in the
  // background; `done` gets the certificate or the reason it failed. Returns at once.
  // FailedPrecondition when the issuer is shutting down (done is not called).
  absl::Status Finalize(std::string order_url, std::string csr_der, FinalizeDone done);

 private:
  struct Impl;
  explicit UpstreamIssuer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_UPSTREAM_ISSUER_H_
