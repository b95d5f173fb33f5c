// What a valid DNS name is, for everything that orders, checks or signs one: the agent
// normalises and checks the names it is asked for (certbot's -d), and the signer checks every
// identifier and CSR name before it lets an order or a certificate through. One definition, so
// the agent never orders a name that the signer would refuse.
//
// A DNS name here is the form the CA sees and the policy compares (RFC 8555 §7.1.4 with
// RFC 1123 host-name syntax): ASCII, lowercase LDH labels of 1..63 characters, at most 253
// characters in all, no trailing dot, no leading or trailing hyphen in a label, hyphens in the
// 3rd and 4th position only in "xn--" A-labels (RFC 5891 §4.2.3.1), at least two labels and a
// last label that is not all digits (that would be an IP address). A wildcard identifier is
// "*." followed by such a name. Nothing is normalised on the caller's behalf except by
// NormalizeDnsName, so what is checked is byte for byte what gets signed.
//
// Thread-safety: pure functions. Error messages escape the name (no control character reaches
// a log line) and cut it at 80 bytes.
#ifndef ACME_SIGNER_ACME_DNS_NAMES_H_
#define ACME_SIGNER_ACME_DNS_NAMES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace acme_signer::acme {

inline constexpr size_t kMaxDnsNameLength = 253;
inline constexpr size_t kMaxDnsLabelLength = 63;

// Checks one lowercase LDH label: 1..63 of a-z, 0-9 and '-', not starting or ending with '-'.
// Also the rule for other names made of labels (agent names, trust domains, host names).
// InvalidArgument whose message is only the rule broken ("empty label"), so the caller can say
// what the label belongs to.
absl::Status CheckLdhLabel(absl::string_view label);

// Checks a name made of CheckLdhLabel labels separated by dots, at most 253 characters, where
// one label is enough: host names ("localhost") and SPIFFE trust domains. `what` names the kind
// of name: InvalidArgument "invalid <what> \"<name>\": <rule broken>".
absl::Status ValidateLdhName(absl::string_view what, absl::string_view name);

// Checks a name the signer sends in a DNS query (CAA lookups, dns-01 TXT lookups at
// "_acme-challenge.<name>"): labels as CheckLdhLabel but also with '_' (RFC 8552 underscored
// labels) and in any case (DNS compares without case); at most 253 characters; one trailing
// dot allowed. Looser than ValidateDnsName, which says what may be certified.
// InvalidArgument "invalid DNS query name \"<name>\": <rule broken>".
absl::Status ValidateDnsQueryName(absl::string_view name);

// Checks a name that is exactly one CheckLdhLabel label (agent names). InvalidArgument as for
// ValidateLdhName.
absl::Status ValidateSingleLabelName(absl::string_view what, absl::string_view name);

// Checks a signer ACME account name ([[accounts]] name on the signer, `account` in the agent's
// renewal/NAME.conf): one CheckLdhLabel label, the rule for agent names, because the name
// becomes part of HSM object labels and is matched byte for byte. The signer's rule decides:
// a name it would refuse is useless to the agent. InvalidArgument
// "invalid account name \"<name>\": <rule broken>".
absl::Status ValidateAccountName(absl::string_view name);

// Checks that `name` is a DNS name as defined above, not a wildcard.
// InvalidArgument "invalid DNS name \"<name>\": <rule broken>".
absl::Status ValidateDnsName(absl::string_view name);

// ValidateDnsName, or "*." followed by a valid name (a wildcard identifier, RFC 8555 §7.1.3).
// InvalidArgument as for ValidateDnsName ("invalid wildcard name ..." for "*.x").
absl::Status ValidateDnsIdentifier(absl::string_view name);

// Normalises a name a user typed (certbot's -d): ASCII-lowercases it and drops one trailing
// dot, then checks the result with ValidateDnsIdentifier.
absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name);

// Checks the names of one certificate: at least one, each already normalised
// (NormalizeDnsName(x) == x) and none repeated. InvalidArgument naming the first offender.
absl::Status ValidateDnsNames(absl::Span<const std::string> names);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_DNS_NAMES_H_
