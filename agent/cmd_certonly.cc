// acme-agent certonly: obtain a certificate for one lineage, certbot style.
#include <algorithm>
#include <iostream>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "acme/dns_names.h"
#include "agent/account_choice.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/hooks.h"
#include "agent/lineage.h"
#include "agent/metrics_file.h"
#include "agent/obtain.h"
#include "agent/private_key.h"
#include "agent/renewal_config.h"
#include "agent/renewal_flags.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

constexpr char kCommand[] = "certonly";

// certbot flags that make no sense on a host whose account lives in the signer: refused with
// an explanation (and so a secret given on the command line is not silently accepted).
// certbot's --server is an option here: it chooses among the signer's accounts.
absl::Status RefuseAccountFlags(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (absl::string_view flag : {"--eab-kid", "--eab-hmac-key", "--email", "--agree-tos",
                                   "--register-unsafely-without-email"}) {
      if (arg == flag || absl::StartsWith(arg, absl::StrCat(flag, "="))) {
        return absl::InvalidArgumentError(absl::StrCat(
            flag,
            " is not an acme-agent option: the ACME accounts, their contact and EAB "
            "credentials live in acme-signer (in its HSM), not on this host; drop the flag "
            "(--server URL or --account NAME chooses one of the signer's accounts)"));
      }
    }
  }
  return absl::OkStatus();
}

// The certonly command line: the names, the lineage, how to obtain (shared with renew), and
// the options only a first request sets.
ArgParser MakeParser() {
  ArgParser parser(
      "acme-agent certonly --domain NAME [--domain NAME ...] [--cert-name NAME] "
      "(--standalone | --webroot --webroot-path DIR | --manual-auth-hook CMD) "
      "[options]");
  AddCommonOptions(parser);
  parser.Repeated("domain", "NAME", "a name for the certificate (comma-separated allowed)", 'd')
      .Repeated("domains", "NAMES", "same as --domain")
      .Value("cert-name", "NAME", "lineage name (default: the first domain)");
  AddRenewalParamOptions(parser);
  AddAccountOptions(parser);
  parser.Bool("pfx", "also write live/NAME/cert.pfx (PKCS#12, e.g. for IIS)")
      .Value("pfx-password-file", "FILE", "password for --pfx (default: none)")
      .Bool("pfx-legacy", "3DES/SHA-1 PKCS#12 for old Windows (default AES-256/PBKDF2)")
      .Value("ccs-dir", "DIR",
             "IIS Central Certificate Store: also write DIR/HOSTNAME.pfx for every name "
             "(implies --pfx; kept for renewals)")
      .Bool("force-renewal", "obtain a new certificate even if the current one is not due")
      .Bool("expand",
            "replace the certificate whose names are a subset of these names with one for all "
            "of them (certbot's --expand)")
      .Bool("dry-run",
            "validate with the CA, then deactivate the authorizations: nothing is issued, "
            "saved or deployed (pre/post hooks run, deploy hooks do not, as with certbot)")
      .Bool("direct",
            "talk to the CA from this host; the signer only signs each request "
            "(kept for renewals; [direct] ca_bundle in agent.toml)")
      .Value("metrics-file", "FILE",
             "write certificate expiry and renewal results for node_exporter's textfile "
             "collector to FILE (not in a dry run)");
  return parser;
}

// --domain and --domains (comma-separated lists allowed), normalised, without repeats.
absl::StatusOr<std::vector<std::string>> DomainsFromFlags(const ArgParser& parser) {
  std::vector<std::string> domains;
  for (const std::string& value : parser.GetAll("domain")) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      ASSIGN_OR_RETURN(std::string name, acme::NormalizeDnsName(absl::StripAsciiWhitespace(part)));
      if (std::find(domains.begin(), domains.end(), name) == domains.end()) {
        domains.push_back(name);
      }
    }
  }
  if (domains.empty()) return absl::InvalidArgumentError("give at least one --domain");
  return domains;
}

// The settings a new lineage starts from: agent.toml's [defaults].
RenewalConfig DefaultSettings(const AgentConfig& agent) {
  RenewalConfig config;
  config.authenticator = agent.defaults.authenticator;
  config.webroot_path = agent.defaults.webroot_path;
  config.http01_port = agent.defaults.http01_port;
  config.http01_address = agent.defaults.http01_address;
  config.pre_hook = agent.defaults.pre_hook;
  config.post_hook = agent.defaults.post_hook;
  config.deploy_hook = agent.defaults.deploy_hook;
  config.key = agent.defaults.key;
  return config;
}

