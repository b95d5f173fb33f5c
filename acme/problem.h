// Problem: an ACME problem document (RFC 7807, RFC 8555 §6.7) and its mapping to absl::Status.
//
// Every ACME error the server reports becomes an absl::Status whose code says what kind of
// failure it is and whose message tells the user what to do. The original document travels
// with the status as a payload (type URL kProblemPayloadUrl, the raw JSON), so callers deep in
// the stack — the signer's RPC layer, the agent's CLI — can recover it with GetProblem().
//
// Code mapping (absl code ← ACME error type):
//   InvalidArgument    ← malformed, badCSR, rejectedIdentifier, unsupportedIdentifier,
//                        invalidContact, unsupportedContact, badSignatureAlgorithm,
//                        badPublicKey, badRevocationReason
//   FailedPrecondition ← externalAccountRequired, orderNotReady, userActionRequired, caa,
//                        connection, dns, incorrectResponse, tls, compound, unknown 4xx
//   PermissionDenied   ← unauthorized
//   NotFound           ← accountDoesNotExist
//   AlreadyExists      ← alreadyRevoked
//   ResourceExhausted  ← rateLimited
//   Unavailable        ← serverInternal, badNonce (after the client's retries), unknown 5xx
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_PROBLEM_H_
#define ACME_SIGNER_ACME_PROBLEM_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acme/identifier.h"

namespace acme_signer::acme {

// Payload type URLs attached to statuses made from problem documents.
inline constexpr absl::string_view kProblemPayloadUrl = "acme-signer/acme-problem";
// What the document alone does not carry: {"http_status":N,"retry_after_seconds":N}.
inline constexpr absl::string_view kProblemMetaPayloadUrl = "acme-signer/acme-problem-meta";

// The namespace of ACME error types (RFC 8555 §6.7).
inline constexpr absl::string_view kAcmeErrorPrefix = "urn:ietf:params:acme:error:";

struct Subproblem {
  std::string type;
  std::string detail;
  std::optional<Identifier> identifier;
};

struct Problem {
  std::string type;    // full type URI; "about:blank" when the document had none
  std::string detail;  // as sent by the server (may be empty)
  int status = 0;      // HTTP status (document's "status" member, else the response's)
  std::string instance;
  std::vector<Subproblem> subproblems;
  std::optional<absl::Duration> retry_after;  // from the response's Retry-After header
  std::string raw_json;                       // the document as received

  // "rateLimited" for types in the ACME namespace, the full type otherwise.
  std::string ShortType() const;
  // True when type is urn:ietf:params:acme:error:<acme_error>.
  bool Is(absl::string_view acme_error) const;
};

// Parses a problem document. InvalidArgument when `json` is not a JSON object or a member has
// the wrong type; unknown members are ignored.
absl::StatusOr<Problem> ParseProblem(absl::string_view json);

// The absl::Status for `problem` (see the mapping above). `context` says what was being done
// ("creating the order for a.example"); the message is "<context>: <what the CA said>; <what
// to do>". The raw document (and Retry-After) are attached as payloads.
absl::Status ProblemToStatus(const Problem& problem, absl::string_view context);

// The problem document carried by `status`, if it came from one.
std::optional<Problem> GetProblem(const absl::Status& status);

// The absl code for an ACME error type (see the table above); `http_status` decides for
// types outside the ACME namespace.
absl::StatusCode ProblemCode(const Problem& problem);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_PROBLEM_H_
