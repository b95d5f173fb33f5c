#include "agent/renewal_config.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/dns_names.h"
#include "agent/toml_reader.h"
#include "common/status_macros.h"

namespace acme_signer::agent {

std::string AuthenticatorName(Authenticator a) {
  switch (a) {
    case Authenticator::kStandalone:
      return "standalone";
    case Authenticator::kWebroot:
      return "webroot";
    case Authenticator::kManual:
      return "manual";
  }
  return "unknown";
}

absl::StatusOr<Authenticator> ParseAuthenticator(absl::string_view name) {
  if (name == "standalone") return Authenticator::kStandalone;
  if (name == "webroot") return Authenticator::kWebroot;
  if (name == "manual") return Authenticator::kManual;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown authenticator \"", name, "\": use standalone, webroot or manual"));
}

absl::Status ValidateRenewalConfig(const RenewalConfig& config) {
  RETURN_IF_ERROR(ValidateDnsNames(config.domains));
  if (config.authenticator == Authenticator::kWebroot && config.webroot_path.empty()) {
    return absl::InvalidArgumentError("webroot authenticator needs webroot_path");
  }
  if (config.authenticator == Authenticator::kManual && config.manual_auth_hook.empty()) {
    return absl::InvalidArgumentError(
        "manual authenticator needs manual_auth_hook (renewals run unattended)");
  }
  if (config.preferred_challenges != "http-01" && config.preferred_challenges != "dns-01") {
    return absl::InvalidArgumentError(absl::StrCat(
        "preferred_challenges must be http-01 or dns-01, got \"", config.preferred_challenges,
        "\""));
  }
  if (config.http01_port < 1 || config.http01_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http01_port must be 1..65535, got ", config.http01_port));
  }
  RETURN_IF_ERROR(
      ParseKeySpec(config.key.KeyTypeName(), config.key.elliptic_curve, config.key.rsa_key_size)
          .status());
  return absl::OkStatus();
}

absl::StatusOr<std::string> SerializeRenewalConfig(const RenewalConfig& config,
                                                   const RenewalConfigPaths& paths) {
  RETURN_IF_ERROR(ValidateRenewalConfig(config));
  toml::array domains;
  for (const std::string& d : config.domains) domains.push_back(d);
  toml::table params{
      {"domains", std::move(domains)},
      {"authenticator", AuthenticatorName(config.authenticator)},
      {"webroot_path", config.webroot_path},
      {"http01_port", config.http01_port},
      {"http01_address", config.http01_address},
      {"manual_auth_hook", config.manual_auth_hook},
      {"manual_cleanup_hook", config.manual_cleanup_hook},
      {"preferred_challenges", config.preferred_challenges},
      {"preferred_chain", config.preferred_chain},
      {"pre_hook", config.pre_hook},
      {"post_hook", config.post_hook},
      {"deploy_hook", config.deploy_hook},
      {"key_type", config.key.KeyTypeName()},
      {"elliptic_curve", config.key.elliptic_curve},
      {"rsa_key_size", config.key.rsa_key_size},
      {"reuse_key", config.reuse_key},
      {"pfx", config.pfx},
      {"pfx_password_file", config.pfx_password_file},
      {"pfx_legacy", config.pfx_legacy},
      {"direct", config.direct},
  };
  toml::table root{
      {"version", config.version},
      {"archive_dir", paths.archive_dir},
      {"cert", paths.cert},
      {"privkey", paths.privkey},
      {"chain", paths.chain},
      {"fullchain", paths.fullchain},
      {"renewalparams", std::move(params)},
  };
  std::ostringstream out;
  out << "# Written by acme-agent; `acme-agent renew` repeats the request described here.\n"
         "# Edit with care: unknown keys are rejected.\n"
      << root << "\n";
  return out.str();
}

absl::StatusOr<RenewalConfig> ParseRenewalConfig(absl::string_view text,
                                                 const std::string& source) {
  ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  RenewalConfig config;
  TomlTableReader top(root, source, "");
  std::string ignored;
  RETURN_IF_ERROR(top.String("version", &config.version));
  for (const char* informational : {"archive_dir", "cert", "privkey", "chain", "fullchain"}) {
    RETURN_IF_ERROR(top.String(informational, &ignored));
  }
  const toml::table* params_table = nullptr;
  RETURN_IF_ERROR(top.Table("renewalparams", &params_table));
  RETURN_IF_ERROR(top.RejectUnknownKeys());
  if (params_table == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing [renewalparams] section"));
  }
  TomlTableReader p(*params_table, source, "renewalparams");
  RETURN_IF_ERROR(p.StringArray("domains", &config.domains));
  std::string authenticator = "standalone";
  RETURN_IF_ERROR(p.String("authenticator", &authenticator));
  auto parsed_auth = ParseAuthenticator(authenticator);
  if (!parsed_auth.ok()) return p.ValueError("authenticator", parsed_auth.status().message());
  config.authenticator = *parsed_auth;
  RETURN_IF_ERROR(p.String("webroot_path", &config.webroot_path));
  int64_t port = config.http01_port;
  RETURN_IF_ERROR(p.Int("http01_port", 1, 65535, &port));
  config.http01_port = static_cast<int>(port);
  RETURN_IF_ERROR(p.String("http01_address", &config.http01_address));
  RETURN_IF_ERROR(p.String("manual_auth_hook", &config.manual_auth_hook));
  RETURN_IF_ERROR(p.String("manual_cleanup_hook", &config.manual_cleanup_hook));
  RETURN_IF_ERROR(p.String("preferred_challenges", &config.preferred_challenges));
  RETURN_IF_ERROR(p.String("preferred_chain", &config.preferred_chain));
  RETURN_IF_ERROR(p.String("pre_hook", &config.pre_hook));
  RETURN_IF_ERROR(p.String("post_hook", &config.post_hook));
  RETURN_IF_ERROR(p.String("deploy_hook", &config.deploy_hook));
  std::string key_type = "ecdsa";
  std::string curve = "secp256r1";
  int64_t rsa_size = 2048;
  RETURN_IF_ERROR(p.String("key_type", &key_type));
  RETURN_IF_ERROR(p.String("elliptic_curve", &curve));
  RETURN_IF_ERROR(p.Int("rsa_key_size", 0, 1 << 16, &rsa_size));
  auto spec = ParseKeySpec(key_type, curve, static_cast<int>(rsa_size));
  if (!spec.ok()) return p.ValueError("key_type", spec.status().message());
  config.key = *spec;
  RETURN_IF_ERROR(p.Bool("reuse_key", &config.reuse_key));
  RETURN_IF_ERROR(p.Bool("pfx", &config.pfx));
  RETURN_IF_ERROR(p.String("pfx_password_file", &config.pfx_password_file));
  RETURN_IF_ERROR(p.Bool("pfx_legacy", &config.pfx_legacy));
  RETURN_IF_ERROR(p.Bool("direct", &config.direct));
  RETURN_IF_ERROR(p.RejectUnknownKeys());
  if (absl::Status s = ValidateRenewalConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return config;
}

}  // namespace acme_signer::agent
