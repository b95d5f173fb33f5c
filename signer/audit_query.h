// AuditQuery: which audit records `acme-signer audit query` prints, and how it prints them.
//
// A query is a conjunction of optional filters over the event records of the chain
// (checkpoints never match): the agent, the decision, the RPC, a DNS name among the record's
// identifiers, and a time range. The command feeds it every line of the chain
// (signer/audit_source.h); this file only decides and formats, so it is tested without a log.
//
// Times: RFC 3339 ("2024-05-01T12:00:00Z", "...+02:00") or a date "YYYY-MM-DD", read as UTC.
// --since is inclusive: a date means that day's 00:00:00 UTC. --until is inclusive too: an
// RFC 3339 time includes a record stamped exactly then, and a date includes the WHOLE day
// (everything before the next day's 00:00 UTC), so `--since 2024-05-01 --until 2024-05-31`
// is the month of May.
//
// Names: exact, case-insensitive ("www.example.org" finds records naming exactly that name,
// not a wildcard that covers it). A pattern "*.example.org" finds every name strictly below
// example.org, at any depth, including the wildcard name "*.example.org" itself.
//
// Thread-safety: value types and pure functions.
#ifndef ACME_SIGNER_SIGNER_AUDIT_QUERY_H_
#define ACME_SIGNER_SIGNER_AUDIT_QUERY_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace acme_signer::signer {

struct AuditQuery {
  std::optional<std::string> agent;     // exact
  std::optional<std::string> decision;  // "allow" or "deny"
  std::optional<std::string> rpc;       // exact, e.g. "FinalizeOrder"
  // Lower-case; "*.suffix" is a pattern (see the file comment).
  std::optional<std::string> name;
  std::optional<absl::Time> since;  // records at or after
  std::optional<absl::Time> until;  // records strictly before (ParseQueryUntil's bound)
};

// --since T: InvalidArgument naming the accepted forms when T is neither.
absl::StatusOr<absl::Time> ParseQuerySince(absl::string_view text);
// --until T, as the exclusive bound AuditQuery::until holds: the next day's 00:00 UTC for a
// date, one nanosecond after T for an RFC 3339 time (record times have microseconds).
absl::StatusOr<absl::Time> ParseQueryUntil(absl::string_view text);
// --decision: "allow" or "deny" (exactly as records spell them); InvalidArgument otherwise.
absl::StatusOr<std::string> ParseQueryDecision(absl::string_view text);
// --name: lower-cases it; InvalidArgument for an empty name or a '*' anywhere but a leading
// "*." label.
absl::StatusOr<std::string> ParseQueryName(absl::string_view text);

// True when the DNS name `name` (any case) matches `pattern` as ParseQueryName returned it.
// `inventory --name` uses the same rule.
bool QueryNameMatches(absl::string_view pattern, absl::string_view name);

// True when `record` (one parsed line of the chain) is an event record that passes every
// filter of `query`. A record without a parseable "time" never passes a time filter.
bool AuditQueryMatches(const AuditQuery& query, const nlohmann::json& record);

// One line for humans, without '\n':
//   TIME AGENT DECISION RPC NAMES[ serial=S][ reason="..."][ repeated=N]
// NAMES is the identifiers' values joined by ',' ("-" when none; a record's
// "(N more identifiers not recorded)" entry is kept as "+N"); AGENT is "-" when empty. The
// reason is printed for denials, the serial for issuance, repeated= for a folded refusal
// record (docs/audit.md "Folded refusals").
std::string FormatAuditQueryLine(const nlohmann::json& record);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_QUERY_H_
