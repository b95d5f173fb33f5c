// Http01Validator: the front door's own http-01 validation (RFC 8555 §8.3), done the way a
// CA's validation authority does it (Boulder's and Pebble's VA were the model):
//
//  1. Resolve the name with the DnsResolver (A+AAAA; an IP identifier, RFC 8738, is used as
//     is) and keep only the addresses the NetworkAllowlist allows. None left: "connection"
//     problem naming the refused addresses, and no connection is attempted.
//  2. GET http://<name>[:port]/.well-known/acme-challenge/<token> with libcurl pinned to the
//     checked address (CURLOPT_CONNECT_TO with a wildcard source, so curl never resolves
//     anything itself; the connected address is checked again afterwards). Host header = the
//     name. No proxy, no connection reuse, no compression. The first IPv6 address is tried
//     first, then the first IPv4 address if the connection failed.
//  3. Redirects (301, 302, 303, 307, 308) are followed BY HAND, at most max_redirects: the
//     Location is resolved against the current URL (http/url.h) and must be http or https,
//     without userinfo, with a DNS name (not an IP literal, as Let's Encrypt) and on port 80
//     or 443 (RFC 8555 §8.3 / Let's Encrypt's rule) or the configured http-01 port / https
//     port. Each hop is resolved and checked against the allowlist again. https hops do not
//     verify the certificate (the host has none yet: that is why it validates), as CAs do.
//  4. The final answer must be 200 with a body that, after removing trailing whitespace
//     (space, tab, CR, LF: RFC 8555 §8.3 allows them), equals the key authorization.
//     Bodies are capped at max_response_bytes (the transfer is aborted beyond it).
//  The whole validation, DNS included, is bounded by Options::timeout; each connect by
//  connect_timeout.
//
// Outcome problem types: "dns" (lookup failed), "connection" (refused by the allowlist,
// connect failure, timeout, bad or too many redirects), "tls" (https hop handshake),
// "unauthorized" (non-200, body too large, wrong content).
//
// Thread-safety: Validate may be called concurrently (each call uses its own curl handle).
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_HTTP01_VALIDATOR_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_HTTP01_VALIDATOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/network_allowlist.h"
#include "signer/frontdoor/validation_result.h"

namespace acme_signer::signer::frontdoor {

struct Http01ValidatorOptions {
  // Port of the first request (RFC 8555: 80; the lab uses its HTTP01_PORT).
  int port = 80;
  // Port of https redirect targets, besides 443 (tests point it at a loopback port).
  int https_port = 443;
  absl::Duration connect_timeout = absl::Seconds(5);
  // The whole validation: DNS lookups, every hop, every fallback.
  absl::Duration timeout = absl::Seconds(20);
  size_t max_response_bytes = 8 * 1024;
  int max_redirects = 10;
  std::string user_agent = "acme-signer-front-door-validation";
};

class Http01Validator {
 public:
  using Options = Http01ValidatorOptions;

  // InvalidArgument naming the bad option (ports 1..65535, positive timeouts and size,
  // max_redirects 0..20, no line break in user_agent) or a null resolver.
  static absl::StatusOr<std::unique_ptr<Http01Validator>> Create(
      Options options, std::shared_ptr<const DnsResolver> resolver, NetworkAllowlist allowlist);

  Http01Validator(const Http01Validator&) = delete;
  Http01Validator& operator=(const Http01Validator&) = delete;

  // Validates that `name` (a DNS name, or an IP address for an IP identifier) serves
  // `key_authorization` for `token`. InvalidArgument (before any I/O) when the name is not a
  // DNS name or IP address (wildcards cannot use http-01), the token is not base64url, or
  // the key authorization is empty or has control characters; otherwise OK with the outcome.
  absl::StatusOr<ValidationResult> Validate(absl::string_view name, absl::string_view token,
                                            absl::string_view key_authorization) const;

  const Options& options() const { return options_; }

 private:
  Http01Validator(Options options, std::shared_ptr<const DnsResolver> resolver,
                  NetworkAllowlist allowlist)
      : options_(std::move(options)),
        resolver_(std::move(resolver)),
        allowlist_(std::move(allowlist)) {}

  const Options options_;
  const std::shared_ptr<const DnsResolver> resolver_;
  const NetworkAllowlist allowlist_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_HTTP01_VALIDATOR_H_
