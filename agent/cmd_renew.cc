// acme-agent renew (one pass) and acme-agent run (the renewal loop).
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <iostream>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/certificate_info.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/hooks.h"
#include "agent/identity.h"
#include "agent/lineage.h"
#include "agent/metrics_file.h"
#include "agent/obtain.h"
#include "agent/renewal_flags.h"
#include "agent/renewal_schedule.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

struct PassResult {
  int renewed = 0;
  int simulated = 0;  // --dry-run: validated, nothing saved
  int failed = 0;
  int not_due = 0;
  std::optional<absl::Time> earliest_next;  // the next renewal time among kept certificates
  nlohmann::json items = nlohmann::json::array();
  absl::Status first_error;
};

struct PassOptions {
  bool force = false;           // --force-renewal
  bool dry_run = false;         // --dry-run
  bool directory_hooks = true;  // renewal-hooks/{pre,deploy,post}/ (--no-directory-hooks)
};

// One renewal pass over the lineages (or just `only`): the state shared across lineages (the
// signer connection, whether the pre-hook ran, the domains for the post-hook) and one method per
// step of renewing one lineage.
//
// Hooks, as certbot's renew runs them: before the first renewal attempt of the pass, the
// executables of renewal-hooks/pre/ (lexical order), then the pre-hook; after each successful
// install, renewal-hooks/deploy/ then the lineage's deploy hook (not in a dry run); at the end,
// if anything was attempted, renewal-hooks/post/ then the post-hook.
class RenewalPass {
 public:
  RenewalPass(const CommandContext& context, const RenewalOverrides& overrides, PassOptions options)
      : context_(context),
        overrides_(overrides),
        force_(options.force),
        dry_run_(options.dry_run),
        directory_hooks_(options.directory_hooks),
        store_(context.config.config_dir) {}

  PassResult Run(const std::optional<std::string>& only) {
    absl::StatusOr<std::vector<LineageInfo>> lineages = store_.List();
    if (!lineages.ok()) {
      pass_.failed = 1;
      pass_.first_error = lineages.status();
      return std::move(pass_);
    }
    bool matched = false;
    for (const LineageInfo& info : *lineages) {
      if (only.has_value() && info.name != *only) continue;
      matched = true;
      RenewIfDue(info);
    }
    if (only.has_value() && !matched) {
      pass_.failed = 1;
      pass_.first_error = absl::NotFoundError(absl::StrCat("no certificate named ", *only, " in ",
                                                           context_.config.config_dir, "/renewal"));
      if (!context_.json) std::cerr << "acme-agent renew: " << pass_.first_error.message() << "\n";
    }
    RunPostHooks();
    return std::move(pass_);
  }

 private:
  void RenewIfDue(const LineageInfo& info) {
    if (!info.status.ok()) return Fail(info.name, info.status);
    absl::StatusOr<RenewalConfig> config = RenewalParameters(info.name);
    if (!config.ok()) return Fail(info.name, config.status());
    // A dry run changes nothing on disk, so an interrupted install is left for a real run.
    absl::StatusOr<LineageInfo> current =
        dry_run_ ? absl::StatusOr<LineageInfo>(info) : FinishInterruptedVersion(info, *config);
    if (!current.ok()) return Fail(info.name, current.status());
    if (absl::Status s = ConnectOnce(); !s.ok()) return Fail(info.name, s);
    std::string replaces;
    const RenewalDecision decision = Decide(*current, config->account, &replaces);
    const bool due = IsRenewalDue(absl::Now(), decision.due);
    if (dry_run_) {
      // certbot: "Cert not due for renewal, but simulating renewal for dry run". The order
      // does not name the live certificate as replaced (nothing will replace it).
      replaces.clear();
      if (!due && !force_) {
        context_.Progress(
            absl::StrCat(info.name, ": not due until ",
                         absl::FormatTime("%Y-%m-%d %H:%M UTC", decision.due, absl::UTCTimeZone()),
                         ", but simulating renewal for the dry run"));
      }
    } else if (!force_ && !due) {
      return RecordNotDue(info.name, decision.due);
    }
    if (current->revoked && !dry_run_) {
      context_.Say(absl::StrCat(info.name, ": certificate ",
                                SerialText(current->certificate.serial_hex),
                                " was revoked; replacing it now"));
    }
    if (absl::Status s = RunPreHooksOnce(config->pre_hook); !s.ok()) return Fail(info.name, s);
    Renew(info.name, *config, replaces,
          dry_run_ ? "dry-run" : (force_ ? "forced" : decision.reason));
  }