// What this command line says: the names and every option given (a boolean flag not given is
// left empty, so a stored `pfx = true` is kept).
absl::StatusOr<RenewalOverrides> OverridesFromFlags(const ArgParser& parser) {
  ASSIGN_OR_RETURN(RenewalOverrides overrides, RenewalOverridesFromFlags(parser));
  ASSIGN_OR_RETURN(overrides.domains, DomainsFromFlags(parser));
  if (parser.Has("pfx")) overrides.pfx = true;
  overrides.pfx_password_file = parser.Get("pfx-password-file");
  if (parser.Has("pfx-legacy")) overrides.pfx_legacy = true;
  overrides.ccs_dir = parser.Get("ccs-dir");
  if (parser.Has("direct")) overrides.direct = true;
  return overrides;
}

// The settings `lineage` is obtained with: its stored renewal config (agent.toml's [defaults]
// when it has none) merged with the command line. `stored` is set when there was one.
absl::StatusOr<RenewalConfig> SettingsFor(const LineageStore& store, const std::string& lineage,
                                          const AgentConfig& agent,
                                          const RenewalOverrides& overrides,
                                          std::optional<RenewalConfig>& stored) {
  stored.reset();
  absl::StatusOr<RenewalConfig> existing = store.ReadRenewalConfig(lineage);
  if (existing.ok()) {
    stored = *existing;
  } else if (!absl::IsNotFound(existing.status())) {
    // A stored config that cannot be read is not replaced by defaults without a word.
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read the stored settings of lineage ", lineage, ": ", existing.status().message(),
        " (fix or remove the file, or use another --cert-name)"));
  }
  absl::StatusOr<RenewalConfig> merged =
      MergeRenewalSettings(stored.has_value() ? *stored : DefaultSettings(agent), overrides);
  if (!merged.ok()) return absl::InvalidArgumentError(merged.status().message());
  return merged;
}

// An existing lineage with the same names that is not due is kept, as certbot does: says so
// and returns the exit code; nullopt when a certificate is to be obtained.
std::optional<int> KeepCurrentIfNotDue(const CommandContext& context, const LineageStore& store,
                                       const std::string& lineage, const RenewalConfig& config) {
  absl::StatusOr<RenewalConfig> existing = store.ReadRenewalConfig(lineage);
  absl::StatusOr<CertificateInfo> current = store.ReadCurrentCertificate(lineage);
  const auto as_set = [](const std::vector<std::string>& names) {
    return std::set<std::string>(names.begin(), names.end());
  };
  if (!existing.ok() || !current.ok() || as_set(existing->domains) != as_set(config.domains) ||
      absl::Now() >= current->not_after - (current->not_after - current->not_before) / 3) {
    return std::nullopt;
  }
  // The names are the same set; any other setting given now is not saved without a new
  // certificate, and that is said.
  std::vector<std::string> changes = RenewalConfigChanges(*existing, config);
  changes.erase(
      std::remove_if(changes.begin(), changes.end(),
                     [](const std::string& c) { return absl::StartsWith(c, "domains "); }),
      changes.end());
  if (!changes.empty()) {
    context.Progress(
        absl::StrCat("acme-agent certonly: renewal settings not changed (nothing was obtained; "
                     "--force-renewal obtains a certificate with them): ",
                     absl::StrJoin(changes, "; ")));
  }
  context.Say(absl::StrCat("Certificate not yet due for renewal; no action taken (", lineage,
                           " expires ",
                           absl::FormatTime("%Y-%m-%d", current->not_after, absl::UTCTimeZone()),
                           "; use --force-renewal to replace it now)"));
  if (context.json) {
    PrintJsonResult(kCommand,
                    {{"lineage", lineage}, {"renewed", false}, {"settings_not_saved", changes}});
  }
  return kExitOk;
}

