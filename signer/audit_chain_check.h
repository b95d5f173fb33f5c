// The one check of a signer's whole audit chain as its config locates it: the JSON Lines files
// of [audit] log against the audit key and last checkpoint reference in the state store
// ([state] backend = "sqlite"), or the database chain of every replica ("postgresql").
// `audit verify --config`, `audit report` and backup/restore all report this same result.
//
// Thread-safety: a free function; each call opens its own store, files or connection.
#ifndef ACME_SIGNER_SIGNER_AUDIT_CHAIN_CHECK_H_
#define ACME_SIGNER_SIGNER_AUDIT_CHAIN_CHECK_H_

#include <string>

#include "absl/status/statusor.h"
#include "signer/audit_verifier.h"
#include "signer/config.h"

namespace acme_signer::signer {

// `public_key_der` (SubjectPublicKeyInfo) overrides the key the store holds; "" = the stored
// key. Tampering and damage are in the report's `problem`; errors only for what prevents
// verification (store or database unreachable, no key known yet, unreadable file).
absl::StatusOr<AuditVerifyReport> VerifyConfiguredAuditChain(const SignerConfig& config,
                                                             const std::string& public_key_der);

// [state] backend = "sqlite" only: the options VerifyConfiguredAuditChain verifies the files
// with (the stored or given key, the stored checkpoint reference, reference_required), for
// callers that then adjust them (`audit verify --config F --log PATH --checkpoint REF`).
absl::StatusOr<AuditVerifyOptions> ConfiguredAuditVerifyOptions(
    const SignerConfig& config, const std::string& public_key_der);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_AUDIT_CHAIN_CHECK_H_
