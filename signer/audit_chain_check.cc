#include "signer/audit_chain_check.h"

#include <memory>
#include <optional>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"
#include "signer/audit_log.h"
#include "signer/db/pg_connection.h"
#include "signer/db_audit_log.h"
#include "signer/runtime.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

absl::StatusOr<AuditVerifyOptions> ConfiguredAuditVerifyOptions(
    const SignerConfig& config, const std::string& public_key_der) {
  AuditVerifyOptions options;
  ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore(config));
  ASSIGN_OR_RETURN(std::optional<std::string> key_b64, store->GetValue(kAuditPublicKeyKey));
  if (!key_b64.has_value() && public_key_der.empty()) {
    return absl::FailedPreconditionError(
        "the state store has no audit public key yet (no checkpoint written); pass "
        "--public-key");
  }
  if (key_b64.has_value()) {
    std::string der;
    if (!absl::Base64Unescape(*key_b64, &der)) {
      return absl::DataLossError("the audit public key in the state store is not base64");
    }
    options.public_key_der = der;
  }
  if (!public_key_der.empty()) options.public_key_der = public_key_der;
  ASSIGN_OR_RETURN(options.expected_checkpoint, LoadAuditCheckpoint(*store));
  // The signer stores the reference with its first checkpoint and refuses to start without
  // it once the log has one; report the same here.
  options.reference_required = true;
  return options;
}

absl::StatusOr<AuditVerifyReport> VerifyConfiguredAuditChain(const SignerConfig& config,
                                                             const std::string& public_key_der) {
  if (config.state.backend == StateConfig::Backend::kPostgresql) {
    ASSIGN_OR_RETURN(std::unique_ptr<db::PgConnection> conn,
                     db::PgConnection::Connect(config.state.url));
    return VerifyDbAuditChain(*conn, public_key_der);
  }
  ASSIGN_OR_RETURN(AuditVerifyOptions options,
                   ConfiguredAuditVerifyOptions(config, public_key_der));
  return VerifyAuditLogAt(config.audit.log, options);
}

}  // namespace acme_signer::signer