  // renewal/NAME.conf with this run's command-line overrides applied.
  absl::StatusOr<RenewalConfig> RenewalParameters(const std::string& name) {
    ASSIGN_OR_RETURN(RenewalConfig config, store_.ReadRenewalConfig(name));
    RETURN_IF_ERROR(ApplyRenewalOverrides(overrides_, config));
    RETURN_IF_ERROR(ValidateRenewalConfig(config));
    return config;
  }

  // A version an interrupted run saved but never made live goes live first; whether a renewal
  // is due is then decided on it. Returns the lineage as it now is.
  absl::StatusOr<LineageInfo> FinishInterruptedVersion(const LineageInfo& info,
                                                       const RenewalConfig& config) {
    ASSIGN_OR_RETURN(std::optional<int> finished,
                     FinishInterruptedInstall(context_, info.name, config));
    if (!finished.has_value()) return info;
    ASSIGN_OR_RETURN(LineageInfo reread, store_.Get(info.name));
    RETURN_IF_ERROR(reread.status);
    context_.Say(absl::StrCat(info.name, ": finished installing version ", *finished,
                              " (saved by an earlier run that stopped before switching live/)"));
    return reread;
  }

  absl::Status ConnectOnce() {
    if (signer_ != nullptr) return absl::OkStatus();
    ASSIGN_OR_RETURN(signer_, ConnectToSigner(context_.config));
    return absl::OkStatus();
  }

  // When is it due? At once when the lineage recorded the certificate as revoked (no ARI
  // request, and no `replaces`: the CA need not take a revoked certificate as the one being
  // renewed). Otherwise the CA's ARI window (through the signer) when it has one, else the
  // last third of the lifetime; spread per certificate so a fleet does not renew at once. Sets
  // `replaces` to the ARI certificate id when the CA gave a window.
  // `account` is the lineage's signer account ("" for the default): its CA is asked.
  RenewalDecision Decide(const LineageInfo& current, const std::string& account,
                         std::string* replaces) {
    const CertificateInfo& cert = current.certificate;
    const absl::Time now = absl::Now();
    const double spread = StableFraction(cert.serial_hex);
    if (current.revoked) {
      return DecideRenewal(now, true, cert.not_before, cert.not_after, std::nullopt, spread);
    }
    std::optional<RenewalWindow> ari;
    absl::StatusOr<std::string> pem = store_.ReadCurrentCertificatePem(current.name);
    absl::StatusOr<std::string> der = pem.ok() ? CertificatePemToDer(*pem) : pem.status();
    if (der.ok()) {
      absl::StatusOr<pb::GetRenewalInfoResponse> window = signer_->GetRenewalInfo(*der, account);
      if (window.ok() && window->from_ca()) {
        ari = RenewalWindow{absl::FromUnixSeconds(window->suggested_window_start().seconds()),
                            absl::FromUnixSeconds(window->suggested_window_end().seconds())};
        *replaces = window->certificate_id();
      }
    }
    return DecideRenewal(now, false, cert.not_before, cert.not_after, ari, spread);
  }

  void RecordNotDue(const std::string& name, absl::Time due) {
    ++pass_.not_due;
    if (!pass_.earliest_next.has_value() || due < *pass_.earliest_next) pass_.earliest_next = due;
    context_.Progress(
        absl::StrCat(name, ": not due until ",
                     absl::FormatTime("%Y-%m-%d %H:%M UTC", due, absl::UTCTimeZone())));
    pass_.items.push_back({{"lineage", name},
                           {"ok", true},
                           {"renewed", false},
                           {"due", absl::FormatTime(absl::RFC3339_sec, due, absl::UTCTimeZone())}});
  }

