// ServerProblem: a problem document (RFC 7807, RFC 8555 §6.7) that the front door — the signer's
// own ACME server — sends to a client. acme/problem.h is the other direction: documents a CA
// sent us. Both share Subproblem and the error-type namespace.
//
// Errors travel as absl::Status: server code returns ServerProblemStatus(...) (or
// ServerProblem::ToStatus()), which carries the whole document as a payload (type URL
// kServerProblemPayloadUrl); the HTTP layer turns any status into a response with
// ProblemForStatus(), which gives back that document, or serverInternal (HTTP 500, a generic
// detail that reveals nothing) for a status that carries none. So a deep function says exactly
// what the client did wrong, and an unexpected failure can never leak its message to the client.
// The status code follows acme::ProblemCode (malformed → InvalidArgument, unauthorized →
// PermissionDenied, ...), and the message is "<type>: <detail>" for logs.
//
// Value types and pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_SERVER_PROBLEM_H_
#define ACME_SIGNER_ACME_SERVER_PROBLEM_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "acme/problem.h"

namespace acme_signer::acme {

// Payload type URL of statuses that carry a ServerProblem (JSON, see ServerProblem::ToJson,
// plus the HTTP status in member "status").
inline constexpr absl::string_view kServerProblemPayloadUrl = "acme-signer/acme-server-problem";
// Payload type URL of the problem's Location (ServerProblem::location), kept apart from the
// document because it is a response header, not a member.
inline constexpr absl::string_view kServerProblemLocationPayloadUrl =
    "acme-signer/acme-server-problem-location";

// The error types of RFC 8555 §6.7 that the front door sends (short names, without
// kAcmeErrorPrefix).
namespace problem_type {
inline constexpr absl::string_view kAccountDoesNotExist = "accountDoesNotExist";
inline constexpr absl::string_view kAlreadyRevoked = "alreadyRevoked";
inline constexpr absl::string_view kBadCsr = "badCSR";
inline constexpr absl::string_view kBadNonce = "badNonce";
inline constexpr absl::string_view kBadPublicKey = "badPublicKey";
inline constexpr absl::string_view kBadRevocationReason = "badRevocationReason";
inline constexpr absl::string_view kBadSignatureAlgorithm = "badSignatureAlgorithm";
inline constexpr absl::string_view kCaa = "caa";
inline constexpr absl::string_view kCompound = "compound";
inline constexpr absl::string_view kConnection = "connection";
inline constexpr absl::string_view kDns = "dns";
inline constexpr absl::string_view kExternalAccountRequired = "externalAccountRequired";
inline constexpr absl::string_view kIncorrectResponse = "incorrectResponse";
inline constexpr absl::string_view kInvalidContact = "invalidContact";
inline constexpr absl::string_view kMalformed = "malformed";
inline constexpr absl::string_view kOrderNotReady = "orderNotReady";
inline constexpr absl::string_view kRateLimited = "rateLimited";
inline constexpr absl::string_view kRejectedIdentifier = "rejectedIdentifier";
inline constexpr absl::string_view kServerInternal = "serverInternal";
inline constexpr absl::string_view kTls = "tls";
inline constexpr absl::string_view kUnauthorized = "unauthorized";
inline constexpr absl::string_view kUnsupportedContact = "unsupportedContact";
inline constexpr absl::string_view kUnsupportedIdentifier = "unsupportedIdentifier";
inline constexpr absl::string_view kUserActionRequired = "userActionRequired";
}  // namespace problem_type

// The Content-Type of a problem document.
inline constexpr absl::string_view kProblemContentType = "application/problem+json";

struct ServerProblem {
  std::string type;    // short RFC 8555 type ("malformed"); serialised with kAcmeErrorPrefix
  std::string detail;  // for the client: says what was wrong, never a secret
  int http_status = 400;
  std::vector<Subproblem> subproblems;
  // badSignatureAlgorithm: the JWS algorithms the server accepts (RFC 8555 §6.2).
  std::vector<std::string> algorithms;
  // The response's Location header, when the problem names a resource (keyChange's 409 names
  // the account that already has the key, RFC 8555 §7.3.5). Not part of the document.
  std::string location;

  // The application/problem+json document: {"type","detail","status"[,"subproblems"]
  // [,"algorithms"]}; subproblem types are prefixed like the main type.
  std::string ToJson() const;
  // An absl::Status carrying this problem (see the file comment).
  absl::Status ToStatus() const;
};

// The HTTP status RFC 8555 servers (Boulder, Pebble) use for `type`: 403 for unauthorized,
// orderNotReady and userActionRequired, 429 for rateLimited, 500 for serverInternal, 400
// otherwise.
int DefaultHttpStatus(absl::string_view type);

// ServerProblem{type, detail, DefaultHttpStatus(type)}.
ServerProblem MakeServerProblem(absl::string_view type, absl::string_view detail);

// MakeServerProblem(type, detail).ToStatus(): what server code returns.
absl::Status ServerProblemStatus(absl::string_view type, absl::string_view detail);

// The same with an explicit HTTP status (e.g. 409 for keyChange to a key in use, 413 for an
// oversized body, 405, 404).
absl::Status ServerProblemStatus(absl::string_view type, absl::string_view detail, int http_status);

// The problem carried by `status`, if it carries one.
std::optional<ServerProblem> GetServerProblem(const absl::Status& status);

// What to send for `status`, which must not be OK: its problem, or serverInternal (500,
// "internal error") when it carries none. The status message is not sent to the client.
ServerProblem ProblemForStatus(const absl::Status& status);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_SERVER_PROBLEM_H_
