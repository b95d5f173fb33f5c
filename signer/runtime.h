// SignerRuntime: the long-lived objects of a signer process, opened from its config in one
// place so `serve`, `init` and the admin subcommands open them the same way: the PKCS#11
// module and token, the key handles, the ACME accounts (signer/account_set.h), the state store
// (SQLite or PostgreSQL) and the audit log (the file log with backend "sqlite", the database
// chain of all replicas with "postgresql": signer/db_audit_log.h). Fields are null when the
// subcommand did not ask for them.
// Thread-safety: the objects are thread-safe; the struct itself is built once.
#ifndef ACME_SIGNER_SIGNER_RUNTIME_H_
#define ACME_SIGNER_SIGNER_RUNTIME_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "acme/client.h"
#include "hsm/jws_signer.h"
#include "hsm/token.h"
#include "http/curl_http_client.h"
#include "signer/account_set.h"
#include "signer/audit_log.h"
#include "signer/config.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

struct RuntimeParts {
  bool token = false;        // module + token (implied by every key below)
  bool audit_key = false;
  bool agent_ca_key = false;  // hsm.agent_ca_key: serve issues renewed agent certificates
  bool store = false;
  // Create or upgrade the store's schema (init only; every other command refuses a schema
  // that is not current and names `acme-signer migrate`). Implies store.
  bool migrate_store = false;
  bool audit_log = false;  // implies audit_key and store
  bool accounts = false;   // every [[accounts]] key + engine; implies token and store
};

class SignerRuntime {
 public:
  // Opens what `parts` asks for. Errors name the component and the config key involved.
  static absl::StatusOr<std::unique_ptr<SignerRuntime>> Open(const SignerConfig& config,
                                                             RuntimeParts parts);
  ~SignerRuntime();

  std::shared_ptr<hsm::Token> token;
  std::unique_ptr<hsm::JwsSigner> audit_key;
  std::unique_ptr<hsm::JwsSigner> agent_ca_key;
  std::unique_ptr<StateStore> store;
  std::unique_ptr<AuditAppender> audit;
  std::unique_ptr<AccountSet> accounts;
};

// Opens the token named by the config (module, token URI, PIN file).
absl::StatusOr<std::shared_ptr<hsm::Token>> OpenConfiguredToken(const HsmConfig& config);

// The exit code (signer/commands.h) for an error that stopped a subcommand before it did its
// work. kExitConfig for errors a restart or a second try cannot fix: bad config or URI
// (InvalidArgument), token, key or file absent (NotFound), PIN rejected or locked or PIN file
// exposed (PermissionDenied), not initialized or unfit key or root refused
// (FailedPrecondition), AlreadyExists, OutOfRange, Unimplemented, and an audit log that is
// damaged or fails its start-up verification (DataLoss). kExitFailure for the rest,
// which may pass (port in use, HSM or CA briefly unreachable: Unavailable, Internal, ...).
int StartupExitCode(const absl::Status& status);

// The SQLite database path inside the state dir.
std::string StateDbPath(const SignerConfig& config);

// How this config's [state] section opens the store (SQLite file in state.dir, or PostgreSQL
// at state.url), migrating it or not.
StateStoreOptions StateStoreOptionsFor(const SignerConfig& config, bool migrate);

// Opens the state store of this config without migrating: FailedPrecondition (naming
// `acme-signer init` or `acme-signer migrate --config <config.source>`) when the schema is not
// current. The admin commands' way in; serve gets it through SignerRuntime.
absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const SignerConfig& config);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_RUNTIME_H_