  // The executables of renewal-hooks/KIND/ (none with --no-directory-hooks); a note for each
  // file skipped.
  absl::StatusOr<std::vector<std::string>> HookFiles(absl::string_view kind) {
    if (!directory_hooks_) return std::vector<std::string>();
    ASSIGN_OR_RETURN(HookDirectory dir, ListHookDirectory(context_.config.config_dir, kind));
    for (const std::string& note : dir.skipped) context_.Progress(absl::StrCat("note: ", note));
    return dir.executables;
  }

  // The pre-hooks run once per pass, before the first renewal attempt (certbot's rule):
  // renewal-hooks/pre/, then the pre-hook. The first failure stops the attempt.
  absl::Status RunPreHooksOnce(const std::string& pre_hook) {
    if (pre_hook_ran_) return pre_hook_status_;
    pre_hook_ran_ = true;
    pre_hook_status_ = [&]() -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<std::string> files, HookFiles("pre"));
      ASSIGN_OR_RETURN(deploy_hook_files_, HookFiles("deploy"));
      for (const std::string& file : files) {
        context_.Progress(absl::StrCat("running pre hook ", file));
        RETURN_IF_ERROR(
            RunHookFile("pre hook", file, PreHookEnv(), HookOptionsFor(context_)).status());
      }
      return RunPrePostHook(context_, "pre-hook", pre_hook, PreHookEnv());
    }();
    return pre_hook_status_;
  }

  // After the pass, when something was attempted: renewal-hooks/post/, then the post-hook;
  // failures are warnings (the certificates are what they are by now).
  void RunPostHooks() {
    if (!pre_hook_ran_) return;
    const HookEnv env = PostHookEnv(renewed_domains_, failed_domains_);
    absl::StatusOr<std::vector<std::string>> files = HookFiles("post");
    if (!files.ok()) {
      std::cerr << "acme-agent renew: warning: " << files.status().message() << "\n";
      files = std::vector<std::string>();
    }
    for (const std::string& file : *files) {
      context_.Progress(absl::StrCat("running post hook ", file));
      if (absl::Status s = RunHookFile("post hook", file, env, HookOptionsFor(context_)).status();
          !s.ok()) {
        std::cerr << "acme-agent renew: warning: " << s.message() << "\n";
      }
    }
    if (absl::Status s = RunPrePostHook(context_, "post-hook", post_hook_, env); !s.ok()) {
      std::cerr << "acme-agent renew: warning: " << s.message() << "\n";
    }
  }

  // `reason`: why it is renewed now ("revoked", "ari", "lifetime" or "forced").
  void Renew(const std::string& name, const RenewalConfig& config, const std::string& replaces,
             const std::string& reason) {
    if (!config.post_hook.empty()) post_hook_ = config.post_hook;
    context_.Progress(
        absl::StrCat(name, dry_run_ ? ": simulating renewal (dry run)" : ": renewing"));
    ObtainOptions options;
    options.replaces = replaces;
    options.dry_run = dry_run_;
    options.deploy_hook_files = deploy_hook_files_;
    absl::StatusOr<ObtainResult> result =
        ObtainCertificate(context_, *signer_, name, config, options);
    if (!result.ok()) {
      for (const std::string& d : config.domains) failed_domains_.push_back(d);
      if (absl::IsPermissionDenied(result.status()) && !config.account.empty()) {
        // The stored account may have been taken from this agent since: say where it is set.
        return Fail(name, WithMessage(result.status(),
                                      absl::StrCat(result.status().message(), "; renewal/", name,
                                                   ".conf names account ", config.account,
                                                   " (`acme-agent reconfigure --cert-name ", name,
                                                   " --account NAME` chooses another)")));
      }
      return Fail(name, result.status());
    }
    if (result->dry_run) {
      ++pass_.simulated;
      context_.Say(absl::StrCat(name,
                                ": simulated renewal succeeded (dry run: nothing saved, "
                                "deploy hooks not run)"));
      pass_.items.push_back({{"lineage", name},
                             {"ok", true},
                             {"renewed", false},
                             {"dry_run", true},
                             {"authorizations_deactivated", result->authorizations_deactivated}});
      return;
    }
    ++pass_.renewed;
    for (const std::string& d : config.domains) renewed_domains_.push_back(d);
    context_.Say(absl::StrCat(name, ": renewed (version ", result->version, ", expires ",
                              absl::FormatTime("%Y-%m-%d", result->not_after, absl::UTCTimeZone()),
                              ")"));
    pass_.items.push_back({{"lineage", name},
                           {"ok", true},
                           {"renewed", true},
                           {"reason", reason},
                           {"version", result->version},
                           {"serial", result->serial}});
  }

  void Fail(const std::string& name, const absl::Status& status) {
    ++pass_.failed;
    if (pass_.first_error.ok()) pass_.first_error = status;
    if (!context_.json) {
      std::cerr << "acme-agent renew: " << name << ": " << status.message()
                << " (the current certificate is unchanged)\n";
    }
    pass_.items.push_back(
        {{"lineage", name}, {"ok", false}, {"error", std::string(status.message())}});
  }

  const CommandContext& context_;
  const RenewalOverrides& overrides_;
  const bool force_;
  const bool dry_run_;
  const bool directory_hooks_;
  LineageStore store_;
  PassResult pass_;
  std::unique_ptr<SignerClient> signer_;
  std::vector<std::string> renewed_domains_;
  std::vector<std::string> failed_domains_;
  bool pre_hook_ran_ = false;
  absl::Status pre_hook_status_;
  std::vector<std::string> deploy_hook_files_;
  std::string post_hook_;
};

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// What became of the agent's own certificate in one pass.
struct IdentityResult {
  absl::Status fatal;   // expired or not yet valid: exit 2, nothing else can work
  absl::Status failed;  // the renewal failed: the current certificate is kept, retried later
  // When it is next due (unset when there is no identity, or its renewal just failed: the
  // retry then follows the failure backoff).
  std::optional<absl::Time> next_due;
  nlohmann::json item = nlohmann::json::object();
};