// Runs the pre-hook, obtains, and runs the post-hook whatever happened (a warning if it fails).
// A dry run runs the pre- and post-hooks too (certbot: they may be needed to simulate), never
// the deploy hook.
absl::StatusOr<ObtainResult> ObtainWithHooks(const CommandContext& context, SignerClient& signer,
                                             const std::string& lineage,
                                             const RenewalConfig& config, bool dry_run) {
  RETURN_IF_ERROR(RunPrePostHook(context, "pre-hook", config.pre_hook, PreHookEnv()));
  absl::StatusOr<ObtainResult> result =
      ObtainCertificate(context, signer, lineage, config, ObtainOptions{"", dry_run, {}});
  absl::Status post =
      RunPrePostHook(context, "post-hook", config.post_hook,
                     PostHookEnv(result.ok() ? config.domains : std::vector<std::string>(),
                                 result.ok() ? std::vector<std::string>() : config.domains));
  if (!post.ok()) std::cerr << "acme-agent certonly: warning: " << post.message() << "\n";
  return result;
}

// certbot's success message (or one JSON object with --json).
// `changes`: what this command changed in the stored settings (saved with the new version).
void PrintObtained(const CommandContext& context, const LineagePaths& paths,
                   const std::string& lineage, const RenewalConfig& config,
                   const ObtainResult& result, const std::vector<std::string>& changes) {
  if (!changes.empty()) {
    context.Progress(absl::StrCat("acme-agent certonly: renewal settings changed: ",
                                  absl::StrJoin(changes, "; ")));
  }
  if (context.json) {
    PrintJsonResult(
        kCommand,
        {{"lineage", lineage},
         {"renewed", true},
         {"version", result.version},
         {"serial", result.serial},
         {"not_after", absl::FormatTime(absl::RFC3339_sec, result.not_after, absl::UTCTimeZone())},
         {"domains", config.domains},
         {"account", config.account},
         {"cert", paths.cert},
         {"fullchain", paths.fullchain},
         {"privkey", paths.privkey},
         {"settings_changed", changes}});
  } else if (!context.quiet) {
    std::cout << "Successfully received certificate.\n"
              << "Certificate is saved at: " << paths.fullchain << "\n"
              << "Key is saved at:         " << paths.privkey << "\n"
              << "This certificate expires on "
              << absl::FormatTime("%Y-%m-%d", result.not_after, absl::UTCTimeZone()) << ".\n";
    if (config.pfx) std::cout << "PKCS#12 file:            " << paths.pfx << "\n";
  }
}

// certbot's dry-run ending (or one JSON object with --json): nothing was saved.
void PrintDryRun(const CommandContext& context, const std::string& lineage,
                 const RenewalConfig& config, const std::optional<RenewalConfig>& stored,
                 const ObtainResult& result) {
  std::vector<std::string> changes;
  if (stored.has_value()) changes = RenewalConfigChanges(*stored, config);
  if (context.json) {
    PrintJsonResult(kCommand, {{"lineage", lineage},
                               {"dry_run", true},
                               {"renewed", false},
                               {"domains", config.domains},
                               {"authorizations_deactivated", result.authorizations_deactivated},
                               {"settings_not_saved", changes}});
    return;
  }
  if (!changes.empty()) {
    context.Progress(
        absl::StrCat("dry run: renewal settings not saved: ", absl::StrJoin(changes, "; ")));
  }
  if (!context.quiet) {
    std::cout << "Simulating a certificate request for " << absl::StrJoin(config.domains, ", ")
              << " (lineage " << lineage << ")\n"
              << "The dry run was successful.\n";
  }
}

// The lineage a certonly without --cert-name goes to, as certbot chooses it: the one with
// exactly these names; else one whose names are a subset of them, which --expand replaces
// (without --expand: InvalidArgument saying so, certbot's non-interactive answer); else a new
// lineage named after the first name (BASE-0001 ... when that name is taken).
absl::StatusOr<std::string> ChooseLineage(const LineageStore& store,
                                          const std::vector<std::string>& domains, bool expand) {
  ASSIGN_OR_RETURN(std::optional<std::string> same, store.FindByNames(domains));
  if (same.has_value()) return *same;
  ASSIGN_OR_RETURN(std::optional<std::string> subset, store.FindSubsetOfNames(domains));
  if (subset.has_value()) {
    if (expand) return *subset;
    absl::StatusOr<CertificateInfo> current = store.ReadCurrentCertificate(*subset);
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate ", *subset, " already covers ",
        current.ok() ? absl::StrJoin(current->dns_names, ", ") : std::string("some of these names"),
        ", a part of the names requested; add --expand to replace it with a certificate for all "
        "of them, or give --cert-name NAME (a new NAME makes a separate certificate)"));
  }
  if (absl::Status s = ValidateLineageName(domains.front()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lineage name from the first --domain: ", s.message(), " (give --cert-name)"));
  }
  return store.UnusedName(domains.front());
}

