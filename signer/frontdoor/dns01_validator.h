// Dns01Validator: the front door's own dns-01 validation (RFC 8555 §8.4): look up the TXT
// records of _acme-challenge.<name> (acme::Dns01RecordName; a wildcard's "*." is dropped)
// through the DnsResolver and succeed when one of them equals
// acme::Dns01TxtValue(key authorization). CNAMEs (the usual delegation of _acme-challenge)
// are followed by the resolver.
//
// Outcome problem types (as Let's Encrypt): "dns" for a failed lookup (NXDOMAIN, SERVFAIL,
// timeout), "unauthorized" when the name has no TXT record or only wrong ones (the detail
// names the record name and what was found, truncated and escaped).
//
// No connection is made to the host, so the NetworkAllowlist does not apply here; the
// resolver is operator configuration. Thread-safety: Validate may be called concurrently.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_DNS01_VALIDATOR_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_DNS01_VALIDATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/validation_result.h"

namespace acme_signer::signer::frontdoor {

class Dns01Validator {
 public:
  // InvalidArgument for a null resolver or a non-positive timeout.
  static absl::StatusOr<std::unique_ptr<Dns01Validator>> Create(
      std::shared_ptr<const DnsResolver> resolver, absl::Duration timeout = absl::Seconds(20));

  Dns01Validator(const Dns01Validator&) = delete;
  Dns01Validator& operator=(const Dns01Validator&) = delete;

  // Validates `identifier` (a DNS name or wildcard "*.name") against `key_authorization`.
  // InvalidArgument (before any lookup) for a name that is not a DNS identifier or an empty
  // key authorization; otherwise OK with the outcome.
  absl::StatusOr<ValidationResult> Validate(absl::string_view identifier,
                                            absl::string_view key_authorization) const;

 private:
  Dns01Validator(std::shared_ptr<const DnsResolver> resolver, absl::Duration timeout)
      : resolver_(std::move(resolver)), timeout_(timeout) {}

  const std::shared_ptr<const DnsResolver> resolver_;
  const absl::Duration timeout_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_DNS01_VALIDATOR_H_
