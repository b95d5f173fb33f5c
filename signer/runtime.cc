#include "signer/runtime.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "signer/commands.h"
#include "signer/db_audit_log.h"

namespace acme_signer::signer {

absl::StatusOr<std::shared_ptr<hsm::Token>> OpenConfiguredToken(const HsmConfig& config) {
  absl::StatusOr<std::shared_ptr<hsm::Module>> module = hsm::Module::Load(config.module);
  if (!module.ok()) {
    return absl::Status(module.status().code(),
                        absl::StrCat("hsm.module: ", module.status().message()));
  }
  hsm::Token::Options options;
  options.verify_every_signature = config.verify_every_signature;
  absl::StatusOr<std::shared_ptr<hsm::Token>> token =
      hsm::Token::Open(*module, config.token_uri, config.pin_file, options);
  if (!token.ok()) {
    // Name the config key to fix: PIN problems (rejected, locked, file exposed or missing)
    // are fixed in the PIN file, everything else in the token URI.
    const bool pin_problem = token.status().code() == absl::StatusCode::kPermissionDenied ||
                             absl::StrContains(token.status().message(), "PIN file");
    const absl::string_view key = pin_problem ? "hsm.pin_file" : "hsm.token_uri";
    return absl::Status(token.status().code(), absl::StrCat(key, ": ", token.status().message()));
  }
  return token;
}

int StartupExitCode(const absl::Status& status) {
  // The daemon's restart policy hangs on this split: kExitConfig is in the unit's
  // RestartPreventExitStatus, because restarting with the same wrong PIN would hammer the
  // token (and lock a real HSM), and a bad config or a missing token or key does not fix
  // itself. The same holds for an audit log that fails its start-up verification
  // (DataLoss): it stays tampered or damaged until someone investigates.
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      return kExitConfig;
    default:
      return kExitFailure;
  }
}

std::string StateDbPath(const SignerConfig& config) {
  return absl::StrCat(config.state.dir, "/signer.db");
}

StateStoreOptions StateStoreOptionsFor(const SignerConfig& config, bool migrate) {
  StateStoreOptions options;
  options.backend = config.state.backend;
  if (config.state.backend == StateConfig::Backend::kSqlite) {
    options.sqlite_path = StateDbPath(config);
  } else {
    options.postgresql_url = config.state.url;
  }
  options.migrate = migrate;
  options.config_path = config.source;
  return options;
}

absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(const SignerConfig& config) {
  return StateStore::Open(StateStoreOptionsFor(config, /*migrate=*/false));
}

SignerRuntime::~SignerRuntime() {
  // The audit log writes its shutdown checkpoint with the audit key, so it closes first.
  if (audit != nullptr) audit->Close().IgnoreError();
  accounts.reset();
  audit.reset();
}

absl::StatusOr<std::unique_ptr<SignerRuntime>> SignerRuntime::Open(const SignerConfig& config,
                                                                   RuntimeParts parts) {
  if (parts.migrate_store) parts.store = true;
  if (parts.audit_log) parts.audit_key = parts.store = true;
  if (parts.accounts) parts.token = parts.store = true;
  if (parts.audit_key || parts.agent_ca_key) parts.token = true;

  auto runtime = std::unique_ptr<SignerRuntime>(new SignerRuntime());
  if (parts.token) {
    ASSIGN_OR_RETURN(runtime->token, OpenConfiguredToken(config.hsm));
  }
  auto open_key = [&](const std::string& uri,
                      absl::string_view key) -> absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> {
    absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> signer = runtime->token->OpenSigningKey(uri);
    if (signer.status().code() == absl::StatusCode::kNotFound) {
      return absl::FailedPreconditionError(
          absl::StrCat("hsm.", key, ": no key ", uri, " in token ", runtime->token->label(),
                       "; run `acme-signer init --config ", config.source, "` first"));
    }
    return signer;
  };
  if (parts.audit_key) {
    ASSIGN_OR_RETURN(runtime->audit_key, open_key(config.hsm.audit_key, "audit_key"));
  }
  if (parts.agent_ca_key) {
    ASSIGN_OR_RETURN(runtime->agent_ca_key, open_key(config.hsm.agent_ca_key, "agent_ca_key"));
  }
  if (parts.store) {
    // Only init creates the state dir (an existing one is fine; Open reports the rest): for
    // the other commands a missing one means init has not run, which Open says.
    if (parts.migrate_store) ::mkdir(config.state.dir.c_str(), 0700);
    ASSIGN_OR_RETURN(runtime->store,
                     StateStore::Open(StateStoreOptionsFor(config, parts.migrate_store)));
  }
  if (parts.audit_log && config.state.backend == StateConfig::Backend::kPostgresql) {
    // Every replica appends to the one chain in the shared database ([audit] log is refused
    // with this backend, signer/config.h).
    DbAuditLogOptions options;
    options.conninfo = config.state.url;
    options.replica = config.state.ReplicaName();
    options.checkpoint_interval = static_cast<uint64_t>(config.audit.checkpoint_every);
    absl::StatusOr<std::unique_ptr<DbAuditLog>> audit =
        DbAuditLog::Open(options, runtime->audit_key.get());
    if (!audit.ok()) {
      return absl::Status(audit.status().code(),
                          absl::StrCat("audit chain in [state] url: ", audit.status().message()));
    }
    runtime->audit = *std::move(audit);
  } else if (parts.audit_log) {
    AuditLogOptions options;
    options.path = config.audit.log;
    options.checkpoint_interval = static_cast<uint64_t>(config.audit.checkpoint_every);
    if (config.audit.rotate_bytes.has_value()) {
      options.rotate_bytes = static_cast<uint64_t>(*config.audit.rotate_bytes);
    }
    options.state_store = runtime->store.get();
    options.replica = config.state.ReplicaName();
    ASSIGN_OR_RETURN(runtime->audit, AuditLog::Open(options, runtime->audit_key.get()));
  }
  if (parts.accounts) {
    ASSIGN_OR_RETURN(runtime->accounts,
                     AccountSet::Open(config, *runtime->token, *runtime->store));
  }
  return runtime;
}

}  // namespace acme_signer::signer