// What one certonly run works with, filled step by step by RunCertonly.
struct CertonlyRun {
  CommandContext context;
  RenewalOverrides overrides;
  std::optional<std::string> cert_name;
  std::string lineage;
  // Connected early for --server/--account, else just before obtaining.
  std::unique_ptr<SignerClient> signer;
  // The lineage's stored settings, when it had some, and the ones this run obtains with.
  std::optional<RenewalConfig> stored;
  RenewalConfig config;
  bool dry_run = false;
};

// Refuses the signer-side account flags, folds --domains into --domain and parses. An exit
// code when the command stops (help, usage error).
std::optional<int> ParseCommandLine(ArgParser& parser, const std::vector<std::string>& args) {
  if (absl::Status s = RefuseAccountFlags(args); !s.ok()) {
    RecordOutputMode(nullptr, args);
    return UsageError(kCommand, s);
  }
  std::vector<std::string> merged = args;
  for (std::string& arg : merged) {
    if (arg == "--domains") arg = "--domain";
    if (absl::StartsWith(arg, "--domains=")) arg = "--domain=" + arg.substr(10);
  }
  return ParseOrExit(parser, merged, kCommand);
}

// The config, the options and --cert-name, checked.
std::optional<int> LoadRun(const ArgParser& parser, CertonlyRun& run) {
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) return UsageError(kCommand, context.status());
  run.context = *std::move(context);
  absl::StatusOr<RenewalOverrides> overrides = OverridesFromFlags(parser);
  if (!overrides.ok()) return UsageError(kCommand, overrides.status());
  run.overrides = *std::move(overrides);
  run.cert_name = parser.Get("cert-name");
  if (run.cert_name.has_value()) {
    if (absl::Status s = ValidateLineageName(*run.cert_name); !s.ok()) {
      return UsageError(kCommand, WithMessage(s, absl::StrCat("--cert-name: ", s.message())));
    }
  }
  run.dry_run = parser.Has("dry-run");
  return std::nullopt;
}

// --cert-name, else the lineage certbot would choose (ChooseLineage).
std::optional<int> ResolveLineage(const ArgParser& parser, const LineageStore& store,
                                  CertonlyRun& run) {
  if (run.cert_name.has_value()) {
    run.lineage = *run.cert_name;
    return std::nullopt;
  }
  absl::StatusOr<std::string> chosen =
      ChooseLineage(store, *run.overrides.domains, parser.Has("expand"));
  if (!chosen.ok()) {
    // A refusal without --expand is the command line's (exit 2), said once, as JSON with --json.
    if (absl::IsInvalidArgument(chosen.status())) return UsageError(kCommand, chosen.status());
    return Fail(&run.context, kCommand, chosen.status());
  }
  run.lineage = *std::move(chosen);
  return std::nullopt;
}

// --server / --account: the signer says which accounts this agent may use.
std::optional<int> ApplyAccountFlags(const ArgParser& parser, CertonlyRun& run) {
  if (!parser.Has("server") && !parser.Has("account")) return std::nullopt;
  absl::StatusOr<std::unique_ptr<SignerClient>> connected = ConnectToSigner(run.context.config);
  if (!connected.ok()) return Fail(&run.context, kCommand, connected.status());
  run.signer = *std::move(connected);
  absl::StatusOr<std::optional<AccountSelection>> selection = AccountFromFlags(parser, *run.signer);
  if (!selection.ok()) {
    if (absl::IsInvalidArgument(selection.status())) {
      return UsageError(kCommand, selection.status());
    }
    return Fail(&run.context, kCommand, selection.status());
  }
  if (selection->has_value()) {
    run.overrides.account = (*selection)->name;
    run.overrides.server = (*selection)->directory_url;
  }
  return std::nullopt;
}

