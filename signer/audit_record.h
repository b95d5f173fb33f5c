// AuditRecord: one audited RPC decision, and the canonical JSON form that the audit log hashes.
//
// The log (signer/audit_log.h) turns an AuditRecord into a JSON object, adds "kind", "seq",
// "time" and "prev", and stores it as one line together with "hash" = SHA-256 (hex) of the
// canonical serialization of the object without "hash". Checkpoints are records of kind
// "checkpoint" that carry an HSM signature over their canonical form without "hash" and
// "signature". docs/audit.md describes the format for auditors.
//
// Canonical serialization (CanonicalJson): nlohmann::json with object keys in lexicographic byte
// order (nlohmann's default std::map ordering), dump() with no whitespace, ensure_ascii = true
// (every non-ASCII code point as \uXXXX), invalid UTF-8 replaced by U+FFFD. Only strings,
// unsigned integers and objects/arrays of them appear in records, so the form is unambiguous.
//
// Plain value types and free functions: thread-compatible.
#ifndef ACME_SIGNER_SIGNER_AUDIT_RECORD_H_
#define ACME_SIGNER_SIGNER_AUDIT_RECORD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "signer/name_policy.h"

namespace acme_signer::signer {

enum class AuditDecision { kAllow, kDeny };

// What the agent asked for. Only identifiers and digests: never keys, CSRs or JWS payloads.
// Empty fields are left out of the record.
struct AuditRequest {
  // Recorded in the text form "dns:www.example.com" (signer/identifier_text.h), followed by an
  // entry "(N more identifiers not recorded)" when identifiers_not_recorded is N > 0.
  std::vector<Identifier> identifiers;
  uint64_t identifiers_not_recorded = 0;
  std::string order_url;
  std::string url;  // the ACME URL a JWS is signed for
  std::string csr_sha256;
  std::string finalize_url;
  // Revocation (RevokeCertificate, SignJws revokeCert): hex SHA-256 of the certificate DER and
  // the RFC 5280 reason code as text ("0".."10"; empty when the request named none).
  std::string certificate_sha256;
  std::string revocation_reason;
};

// What came of the request. Empty fields are left out of the record.
struct AuditOutcome {
  std::string acme_status;  // e.g. "valid", "pending"
  std::string serial;       // certificate serial, hex
  std::string not_after;    // RFC 3339
  // A certificate the signer issued itself (RenewAgentCertificate): hex SHA-256 of its DER.
  std::string certificate_sha256;
  std::string error;
};

// Set on a record that stands for refusals which got no record of their own: identical
// repeats folded together, or refusals beyond the identity's audit byte budget
// (signer/refusal_budget.h). Left out of the record when count is 0.
struct AuditRepeat {
  uint64_t count = 0;  // how many refusals this record stands for (none recorded elsewhere)
  std::string first;   // RFC 3339 time of the first of them
  std::string last;    // RFC 3339 time of the last of them
  std::string folded;  // "identical" or "over_budget"
  // over_budget only: the rpc and reason of the last refusal (the record's own rpc, request
  // and reason are those of the first).
  std::string last_rpc;
  std::string last_reason;
};

// One audited RPC. The log assigns seq, time and prev.
struct AuditRecord {
  std::string agent;               // authenticated identity name
  std::string client_cert_sha256;  // hex SHA-256 of the client certificate DER
  std::string peer;                // transport address, e.g. "ipv4:127.0.0.1:5555"
  // Front-door requests: RFC 7638 thumbprint of the ACME account key that signed the request
  // (`agent` is then the host the account belongs to). Left out of the record when empty.
  std::string account_thumbprint;
  // The signer's ACME account ([[accounts]] name) the request acted as, once known. Left out
  // of the record when empty (a refusal before the account was chosen).
  std::string account;
  std::string rpc;                 // RPC method name
  AuditRequest request;
  AuditDecision decision = AuditDecision::kDeny;
  std::string reason;
  AuditOutcome outcome;
  AuditRepeat repeated;
};

// The "prev" of the first record of the first log file: 64 zeros.
inline constexpr absl::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

inline constexpr absl::string_view kAuditKindEvent = "event";
inline constexpr absl::string_view kAuditKindCheckpoint = "checkpoint";

// The position of a checkpoint in the chain, kept outside the log (state store) so that a
// truncated tail of whole records can be detected.
struct AuditCheckpointRef {
  uint64_t seq = 0;
  std::string hash;  // the checkpoint record's own "hash"
};

// The canonical bytes of `value` (see the file comment). Never throws.
std::string CanonicalJson(const nlohmann::json& value);

// RFC 3339 UTC with microseconds: "2024-05-01T12:34:56.123456Z".
std::string FormatAuditTime(absl::Time t);

// The record's JSON fields without kind/seq/time/prev/hash.
nlohmann::json AuditRecordToJson(const AuditRecord& record);

// SHA-256 hex of CanonicalJson(`record` without "hash"): the value of "hash".
std::string AuditRecordHash(const nlohmann::json& record);

// The bytes a checkpoint signature covers: CanonicalJson(`checkpoint` without "hash" and
// "signature").
std::string CheckpointSigningInput(const nlohmann::json& checkpoint);

// Serializes a checkpoint reference for the state store, and parses it back.
// Parse errors: InvalidArgument naming what is malformed.
std::string AuditCheckpointRefToString(const AuditCheckpointRef& ref);
absl::StatusOr<AuditCheckpointRef> AuditCheckpointRefFromString(absl::string_view text);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_RECORD_H_
