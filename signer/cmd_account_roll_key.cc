// `acme-signer account roll-key --config F --account NAME [--destroy-old]`: RFC 8555 §7.3.5
// account key rollover inside the HSM (signer/account_rollover.h has the steps, labels and
// crash recovery).
//
// While serve runs, only serve appends to the audit log: this command records the request in
// the state store (the rollover plan, marked requested) and sends serve SIGHUP
// (signer/serve_control.h RequestReload); serve performs every step, switches the account's
// engine to the new key without a restart, and stores the outcome, which this command prints.
// Without a running serve, this command performs the rollover itself, holding serve's pid
// file lock meanwhile (serve cannot start), and appends the audit records itself. Either way
// a rollover found pending (a killed run) is finished or rolled back first.
#include <signal.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cli.h"
#include "common/status_macros.h"
#include "http/curl_http_client.h"
#include "signer/account_rollover.h"
#include "signer/account_set.h"
#include "signer/audit_log.h"
#include "signer/commands.h"
#include "signer/process_hardening.h"
#include "signer/runtime.h"
#include "signer/serve_control.h"

namespace acme_signer::signer {
namespace {

// How long the command waits for a running serve to perform the rollover (keyChange plus the
// HSM steps; the CA's own timeouts are shorter).
constexpr absl::Duration kServeTimeout = absl::Seconds(120);

// "ok <message>" / "rolled-back <message>" / "failed <message>" → exit code, printed.
absl::Status ReportResult(absl::string_view result) {
  if (absl::StartsWith(result, "ok ")) {
    std::cout << result.substr(3) << "\n";
    return absl::OkStatus();
  }
  if (absl::StartsWith(result, "rolled-back ")) {
    return absl::AbortedError(result.substr(12));
  }
  if (absl::StartsWith(result, "failed ")) return absl::UnavailableError(result.substr(7));
  return absl::InternalError(absl::StrCat("unexpected rollover result: ", result));
}

absl::Status ThroughServe(const SignerConfig& config, const AccountConfig& account,
                          bool destroy_old, pid_t pid) {
  RuntimeParts parts;
  parts.token = parts.store = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  ASSIGN_OR_RETURN(auto http, http::CurlHttpClient::Create(CaHttpOptions(account)));
  AccountRollover rollover(
      *runtime->token, *runtime->store, account, *http,
      [](const AuditRecord&) {
        return absl::InternalError("roll-key does not audit while serve runs");
      },
      "operator");
  RETURN_IF_ERROR(runtime->store->SetValue(RolloverResultKey(account.name), ""));
  ASSIGN_OR_RETURN(std::optional<RolloverPlan> pending,
                   LoadRolloverPlan(*runtime->store, account.name));
  if (pending.has_value()) {
    std::cout << "account " << account.name << ": a rollover is pending (step " << pending->step
              << "); asking the running signer (pid " << pid << ") to finish it\n";
  } else {
    RETURN_IF_ERROR(rollover.Request(destroy_old));
    std::cout << "account " << account.name
              << ": rollover requested; the running signer (pid " << pid << ") performs it\n";
  }
  ASSIGN_OR_RETURN(ReloadOutcome reload, RequestReload(config, kServeTimeout));
  if (reload.kind == ReloadOutcome::Kind::kNotRunning) {
    return absl::UnavailableError(
        "the signer stopped before it performed the rollover; run this command again (it "
        "finishes the rollover itself when no signer runs)");
  }
  ASSIGN_OR_RETURN(std::optional<std::string> result,
                   runtime->store->GetValue(RolloverResultKey(account.name)));
  if (!result.has_value() || result->empty()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "the running signer (pid ", reload.pid, ") answered the reload but recorded no "
        "rollover outcome; see its log"));
  }
  return ReportResult(*result);
}

absl::Status Standalone(const SignerConfig& config, const AccountConfig& account,
                        bool destroy_old) {
  // Serve's lock: no serve starts while the rollover runs. SIGHUP (meant for serve, which
  // writes the same pid file) must not end this process.
  ASSIGN_OR_RETURN(std::unique_ptr<ServePidFile> lock,
                   ServePidFile::Acquire(ServePidFilePath(config)));
  ::signal(SIGHUP, SIG_IGN);
  RuntimeParts parts;
  parts.token = parts.store = parts.audit_log = true;
  ASSIGN_OR_RETURN(std::unique_ptr<SignerRuntime> runtime, SignerRuntime::Open(config, parts));
  AuditAppender* audit = runtime->audit.get();
  ASSIGN_OR_RETURN(auto http, http::CurlHttpClient::Create(CaHttpOptions(account)));
  AccountRollover rollover(
      *runtime->token, *runtime->store, account, *http,
      [audit](const AuditRecord& record) { return audit->Append(record).status(); },
      "operator");
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<RolloverOutcome> resolved,
                     rollover.Resolve(nullptr, /*perform_requested=*/true));
    if (resolved.has_value()) {
      std::cout << "finished a pending rollover: " << resolved->message << "\n";
      if (!resolved->rolled_back) return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> old_key,
                     runtime->token->OpenSigningKey(account.key));
    ASSIGN_OR_RETURN(std::optional<AccountRecord> record,
                     runtime->store->FindAccount(account.name));
    acme::AcmeClientOptions options;
    options.directory_url = account.directory_url;
    if (record.has_value()) options.account_url = record->account_url;
    ASSIGN_OR_RETURN(std::unique_ptr<acme::AcmeClient> engine,
                     acme::AcmeClient::Create(*http, *old_key, options));
    ASSIGN_OR_RETURN(RolloverOutcome outcome, rollover.Run(destroy_old, *engine));
    std::cout << outcome.message << "\n";
    return absl::OkStatus();
  }();
  absl::Status closed = runtime->audit->Close();
  if (!result.ok()) return result;
  return closed;
}

absl::Status RollKey(const ArgParser& parser) {
  ASSIGN_OR_RETURN(SignerConfig config, LoadSignerConfig(*parser.Get("config")));
  RETURN_IF_ERROR(HardenProcess(/*allow_root=*/true));
  const std::string name = *parser.Get("account");
  ASSIGN_OR_RETURN(const AccountConfig* account, config.AccountNamedByFlag(name));
  ASSIGN_OR_RETURN(std::optional<pid_t> pid, RunningServePid(ServePidFilePath(config)));
  if (pid.has_value()) return ThroughServe(config, *account, parser.Has("destroy-old"), *pid);
  return Standalone(config, *account, parser.Has("destroy-old"));
}

}  // namespace

int RunAccountRollKey(const std::vector<std::string>& args) {
  ArgParser parser("acme-signer account roll-key --config FILE --account NAME [--destroy-old]");
  parser.Value("config", "FILE", "signer configuration (TOML)")
      .Value("account", "NAME", "the [[accounts]] entry whose key is replaced")
      .Bool("destroy-old",
            "destroy the old key in the HSM once the CA has the new one (default: keep it, "
            "relabelled <label>.retired-<time> and unable to sign where the token allows)")
      .Required("config")
      .Required("account");
  if (absl::Status s = parser.Parse(args); !s.ok()) {
    std::cerr << "acme-signer account roll-key: " << s.message() << "\n";
    return kExitUsage;
  }
  if (parser.help_requested()) {
    std::cout << parser.Help();
    return kExitOk;
  }
  if (absl::Status s = RollKey(parser); !s.ok()) {
    std::cerr << "acme-signer account roll-key: " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  return kExitOk;
}

}  // namespace acme_signer::signer
