#include "agent/renewal_flags.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/private_key.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

void AddRenewalParamOptions(ArgParser& parser) {
  parser.Bool("standalone", "answer http-01 from a built-in server")
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
      .Bool("no-reuse-key", "make a new private key at every renewal (the default)")
      .Value("deploy-hook", "CMD", "run after a new certificate is installed")
      .Value("pre-hook", "CMD", "run before obtaining (e.g. stop a web server on port 80)")
      .Value("post-hook", "CMD", "run after obtaining (e.g. start it again)")
      .Value("preferred-chain", "ISSUER_CN", "prefer the chain whose top issuer has this CN");
}

absl::StatusOr<RenewalOverrides> RenewalOverridesFromFlags(const ArgParser& parser) {
  RenewalOverrides out;
  const int methods = parser.Has("standalone") + parser.Has("webroot") + parser.Has("manual");
  if (methods > 1) {
    return absl::InvalidArgumentError("choose one of --standalone, --webroot, --manual");
  }
  // A method's own setting selects the method too (certbot: -w implies --webroot).
  if (parser.Has("standalone")) out.authenticator = Authenticator::kStandalone;
  if (parser.Has("webroot") || parser.Has("webroot-path")) {
    out.authenticator = Authenticator::kWebroot;
  }
  if (parser.Has("manual") || parser.Has("manual-auth-hook")) {
    out.authenticator = Authenticator::kManual;
  }
  ASSIGN_OR_RETURN(std::optional<long> port, parser.GetInt("http-01-port", 1, 65535));
  if (port.has_value()) out.http01_port = static_cast<int>(*port);
  ASSIGN_OR_RETURN(std::optional<long> rsa_size, parser.GetInt("rsa-key-size", 1024, 16384));
  if (rsa_size.has_value()) out.rsa_key_size = static_cast<int>(*rsa_size);
  if (std::optional<std::string> challenges = parser.Get("preferred-challenges")) {
    std::string type = absl::AsciiStrToLower(*challenges);
    if (type == "http") type = "http-01";
    if (type == "dns") type = "dns-01";
    out.preferred_challenges = std::move(type);
  }
  out.webroot_path = parser.Get("webroot-path");
  out.http01_address = parser.Get("http-01-address");
  out.manual_auth_hook = parser.Get("manual-auth-hook");
  out.manual_cleanup_hook = parser.Get("manual-cleanup-hook");
  out.preferred_chain = parser.Get("preferred-chain");
  out.pre_hook = parser.Get("pre-hook");
  out.post_hook = parser.Get("post-hook");
  out.deploy_hook = parser.Get("deploy-hook");
  out.key_type = parser.Get("key-type");
  out.elliptic_curve = parser.Get("elliptic-curve");
  if (parser.Has("reuse-key") && parser.Has("no-reuse-key")) {
    return absl::InvalidArgumentError("choose one of --reuse-key, --no-reuse-key");
  }
  if (parser.Has("reuse-key")) out.reuse_key = true;
  if (parser.Has("no-reuse-key")) out.reuse_key = false;
  return out;
}

absl::Status ApplyRenewalOverrides(const RenewalOverrides& overrides, RenewalConfig& config) {
  if (overrides.authenticator.has_value()) {
    config.authenticator = *overrides.authenticator;
    // Only manual hooks answer dns-01: moving a lineage to another method moves it to http-01
    // unless the command line asks for a challenge type too.
    if (config.authenticator != Authenticator::kManual) config.preferred_challenges = "http-01";
  }
  const auto set = [](const std::optional<std::string>& value, std::string& field) {
    if (value.has_value()) field = *value;
  };
  set(overrides.webroot_path, config.webroot_path);
  if (overrides.http01_port.has_value()) config.http01_port = *overrides.http01_port;
  set(overrides.http01_address, config.http01_address);
  set(overrides.manual_auth_hook, config.manual_auth_hook);
  set(overrides.manual_cleanup_hook, config.manual_cleanup_hook);
  set(overrides.preferred_challenges, config.preferred_challenges);
  set(overrides.preferred_chain, config.preferred_chain);
  set(overrides.pre_hook, config.pre_hook);
  set(overrides.post_hook, config.post_hook);
  set(overrides.deploy_hook, config.deploy_hook);
  const bool method_changed =
      overrides.authenticator.has_value() || overrides.preferred_challenges.has_value();
  // Named as the user typed them, not as the renewal file's keys (webroot_path).
  if (overrides.authenticator == Authenticator::kWebroot && config.webroot_path.empty()) {
    return absl::InvalidArgumentError(
        "--webroot needs -w/--webroot-path DIR (the directory your web server serves "
        "/.well-known/acme-challenge/ from)");
  }
  if (overrides.authenticator == Authenticator::kManual && config.manual_auth_hook.empty()) {
    return absl::InvalidArgumentError(
        "--manual needs --manual-auth-hook CMD (renewals run unattended, so a hook answers "
        "the challenge)");
  }
  if (method_changed && config.authenticator != Authenticator::kManual &&
      config.preferred_challenges != "http-01") {
    return absl::InvalidArgumentError(
        "--preferred-challenges dns needs --manual-auth-hook (a hook that sets the TXT record)");
  }
  if (overrides.key_type || overrides.elliptic_curve || overrides.rsa_key_size) {
    ASSIGN_OR_RETURN(config.key,
                     ParseKeySpec(overrides.key_type.value_or(config.key.KeyTypeName()),
                                  overrides.elliptic_curve.value_or(config.key.elliptic_curve),
                                  overrides.rsa_key_size.value_or(config.key.rsa_key_size)));
  }
  if (overrides.reuse_key.has_value()) config.reuse_key = *overrides.reuse_key;
  if (overrides.domains.has_value()) config.domains = *overrides.domains;
  if (overrides.pfx.has_value()) config.pfx = *overrides.pfx;
  set(overrides.pfx_password_file, config.pfx_password_file);
  if (overrides.pfx_legacy.has_value()) config.pfx_legacy = *overrides.pfx_legacy;
  if (overrides.ccs_dir.has_value()) {
    if (!overrides.ccs_dir->empty() && overrides.ccs_dir->front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("--ccs-dir must be an absolute path, got \"", *overrides.ccs_dir, "\""));
    }
    config.ccs_dir = *overrides.ccs_dir;
    if (!config.ccs_dir.empty()) config.pfx = true;  // the copies are of the PKCS#12
  }
  if (overrides.direct.has_value()) config.direct = *overrides.direct;
  if (overrides.account.has_value()) {
    config.account = *overrides.account;
    config.server = overrides.server.value_or("");
  }
  if ((!config.pfx_password_file.empty() || config.pfx_legacy) && !config.pfx) {
    return absl::InvalidArgumentError("--pfx-password-file and --pfx-legacy need --pfx");
  }
  return absl::OkStatus();
}

absl::StatusOr<RenewalConfig> MergeRenewalSettings(const RenewalConfig& base,
                                                   const RenewalOverrides& overrides) {
  RenewalConfig config = base;
  RETURN_IF_ERROR(ApplyRenewalOverrides(overrides, config));
  RETURN_IF_ERROR(ValidateRenewalConfig(config));
  return config;
}

}  // namespace acme_signer::agent
