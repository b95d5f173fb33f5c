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

absl::StatusOr<RenewalConfig> ConfigFromFlags(const ArgParser& parser, const AgentConfig& agent) {
  RenewalConfig config;
  for (const std::string& value : parser.GetAll("domain")) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      ASSIGN_OR_RETURN(std::string name, acme::NormalizeDnsName(absl::StripAsciiWhitespace(part)));
      if (std::find(config.domains.begin(), config.domains.end(), name) == config.domains.end()) {
        config.domains.push_back(name);
      }
    }
  }
  if (config.domains.empty()) return absl::InvalidArgumentError("give at least one --domain");

  const int methods = parser.Has("standalone") + parser.Has("webroot") + parser.Has("manual");
  if (methods > 1) {
    return absl::InvalidArgumentError("choose one of --standalone, --webroot, --manual");
  }
  config.authenticator = agent.defaults.authenticator;
  if (parser.Has("standalone")) config.authenticator = Authenticator::kStandalone;
  if (parser.Has("webroot") || parser.Has("webroot-path")) {
    config.authenticator = Authenticator::kWebroot;
  }
  if (parser.Has("manual") || parser.Has("manual-auth-hook")) {
    config.authenticator = Authenticator::kManual;
  }
  config.webroot_path = parser.GetOr("webroot-path", agent.defaults.webroot_path);
  config.http01_port = agent.defaults.http01_port;
  ASSIGN_OR_RETURN(auto port, parser.GetInt("http-01-port", 1, 65535));
  if (port.has_value()) config.http01_port = static_cast<int>(*port);
  config.http01_address = parser.GetOr("http-01-address", agent.defaults.http01_address);
  config.manual_auth_hook = parser.GetOr("manual-auth-hook", "");
  config.manual_cleanup_hook = parser.GetOr("manual-cleanup-hook", "");
  std::string challenges = absl::AsciiStrToLower(parser.GetOr("preferred-challenges", "http-01"));
  if (challenges == "http") challenges = "http-01";
  if (challenges == "dns") challenges = "dns-01";
  config.preferred_challenges = challenges;
  if (config.authenticator != Authenticator::kManual && challenges != "http-01") {
    return absl::InvalidArgumentError(
        "--preferred-challenges dns needs --manual-auth-hook (a hook that sets the TXT record)");
  }
  config.pre_hook = parser.GetOr("pre-hook", agent.defaults.pre_hook);
  config.post_hook = parser.GetOr("post-hook", agent.defaults.post_hook);
  config.deploy_hook = parser.GetOr("deploy-hook", agent.defaults.deploy_hook);
  config.preferred_chain = parser.GetOr("preferred-chain", "");

  KeySpec key = agent.defaults.key;
  std::string key_type = parser.GetOr("key-type", key.KeyTypeName());
  std::string curve = parser.GetOr("elliptic-curve", key.elliptic_curve);
  ASSIGN_OR_RETURN(auto rsa_size, parser.GetInt("rsa-key-size", 1024, 16384));
  ASSIGN_OR_RETURN(config.key, ParseKeySpec(key_type, curve,
                                            rsa_size.has_value() ? static_cast<int>(*rsa_size)
                                                                 : key.rsa_key_size));
  config.reuse_key = parser.Has("reuse-key");
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

}  // namespace