// The agent's own mTLS certificate ([identity] cert): checked locally before anything
// connects, and renewed through the signer once two thirds of its lifetime have passed
// (agent/identity.h). `command` prefixes the messages.
IdentityResult MaintainIdentity(const CommandContext& context, const std::string& command) {
  IdentityResult result;
  const AgentConfig& config = context.config;
  absl::StatusOr<bool> finished = FinishInterruptedIdentityReplacement(config);
  if (!finished.ok()) {
    result.failed = finished.status();
    result.item = {{"ok", false}, {"error", std::string(finished.status().message())}};
    context.Problem(absl::StrCat("acme-agent ", command, ": ", finished.status().message()));
    return result;
  }
  if (*finished) {
    context.Progress(absl::StrCat("finished installing this agent's renewed certificate (",
                                  config.identity.cert, ")"));
  }
  absl::StatusOr<IdentityCertificate> current = ReadIdentityCertificate(config);
  if (!current.ok()) {
    // Not enrolled yet: nothing to renew; a certificate that needs the signer reports it.
    if (current.status().code() == absl::StatusCode::kNotFound) return result;
    result.failed = current.status();
    result.item = {{"ok", false}, {"error", std::string(current.status().message())}};
    context.Problem(absl::StrCat("acme-agent ", command, ": ", current.status().message()));
    return result;
  }
  const absl::Time now = absl::Now();
  if (absl::Status usable = CheckIdentityUsable(config, *current, now); !usable.ok()) {
    result.fatal = usable;
    return result;
  }
  result.item = {{"ok", true},
                 {"renewed", false},
                 {"sha256", current->sha256},
                 {"not_after", absl::FormatTime(absl::RFC3339_sec, current->not_after,
                                                absl::UTCTimeZone())}};
  if (now < current->RenewalTime()) {
    result.next_due = current->RenewalTime();
    context.Progress(absl::StrCat("this agent's certificate: valid until ",
                                  FormatUtc(current->not_after), ", renewed from ",
                                  FormatUtc(current->RenewalTime())));
    return result;
  }
  context.Progress("renewing this agent's certificate (two thirds of its lifetime have passed)");
  absl::StatusOr<IdentityCertificate> renewed = [&]() -> absl::StatusOr<IdentityCertificate> {
    // No expiry warning for this connection: the renewal's own result says what happened.
    ASSIGN_OR_RETURN(std::unique_ptr<SignerClient> signer,
                     ConnectToSigner(config, ExpiryWarning::kSkip));
    return RenewIdentity(*signer, config, *current);
  }();
  if (!renewed.ok()) {
    result.failed = renewed.status();
    result.item["ok"] = false;
    result.item["error"] = std::string(renewed.status().message());
    context.Problem(
        absl::StrCat("acme-agent ", command, ": ", now >= current->WarningTime() ? "warning: " : "",
                     "this agent's certificate could not be renewed: ", renewed.status().message(),
                     " (the current one is kept and expires on ", FormatUtc(current->not_after),
                     "; retried at the next run)"));
    return result;
  }
  result.next_due = renewed->RenewalTime();
  result.item["renewed"] = true;
  result.item["sha256"] = renewed->sha256;
  result.item["not_after"] =
      absl::FormatTime(absl::RFC3339_sec, renewed->not_after, absl::UTCTimeZone());
  result.item["renewed_from"] = current->sha256;
  context.Say(absl::StrCat("renewed this agent's certificate, valid until ",
                           FormatUtc(renewed->not_after)));
  return result;
}

