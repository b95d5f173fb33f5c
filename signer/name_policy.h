// Per-agent name policy: which ACME identifiers an agent may put in an order or a CSR.
//
// Pure functions over a plain AgentPolicy (no I/O), safe to call from any thread. Deny by
// default: a name is permitted only when an entry of `allowed_names` explicitly covers it.
// docs/policy.md is the normative description; in short:
//   "www.example.com"   exactly that name.
//   "*.lab.test"        exactly one label under lab.test: "a.lab.test" (not "lab.test",
//                       not "a.b.lab.test").
//   "**.lab.test"       one or more labels under lab.test: "a.lab.test", "a.b.lab.test"
//                       (not "lab.test").
// Names are compared as the CA will see them: ASCII, lowercase, no trailing dot. Nothing is
// normalised on the caller's behalf, so what we check is byte-for-byte what gets signed. What
// a syntactically valid name is lies in acme/dns_names.h, shared with the agent.
#ifndef ACME_SIGNER_SIGNER_NAME_POLICY_H_
#define ACME_SIGNER_SIGNER_NAME_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "acme/identifier.h"

namespace acme_signer::signer {

// What an agent may do. Filled by the config loader; validated with ValidateAgentPolicy.
struct AgentPolicy {
  std::string name;  // Agent name as authenticated by mTLS, used in error messages.
  // Exact names, "*.suffix" (one label) and "**.suffix" (any depth) patterns.
  std::vector<std::string> allowed_names;
  // Whether identifiers such as "*.example.com" (wildcard certificates) may be requested.
  bool allow_wildcard_certificates = false;
  // Subset of "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096".
  std::vector<std::string> key_types;
  int max_identifiers_per_order = 10;
  int orders_per_hour = 30;
  bool allow_sign_jws = false;
  // Whether the host may use the ACME front door ([acme_server]) with EAB credentials from
  // `acme-signer enroll-client`. Deny by default.
  bool front_door = false;
  // The ACME accounts ([[accounts]] names) this agent may use, and the one used when a request
  // names none (one of `accounts`). Filled by the config loader; never empty there.
  std::vector<std::string> accounts;
  std::string default_account;

  bool MayUseAccount(absl::string_view account) const;
};

// An ACME identifier (RFC 8555 section 9.7.7). Only type "dns" is supported.
// The one identifier type: agent and signer must agree on what an identifier is.
using Identifier = ::acme_signer::acme::Identifier;

// The key type names accepted in AgentPolicy::key_types.
inline constexpr absl::string_view kKeyTypeEcP256 = "ec-p256";
inline constexpr absl::string_view kKeyTypeEcP384 = "ec-p384";
inline constexpr absl::string_view kKeyTypeRsa2048 = "rsa-2048";
inline constexpr absl::string_view kKeyTypeRsa3072 = "rsa-3072";
inline constexpr absl::string_view kKeyTypeRsa4096 = "rsa-4096";

// Renders untrusted text (a name from a request) for an error message: C-escaped, so no
// control character reaches a log line, and cut at 80 bytes.
std::string EscapeForError(absl::string_view text);

// Checks one allowed_names entry: a valid DNS name (acme/dns_names.h, the rules the agent
// checks too), or "*."/"**." followed by one. InvalidArgument naming the entry. Entries that fail
// never match anything.
absl::Status ValidateNamePattern(absl::string_view pattern);

// Checks a whole policy at config load: non-empty agent name, every allowed_names entry and
// key type valid, limits positive. InvalidArgument naming the agent and the field.
absl::Status ValidateAgentPolicy(const AgentPolicy& policy);

// Whether `policy` permits a certificate for the DNS name `name`, which may be a wildcard
// "*.x". A wildcard name is permitted only with allow_wildcard_certificates and when the
// policy covers every name the wildcard certificate would be valid for: an entry "*.x"
// exactly, or an entry "**.y" where x is y or lies under y.
// InvalidArgument: the name is malformed. PermissionDenied: well-formed but not permitted;
// the message names the agent and the name.
absl::Status CheckName(const AgentPolicy& policy, absl::string_view name);

// Checks the identifier list of an order: not empty, at most max_identifiers_per_order, all
// type "dns", no duplicates, every name passing CheckName. Errors as for CheckName; too many
// or an unsupported type is PermissionDenied, an empty list or a duplicate InvalidArgument.
absl::Status CheckIdentifiers(const AgentPolicy& policy,
                              const std::vector<Identifier>& identifiers);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_NAME_POLICY_H_
