// acme-signer account deactivate --config F --account NAME --yes: RFC 8555 §7.3.6 account
// deactivation (POST {"status":"deactivated"} to the account URL, signed by the account key in
// the HSM). Irreversible at the CA: it refuses every later request of the account, including
// revocations signed by it and key rollover.
//
// Runs only while serve is stopped: the deactivation is audited, and only one process may
// append to the audit log. The command takes serve's pid-file lock (signer/serve_control.h) for
// its whole run, so serve cannot start meanwhile, and is refused with "stop acme-signer first"
// when serve runs. In that window it appends the record itself, and records status
// "deactivated" in the state store; from its next start serve refuses every request on the
// account (AccountSet::ForAgent) and `account list` shows it.
//
// Order: the CA first (its answer is the truth), then the store, then the audit record. A run
// killed after the CA answered is repaired by running the command again: the CA then refuses
// the request because the account is already deactivated, which is recorded as such.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "acme/client.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "signer/account_set.h"
#include "signer/admin_identity.h"
#include "signer/audit_log.h"
#include "signer/audit_record.h"
#include "signer/commands.h"
#include "signer/config.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"
#include "signer/serve_control.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

constexpr char kUsage[] = "acme-signer account deactivate --config FILE --account NAME --yes";
// The rpc of the audit record.
constexpr char kAuditRpc[] = "Admin/account-deactivate";

// Whether the CA refused the request because the account is already deactivated (a second run
// after one killed between the CA's answer and the store).
bool AlreadyDeactivatedAtCa(const absl::Status& status) {
  return absl::IsPermissionDenied(status) && absl::StrContains(status.message(), "deactivated");
}

absl::Status Deactivate(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("account");
  ASSIGN_OR_RETURN(const AccountConfig* account, config.AccountNamedByFlag(name));

  // Serve's lock for the whole run: no serve appends to the audit log meanwhile. A reload
  // request (SIGHUP) meant for serve must not end this process.
  ::signal(SIGHUP, SIG_IGN);
  absl::StatusOr<std::unique_ptr<ServePidFile>> lock =
      ServePidFile::Acquire(ServePidFilePath(config));
  if (!lock.ok()) {
    if (absl::IsFailedPrecondition(lock.status())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "stop acme-signer first (", lock.status().message(),
          "): deactivation is audited and only one process writes the audit log; stop the "
          "service (systemctl stop acme-signer), run this command, start it again"));
    }
    return lock.status();
  }

  RuntimeParts parts;
  parts.audit_log = true;  // with the token, the audit key and the store
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  ASSIGN_OR_RETURN(std::optional<AccountRecord> record, runtime->store->FindAccount(name));
  if (!record.has_value() || record->account_url.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("account ", name,
                     " is not registered (no account URL in the state store): there is "
                     "nothing to deactivate at the CA; remove its [[accounts]] entry instead"));
  }
  if (record->status == "deactivated") {
    std::cout << "account " << name << " (" << record->account_url
              << ") is already deactivated (recorded " << FormatAuditTime(record->updated_at)
              << "); nothing to do\n";
    return absl::OkStatus();
  }

  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> key,
                   runtime->token->OpenSigningKey(account->key));
  ASSIGN_OR_RETURN(std::unique_ptr<http::CurlHttpClient> http,
                   http::CurlHttpClient::Create(CaHttpOptions(*account)));
  acme::AcmeClientOptions options;
  options.directory_url = account->directory_url;
  options.account_url = record->account_url;
  ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> acme,
                   acme::AcmeClient::Create(*http, *key, options));

  AuditRecord audit;
  audit.agent = AdminIdentity(::geteuid());
  audit.peer = absl::StrCat("local:pid ", ::getpid());
  audit.account = name;
  audit.rpc = kAuditRpc;
  audit.request.url = record->account_url;

  absl::StatusOr<acme::Account> deactivated = acme->DeactivateAccount();
  const bool was_already = !deactivated.ok() && AlreadyDeactivatedAtCa(deactivated.status());
  if (!deactivated.ok() && !was_already) {
    audit.decision = AuditDecision::kDeny;
    audit.reason = "the CA refused the deactivation";
    audit.outcome.error = std::string(deactivated.status().message());
    if (absl::StatusOr<uint64_t> seq = runtime->audit->Append(audit); !seq.ok()) {
      std::cerr << "acme-signer account deactivate: audit log: " << seq.status().message() << "\n";
    }
    return absl::Status(deactivated.status().code(),
                        absl::StrCat("account ", name, " (", record->account_url,
                                     ") is still active: ", deactivated.status().message()));
  }

  record->status = "deactivated";
  record->updated_at = absl::Now();
  RETURN_IF_ERROR(runtime->store->PutAccount(*record));
  audit.decision = AuditDecision::kAllow;
  audit.reason = was_already ? "the CA already had the account deactivated; recorded"
                             : "account deactivated at the CA";
  audit.outcome.acme_status = "deactivated";
  ASSIGN_OR_RETURN(uint64_t seq, runtime->audit->Append(audit));

  std::cout << "account " << name << " (" << record->account_url << ") is deactivated at "
            << account->directory_url << (was_already ? " (the CA had already deactivated it)" : "")
            << "; audit seq " << seq << "\n"
            << "acme-signer serve refuses requests on it from its next start; remove the "
               "account from agents' accounts/default_account (and its [[accounts]] entry once "
               "its certificates no longer need revoking by it) in "
            << config.source << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunAccountDeactivate(const std::vector<std::string>& args) {
  ArgParser parser(kUsage);
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("account", "NAME", "the [[accounts]] name to deactivate")
      .Bool("yes", "confirm: deactivation cannot be undone at the CA")
      .Required("config")
      .Required("account");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer account deactivate: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (!parser.Has("yes")) {
    std::cerr << "acme-signer account deactivate: deactivating account " << *parser.Get("account")
              << " cannot be undone: its CA refuses every later request signed by it (new "
                 "certificates, renewals, revocations, key rollover), and a new account needs a "
                 "new registration (new EAB credentials from the CA). Stop acme-signer serve, "
                 "then run the command again with --yes\n";
    return kExitUsage;
  }
  if (absl::Status s = Deactivate(parser); !s.ok()) {
    std::cerr << "acme-signer account deactivate: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