// --metrics-file: the node_exporter textfile (agent/metrics_file.h) after a pass. A file that
// cannot be written is reported but does not change the exit status: the renewals happened.
void WriteMetricsFileIfAsked(const CommandContext& context, const std::optional<std::string>& path,
                             const PassResult& pass, const std::string& command) {
  if (!path.has_value()) return;
  std::vector<RenewalAttempt> attempts;
  for (const nlohmann::json& item : pass.items) {
    if (!item.contains("lineage") || !item["lineage"].is_string()) continue;
    RenewalAttempt attempt;
    attempt.cert_name = item["lineage"].get<std::string>();
    attempt.ok = item.value("ok", false);
    attempt.renewed = item.value("renewed", false);
    attempts.push_back(std::move(attempt));
  }
  if (absl::Status s =
          WriteAgentMetricsFile(*path, context.config.config_dir, attempts, absl::Now());
      !s.ok()) {
    std::cerr << "acme-agent " << command << ": warning: " << s.message() << "\n";
  }
}

}  // namespace

int RunRenew(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent renew [--cert-name NAME] [--force-renewal] [options]   (the options saying "
      "how to obtain apply to every certificate renewed in this run and, as with certbot, are "
      "kept for later renewals once one succeeds)");
  AddCommonOptions(parser);
  parser.Value("cert-name", "NAME", "only this lineage")
      .Bool("force-renewal", "renew even if not due")
      .Bool("dry-run",
            "simulate: validate every certificate (due or not) with the CA, then deactivate the "
            "authorizations; nothing is issued, saved or deployed (pre/post hooks run)")
      .Bool("no-directory-hooks", "do not run the renewal-hooks/{pre,deploy,post}/ executables")
      .Value("metrics-file", "FILE",
             "write certificate expiry and renewal results for node_exporter's textfile "
             "collector to FILE (e.g. /var/lib/node_exporter/acme-agent.prom; not in a dry run)");
  AddRenewalParamOptions(parser);
  if (auto exit_code = ParseOrExit(parser, args, "renew")) return *exit_code;
  absl::StatusOr<RenewalOverrides> overrides = RenewalOverridesFromFlags(parser);
  if (!overrides.ok()) return UsageError("renew", overrides.status());
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError("renew", context.status());
  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
  if (!lock.ok()) return Fail(&*context, "renew", lock.status());
  PassOptions options;
  options.force = parser.Has("force-renewal");
  options.dry_run = parser.Has("dry-run");
  options.directory_hooks = !parser.Has("no-directory-hooks");
  // The agent's own certificate first (not in a dry run, which saves nothing); the lineages'
  // pass then connects with the renewed one.
  IdentityResult identity;
  if (!options.dry_run) {
    identity = MaintainIdentity(*context, "renew");
    if (!identity.fatal.ok()) return Fail(&*context, "renew", identity.fatal);
  }
  PassResult pass = RenewalPass(*context, *overrides, options).Run(parser.Get("cert-name"));
  if (!options.dry_run) {
    WriteMetricsFileIfAsked(*context, parser.Get("metrics-file"), pass, "renew");
  }
  if (context->json) {
    const nlohmann::json summary = {{"dry_run", options.dry_run},
                                    {"renewed", pass.renewed},
                                    {"simulated", pass.simulated},
                                    {"not_due", pass.not_due},
                                    {"failed", pass.failed},
                                    {"certificates", pass.items},
                                    {"agent_identity", identity.item}};
    if (pass.failed != 0) return Fail(&*context, "renew", pass.first_error, summary);
    if (!identity.failed.ok()) return Fail(&*context, "renew", identity.failed, summary);
    PrintJsonResult("renew", summary);
    return kExitOk;
  } else if (options.dry_run && pass.failed == 0 && pass.simulated > 0) {
    context->Say("The dry run was successful.");
  } else if (pass.renewed == 0 && pass.failed == 0 && pass.simulated == 0) {
    context->Say("No renewals were attempted: no certificate is due.");
  }
  if (pass.failed != 0) return ExitCodeFor(pass.first_error);
  return ExitCodeFor(identity.failed);
}

