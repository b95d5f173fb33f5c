// ValidationResult: what one challenge validation (http-01, dns-01) found, for the challenge
// resource's `error` (RFC 8555 §7.1.5, §8.2) and the audit log.
//
// A failed validation is a normal outcome, not an error of the validator: validators return
// absl::StatusOr<ValidationResult>, non-OK only for a caller's mistake (malformed token,
// empty key authorization). Plain value type; thread-compatible.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_VALIDATION_RESULT_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_VALIDATION_RESULT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace acme_signer::signer::frontdoor {

// ACME error types (the part after "urn:ietf:params:acme:error:") a validation can end with.
inline constexpr absl::string_view kProblemDns = "dns";                // lookup failed
inline constexpr absl::string_view kProblemConnection = "connection";  // connect/redirect/refused
inline constexpr absl::string_view kProblemTls = "tls";                // https hop handshake
inline constexpr absl::string_view kProblemUnauthorized = "unauthorized";  // wrong answer

// One request (http-01) or lookup (dns-01) made during a validation, for the audit log.
struct ValidationRecord {
  std::string url;                              // http-01: the URL fetched; dns-01: empty
  std::string hostname;                         // the name resolved
  int port = 0;                                 // http-01: the port connected to
  std::vector<std::string> addresses_resolved;  // every address DNS returned
  std::vector<std::string> addresses_refused;   // those outside the allowlist
  std::string address_used;                     // the address connected to, if any
};

struct ValidationResult {
  // Empty on success, else one of the kProblem* types.
  std::string problem_type;
  // Success: what was checked ("http://a.example/.well-known/acme-challenge/T at 192.0.2.1
  // answered the key authorization"). Failure: what went wrong, naming the address, URL and
  // what was received (truncated and escaped: no control characters, no secrets — a key
  // authorization is not secret). Suitable for the problem document's `detail`.
  std::string detail;
  std::vector<ValidationRecord> records;

  bool ok() const { return problem_type.empty(); }
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_VALIDATION_RESULT_H_
