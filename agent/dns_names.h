// Validation of the DNS names a certificate is requested for (certbot's -d values).
// The signer compares the CSR's names with the order's identifiers exactly, so the agent
// normalizes once (lowercase, no trailing dot) and uses the same strings everywhere.
#ifndef ACME_SIGNER_AGENT_DNS_NAMES_H_
#define ACME_SIGNER_AGENT_DNS_NAMES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace acme_signer::agent {

// Lowercases, drops one trailing dot and checks the result: LDH labels of 1..63 characters, no
// leading/trailing hyphen, total length <= 253, at least two labels, an optional leading "*."
// wildcard label. IP addresses are refused (this agent requests DNS identifiers only).
// InvalidArgument naming the value otherwise.
absl::StatusOr<std::string> NormalizeDnsName(absl::string_view name);

// Checks that `names` is non-empty, each entry is already normalized (NormalizeDnsName(x) == x)
// and no name repeats. InvalidArgument naming the first offending entry.
absl::Status ValidateDnsNames(absl::Span<const std::string> names);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_DNS_NAMES_H_