int RunLoop(const std::vector<std::string>& args) {
  ArgParser parser(
      "acme-agent run [options]   (renews whatever is due, forever; stop with SIGTERM)");
  AddCommonOptions(parser);
  parser.Bool("once", "do one pass and exit (for testing the loop's schedule)")
      .Value("metrics-file", "FILE",
             "after every pass, write certificate expiry and renewal results for node_exporter's "
             "textfile collector to FILE");
  if (auto exit_code = ParseOrExit(parser, args, "run")) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError("run", context.status());
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::mt19937_64 random(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int consecutive_failures = 0;
  while (true) {
    PassResult pass;
    IdentityResult identity;
    {
      absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
      if (lock.ok()) {
        // The identity first: the lineages' pass then connects with the renewed certificate.
        identity = MaintainIdentity(*context, "run");
        // Only an identity that can no longer be used stops the loop: renewing it needs a
        // new enrolment (the message says how).
        if (!identity.fatal.ok()) return Fail(&*context, "run", identity.fatal);
        pass = RenewalPass(*context, RenewalOverrides(), PassOptions()).Run(std::nullopt);
      } else {
        pass.failed = 1;
        pass.first_error = lock.status();
      }
    }
    WriteMetricsFileIfAsked(*context, parser.Get("metrics-file"), pass, "run");
    if (!identity.failed.ok()) {
      ++pass.failed;
      if (pass.first_error.ok()) pass.first_error = identity.failed;
    }
    consecutive_failures = pass.failed > 0 ? consecutive_failures + 1 : 0;
    const absl::Time now = absl::Now();
    absl::Time next = NextCheckTime(now, pass.earliest_next, uniform(random));
    // The identity's renewal time wakes the loop as it is (min_sleep aside): agents enrolled at
    // different moments are spread already, and a short agent-certificate lifetime must not
    // be overslept by the lineages' wake-up jitter.
    if (identity.next_due.has_value()) {
      next = std::min(next, std::max(*identity.next_due, now + ScheduleOptions().min_sleep));
    }
    if (consecutive_failures > 0) {
      next = std::min(next, now + FailureBackoff(consecutive_failures, uniform(random)));
    }
    if (parser.Has("once")) {
      const std::string next_text = absl::FormatTime(absl::RFC3339_sec, next, absl::UTCTimeZone());
      if (context->json) {
        const nlohmann::json summary = {{"renewed", pass.renewed},
                                        {"not_due", pass.not_due},
                                        {"failed", pass.failed},
                                        {"next_check", next_text},
                                        {"certificates", pass.items}};
        if (pass.failed != 0) return Fail(&*context, "run", pass.first_error, summary);
        PrintJsonResult("run", summary);
        return kExitOk;
      }
      context->Say(absl::StrCat("next check at ", next_text));
      return pass.failed == 0 ? kExitOk : ExitCodeFor(pass.first_error);
    }
    context->Progress(absl::StrCat("next check at ",
                                   absl::FormatTime(absl::RFC3339_sec, next, absl::UTCTimeZone())));
    const absl::Duration wait = std::max(next - absl::Now(), absl::Seconds(1));
    const timespec timeout = absl::ToTimespec(wait);
    const int signal_number = sigtimedwait(&stop_signals, nullptr, &timeout);
    if (signal_number == SIGTERM || signal_number == SIGINT) {
      context->Progress("stopping (signal received)");
      return kExitOk;
    }
  }
}

}  // namespace acme_signer::agent
