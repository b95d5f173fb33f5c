// acme-agent certonly: obtain a certificate for one lineage, certbot style.
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "acme/dns_names.h"
#include "agent/command_support.h"
#include "agent/commands.h"
#include "agent/hooks.h"
#include "agent/lineage.h"
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
absl::Status RefuseAccountFlags(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (absl::string_view flag : {"--eab-kid", "--eab-hmac-key", "--server", "--email",
                                   "--agree-tos", "--register-unsafely-without-email"}) {
      if (arg == flag || absl::StartsWith(arg, absl::StrCat(flag, "="))) {
        return absl::InvalidArgumentError(absl::StrCat(
            flag,
            " is not an acme-agent option: the ACME account, its server, contact and EAB "
            "credentials live in acme-signer (in its HSM), not on this host; drop the flag"));
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
  parser.Bool("pfx", "also write live/NAME/cert.pfx (PKCS#12, e.g. for IIS)")
      .Value("pfx-password-file", "FILE", "password for --pfx (default: none)")
      .Bool("pfx-legacy", "3DES/SHA-1 PKCS#12 for old Windows (default AES-256/PBKDF2)")
      .Bool("force-renewal", "obtain a new certificate even if the current one is not due")
      .Bool("direct",
            "talk to the CA from this host; the signer only signs each request "
            "(kept for renewals; [direct] ca_bundle in agent.toml)");
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

// The renewal parameters of a new request: agent.toml's [defaults], then the command line.
absl::StatusOr<RenewalConfig> ConfigFromFlags(const ArgParser& parser, const AgentConfig& agent) {
  RenewalConfig config;
  ASSIGN_OR_RETURN(config.domains, DomainsFromFlags(parser));
  config.authenticator = agent.defaults.authenticator;
  config.webroot_path = agent.defaults.webroot_path;
  config.http01_port = agent.defaults.http01_port;
  config.http01_address = agent.defaults.http01_address;
  config.pre_hook = agent.defaults.pre_hook;
  config.post_hook = agent.defaults.post_hook;
  config.deploy_hook = agent.defaults.deploy_hook;
  config.key = agent.defaults.key;
  ASSIGN_OR_RETURN(RenewalOverrides overrides, RenewalOverridesFromFlags(parser));
  RETURN_IF_ERROR(ApplyRenewalOverrides(overrides, config));
  config.pfx = parser.Has("pfx");
  config.pfx_password_file = parser.GetOr("pfx-password-file", "");
  config.pfx_legacy = parser.Has("pfx-legacy");
  config.direct = parser.Has("direct");
  if ((!config.pfx_password_file.empty() || config.pfx_legacy) && !config.pfx) {
    return absl::InvalidArgumentError("--pfx-password-file and --pfx-legacy need --pfx");
  }
  RETURN_IF_ERROR(ValidateRenewalConfig(config));
  return config;
}

// An existing lineage with the same names that is not due is kept, as certbot does: says so
// and returns the exit code; nullopt when a certificate is to be obtained.
std::optional<int> KeepCurrentIfNotDue(const CommandContext& context, const LineageStore& store,
                                       const std::string& lineage, const RenewalConfig& config) {
  absl::StatusOr<RenewalConfig> existing = store.ReadRenewalConfig(lineage);
  absl::StatusOr<CertificateInfo> current = store.ReadCurrentCertificate(lineage);
  if (!existing.ok() || !current.ok() || existing->domains != config.domains ||
      absl::Now() >= current->not_after - (current->not_after - current->not_before) / 3) {
    return std::nullopt;
  }
  context.Say(absl::StrCat("Certificate not yet due for renewal; no action taken (", lineage,
                           " expires ",
                           absl::FormatTime("%Y-%m-%d", current->not_after, absl::UTCTimeZone()),
                           "; use --force-renewal to replace it now)"));
  if (context.json) {
    std::cout << nlohmann::json({{"ok", true}, {"lineage", lineage}, {"renewed", false}}).dump()
              << std::endl;
  }
  return kExitOk;
}

// Runs the pre-hook, obtains, and runs the post-hook whatever happened (a warning if it fails).
absl::StatusOr<ObtainResult> ObtainWithHooks(const CommandContext& context, SignerClient& signer,
                                             const std::string& lineage,
                                             const RenewalConfig& config) {
  RETURN_IF_ERROR(RunPrePostHook(context, "pre-hook", config.pre_hook, PreHookEnv()));
  absl::StatusOr<ObtainResult> result =
      ObtainCertificate(context, signer, lineage, config, /*replaces=*/"");
  absl::Status post =
      RunPrePostHook(context, "post-hook", config.post_hook,
                     PostHookEnv(result.ok() ? config.domains : std::vector<std::string>(),
                                 result.ok() ? std::vector<std::string>() : config.domains));
  if (!post.ok()) std::cerr << "acme-agent certonly: warning: " << post.message() << "\n";
  return result;
}

// certbot's success message (or one JSON object with --json).
void PrintObtained(const CommandContext& context, const LineagePaths& paths,
                   const std::string& lineage, const RenewalConfig& config,
                   const ObtainResult& result) {
  if (context.json) {
    std::cout << nlohmann::json({{"ok", true},
                                 {"lineage", lineage},
                                 {"renewed", true},
                                 {"version", result.version},
                                 {"serial", result.serial},
                                 {"not_after", absl::FormatTime(absl::RFC3339_sec, result.not_after,
                                                                absl::UTCTimeZone())},
                                 {"domains", config.domains},
                                 {"cert", paths.cert},
                                 {"fullchain", paths.fullchain},
                                 {"privkey", paths.privkey}})
                     .dump()
              << std::endl;
  } else if (!context.quiet) {
    std::cout << "Successfully received certificate.\n"
              << "Certificate is saved at: " << paths.fullchain << "\n"
              << "Key is saved at:         " << paths.privkey << "\n"
              << "This certificate expires on "
              << absl::FormatTime("%Y-%m-%d", result.not_after, absl::UTCTimeZone()) << ".\n";
    if (config.pfx) std::cout << "PKCS#12 file:            " << paths.pfx << "\n";
  }
}

}  // namespace

int RunCertonly(const std::vector<std::string>& args) {
  if (absl::Status s = RefuseAccountFlags(args); !s.ok()) {
    std::cerr << "acme-agent certonly: " << s.message() << "\n";
    return kExitUsage;
  }
  ArgParser parser = MakeParser();
  std::vector<std::string> merged = args;
  for (std::string& arg : merged) {
    if (arg == "--domains") arg = "--domain";
    if (absl::StartsWith(arg, "--domains=")) arg = "--domain=" + arg.substr(10);
  }
  if (auto exit_code = ParseOrExit(parser, merged, kCommand)) return *exit_code;
  absl::StatusOr<CommandContext> context = LoadContext(parser);
  if (!context.ok()) {
    std::cerr << "acme-agent certonly: " << context.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<RenewalConfig> config = ConfigFromFlags(parser, context->config);
  if (!config.ok()) {
    std::cerr << "acme-agent certonly: " << config.status().message() << "\n";
    return kExitUsage;
  }
  const std::string lineage = parser.GetOr("cert-name", config->domains.front());
  if (absl::Status s = ValidateLineageName(lineage); !s.ok()) {
    std::cerr << "acme-agent certonly: --cert-name: " << s.message() << "\n";
    return kExitUsage;
  }

  absl::StatusOr<std::unique_ptr<RunLock>> lock = RunLock::Acquire(context->config.config_dir);
  if (!lock.ok()) return Fail(&*context, kCommand, lock.status());

  // A version an interrupted run saved but never made live is finished first: it was issued
  // for these names, so it is what this command would obtain.
  absl::StatusOr<std::optional<int>> finished =
      FinishInterruptedInstall(*context, lineage, *config);
  if (!finished.ok()) return Fail(&*context, kCommand, finished.status());

  LineageStore store(context->config.config_dir);
  if (!parser.Has("force-renewal")) {
    if (std::optional<int> kept = KeepCurrentIfNotDue(*context, store, lineage, *config)) {
      return *kept;
    }
  }

  absl::StatusOr<std::unique_ptr<SignerClient>> signer = ConnectToSigner(context->config);
  if (!signer.ok()) return Fail(&*context, kCommand, signer.status());
  absl::StatusOr<ObtainResult> result = ObtainWithHooks(*context, **signer, lineage, *config);
  if (!result.ok()) return Fail(&*context, kCommand, result.status());
  PrintObtained(*context, store.Paths(lineage), lineage, *config, *result);
  return kExitOk;
}

}  // namespace acme_signer::agent