// The settings to obtain with (SettingsFor); then a version an interrupted run saved but never
// made live is finished: it was issued for these names, so it is what this command would
// obtain. (Not in a dry run: it changes nothing on disk.)
std::optional<int> ResolveSettings(const LineageStore& store, CertonlyRun& run) {
  absl::StatusOr<RenewalConfig> config =
      SettingsFor(store, run.lineage, run.context.config, run.overrides, run.stored);
  if (!config.ok()) {
    if (!absl::IsInvalidArgument(config.status())) {
      return Fail(&run.context, kCommand, config.status());
    }
    return UsageError(kCommand, config.status());
  }
  run.config = *std::move(config);
  if (!run.dry_run) {
    absl::StatusOr<std::optional<int>> finished =
        FinishInterruptedInstall(run.context, run.lineage, run.config);
    if (!finished.ok()) return Fail(&run.context, kCommand, finished.status());
  }
  return std::nullopt;
}

// --metrics-file (agent/metrics_file.h): this lineage's outcome, not in a dry run; a file
// that cannot be written is reported but does not change the exit status.
void WriteMetricsIfAsked(const ArgParser& parser, const CertonlyRun& run, bool ok, bool renewed) {
  const std::optional<std::string> path = parser.Get("metrics-file");
  if (!path.has_value() || run.dry_run) return;
  RenewalAttempt attempt;
  attempt.cert_name = run.lineage;
  attempt.ok = ok;
  attempt.renewed = renewed;
  if (absl::Status s =
          WriteAgentMetricsFile(*path, run.context.config.config_dir, {attempt}, absl::Now());
      !s.ok()) {
    std::cerr << "acme-agent " << kCommand << ": warning: " << s.message() << "\n";
  }
}

// Connects (unless --server/--account did), obtains with the hooks and prints the result.
int ObtainAndReport(const ArgParser& parser, const LineageStore& store, CertonlyRun& run) {
  if (run.signer == nullptr) {
    absl::StatusOr<std::unique_ptr<SignerClient>> connected = ConnectToSigner(run.context.config);
    if (!connected.ok()) return Fail(&run.context, kCommand, connected.status());
    run.signer = *std::move(connected);
  }
  absl::StatusOr<ObtainResult> result =
      ObtainWithHooks(run.context, *run.signer, run.lineage, run.config, run.dry_run);
  WriteMetricsIfAsked(parser, run, result.ok(), result.ok());
  if (!result.ok()) return Fail(&run.context, kCommand, result.status());
  if (run.dry_run) {
    PrintDryRun(run.context, run.lineage, run.config, run.stored, *result);
    return kExitOk;
  }
  // Saved with the new version (renewal/NAME.conf): what this command changed in it.
  std::vector<std::string> changes;
  if (run.stored.has_value()) changes = RenewalConfigChanges(*run.stored, run.config);
  PrintObtained(run.context, store.Paths(run.lineage), run.lineage, run.config, *result, changes);
  return kExitOk;
}

}  // namespace

int RunCertonly(const std::vector<std::string>& args) {
  ArgParser parser = MakeParser();
  if (std::optional<int> exit_code = ParseCommandLine(parser, args)) return *exit_code;
  CertonlyRun run;
  if (std::optional<int> exit_code = LoadRun(parser, run)) return *exit_code;
  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(run.context.config.config_dir);
  if (!lock.ok()) return Fail(&run.context, kCommand, lock.status());

  LineageStore store(run.context.config.config_dir);
  if (std::optional<int> exit_code = ResolveLineage(parser, store, run)) return *exit_code;
  if (std::optional<int> exit_code = ApplyAccountFlags(parser, run)) return *exit_code;
  if (std::optional<int> exit_code = ResolveSettings(store, run)) return *exit_code;
  // A dry run always simulates obtaining, due or not (certbot).
  if (!parser.Has("force-renewal") && !run.dry_run) {
    if (std::optional<int> kept =
            KeepCurrentIfNotDue(run.context, store, run.lineage, run.config)) {
      WriteMetricsIfAsked(parser, run, *kept == kExitOk, false);
      return *kept;
    }
  }
  return ObtainAndReport(parser, store, run);
}

}  // namespace acme_signer::agent