int RunCertonly(const std::vector<std::string>& args) {
  if (absl::Status s = RefuseAccountFlags(args); !s.ok()) {
    std::cerr << "acme-agent certonly: " << s.message() << "\n";
    return kExitUsage;
  }
  ArgParser parser(
      "acme-agent certonly --domain NAME [--domain NAME ...] [--cert-name NAME] "
      "(--standalone | --webroot --webroot-path DIR | --manual-auth-hook CMD) "
      "[options]");
  AddCommonOptions(parser);
  parser.Repeated("domain", "NAME", "a name for the certificate (comma-separated allowed)", 'd')
      .Repeated("domains", "NAMES", "same as --domain")
      .Value("cert-name", "NAME", "lineage name (default: the first domain)")
      .Bool("standalone", "answer http-01 from a built-in server")
      .Value("http-01-port", "PORT", "port for --standalone (default 80)")
      .Value("http-01-address", "ADDR", "address for --standalone (default all)")
      .Bool("webroot", "answer http-01 by writing into a web server's document root")
      .Value("webroot-path", "DIR", "document root for --webroot", 'w')
      .Bool("manual", "answer challenges with --manual-auth-hook")
      .Value("manual-auth-hook", "CMD", "command that publishes a challenge (CERTBOT_* env)")
      .Value("manual-cleanup-hook", "CMD", "command that removes it")
      .Value("preferred-challenges", "TYPE", "http-01 (default) or dns-01, for manual hooks")
      .Value("key-type", "TYPE", "ecdsa (default) or rsa")
      .Value("elliptic-curve", "CURVE", "secp256r1 (default) or secp384r1")
      .Value("rsa-key-size", "BITS", "2048 (default), 3072 or 4096")
      .Bool("reuse-key", "keep the current private key on renewal")
      .Value("deploy-hook", "CMD", "run after a new certificate is installed")
      .Value("pre-hook", "CMD", "run before obtaining (e.g. stop a web server on port 80)")
      .Value("post-hook", "CMD", "run after obtaining (e.g. start it again)")
      .Bool("pfx", "also write live/NAME/cert.pfx (PKCS#12, e.g. for IIS)")
      .Value("pfx-password-file", "FILE", "password for --pfx (default: none)")
      .Bool("pfx-legacy", "3DES/SHA-1 PKCS#12 for old Windows (default AES-256/PBKDF2)")
      .Value("preferred-chain", "ISSUER_CN", "prefer the chain whose top issuer has this CN")
      .Bool("force-renewal", "obtain a new certificate even if the current one is not due")
      .Bool("direct",
            "talk to the CA from this host; the signer only signs each request "
            "(kept for renewals; [direct] ca_bundle in agent.toml)");
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

  // An existing lineage with the same names that is not due is kept, as certbot does.
  LineageStore store(context->config.config_dir);
  if (!parser.Has("force-renewal")) {
    absl::StatusOr<RenewalConfig> existing = store.ReadRenewalConfig(lineage);
    absl::StatusOr<CertificateInfo> current = store.ReadCurrentCertificate(lineage);
    if (existing.ok() && current.ok() && existing->domains == config->domains &&
        absl::Now() < current->not_after - (current->not_after - current->not_before) / 3) {
      context->Say(absl::StrCat(
          "Certificate not yet due for renewal; no action taken (", lineage, " expires ",
          absl::FormatTime("%Y-%m-%d", current->not_after, absl::UTCTimeZone()),
          "; use --force-renewal to replace it now)"));
      if (context->json) {
        std::cout << nlohmann::json({{"ok", true}, {"lineage", lineage}, {"renewed", false}}).dump()
                  << std::endl;
      }
      return kExitOk;
    }
  }

  absl::StatusOr<std::unique_ptr<SignerClient>> signer = ConnectToSigner(context->config);
  if (!signer.ok()) return Fail(&*context, kCommand, signer.status());
  if (absl::Status s = RunPrePostHook(*context, "pre-hook", config->pre_hook, PreHookEnv());
      !s.ok()) {
    return Fail(&*context, kCommand, s);
  }
  absl::StatusOr<ObtainResult> result =
      ObtainCertificate(*context, **signer, lineage, *config, /*replaces=*/"");
  absl::Status post =
      RunPrePostHook(*context, "post-hook", config->post_hook,
                     PostHookEnv(result.ok() ? config->domains : std::vector<std::string>(),
                                 result.ok() ? std::vector<std::string>() : config->domains));
  if (!post.ok()) std::cerr << "acme-agent certonly: warning: " << post.message() << "\n";
  if (!result.ok()) return Fail(&*context, kCommand, result.status());

  LineagePaths paths = store.Paths(lineage);
  if (context->json) {
    std::cout << nlohmann::json(
                     {{"ok", true},
                      {"lineage", lineage},
                      {"renewed", true},
                      {"version", result->version},
                      {"serial", result->serial},
                      {"not_after",
                       absl::FormatTime(absl::RFC3339_sec, result->not_after, absl::UTCTimeZone())},
                      {"domains", config->domains},
                      {"cert", paths.cert},
                      {"fullchain", paths.fullchain},
                      {"privkey", paths.privkey}})
                     .dump()
              << std::endl;
  } else if (!context->quiet) {
    std::cout << "Successfully received certificate.\n"
              << "Certificate is saved at: " << paths.fullchain << "\n"
              << "Key is saved at:         " << paths.privkey << "\n"
              << "This certificate expires on "
              << absl::FormatTime("%Y-%m-%d", result->not_after, absl::UTCTimeZone()) << ".\n";
    if (config->pfx) std::cout << "PKCS#12 file:            " << paths.pfx << "\n";
  }
  return kExitOk;
}

}  // namespace acme_signer::agent
