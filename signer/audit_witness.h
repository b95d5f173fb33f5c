// The auditor's witness against rollback: checkpoints of the audit chain kept off the signer
// host, and the check that the chain still contains and extends every one of them.
//
// An insider who restores an older copy of BOTH the audit log and the state database rewinds
// history without breaking a hash: the restored store's checkpoint reference matches the
// restored log. A checkpoint an auditor fetched earlier (`acme-signer audit checkpoint`) and
// kept elsewhere is not rewound with them: `audit verify --witness FILE` fails when the chain
// ends before a witnessed checkpoint (rolled back) or holds another record at its seq
// (history rewritten). docs/audit.md "A witness against rollback".
//
// The witness line is one JSON object with exactly the keys seq, hash, signature, key_id and
// time of a checkpoint record (key_id: hex SHA-256 of the audit key's DER SubjectPublicKeyInfo,
// as every checkpoint record carries it). Its signature is verified with the audit key through
// the chain: the checkpoint record in the log must carry this very signature and hash, and the
// chain verification (signer/audit_verifier.h) checks that record's signature with the key.
//
// Thread-safety: value types and free functions; each call opens its own files or connection.
#ifndef ACME_SIGNER_SIGNER_AUDIT_WITNESS_H_
#define ACME_SIGNER_SIGNER_AUDIT_WITNESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "signer/config.h"

namespace acme_signer::signer {

struct AuditWitnessEntry {
  uint64_t seq = 0;
  std::string hash;       // the checkpoint record's "hash" (the chain head it seals)
  std::string signature;  // its base64url signature
  std::string key_id;     // hex SHA-256 of the audit key's SPKI DER
  std::string time;       // RFC 3339, when the signer wrote it

  // "seq 257 (2024-05-01T12:34:56.123456Z)": how messages name a checkpoint.
  std::string Name() const;
};

// The witness entry of a checkpoint record; nullopt when `record` is not a checkpoint with
// those fields.
std::optional<AuditWitnessEntry> WitnessEntryOf(const nlohmann::json& record);

// The one JSON line `audit checkpoint` prints (canonical key order, no '\n').
std::string WitnessLine(const AuditWitnessEntry& entry);

// Parses a witness file: one line per checkpoint kept (blank lines ignored). InvalidArgument
// naming `file_name`:line and the bad key; an empty file is InvalidArgument too (a witness
// that holds nothing would pass every log).
absl::StatusOr<std::vector<AuditWitnessEntry>> ParseWitnessFile(absl::string_view text,
                                                                absl::string_view file_name);

// The latest checkpoint in the chain `config` locates, read from the log alone (no HSM, no
// state store). NotFound when the chain holds no checkpoint yet; the errors of
// ForEachAuditLine; DataLoss naming the line when a complete line is not a JSON object.
absl::StatusOr<AuditWitnessEntry> LatestAuditCheckpoint(const SignerConfig& config);

// Checks that the chain `config` locates contains every entry of `witnessed` (a checkpoint at
// the same seq with the same hash, signature, key id and time) and so extends past it. The
// chain's own integrity is VerifyConfiguredAuditChain's job, which callers run too. Returns
// the first failure as text naming the witnessed checkpoint (nullopt: all found); errors only
// for what prevents reading the chain.
absl::StatusOr<std::optional<std::string>> CheckAuditWitness(
    const SignerConfig& config, const std::vector<AuditWitnessEntry>& witnessed);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_WITNESS_H_
