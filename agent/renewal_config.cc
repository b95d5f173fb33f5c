#include "agent/renewal_config.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/dns_names.h"
#include "common/status_macros.h"
#include "common/toml_reader.h"

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
  RETURN_IF_ERROR(acme::ValidateDnsNames(config.domains));
  if (config.authenticator == Authenticator::kWebroot && config.webroot_path.empty()) {
    return absl::InvalidArgumentError("webroot authenticator needs webroot_path");
  }
  if (config.authenticator == Authenticator::kManual && config.manual_auth_hook.empty()) {
    return absl::InvalidArgumentError(
        "manual authenticator needs manual_auth_hook (renewals run unattended)");
  }
  if (config.preferred_challenges != "http-01" && config.preferred_challenges != "dns-01") {
    return absl::InvalidArgumentError(
        absl::StrCat("preferred_challenges must be http-01 or dns-01, got \"",
                     config.preferred_challenges, "\""));
  }
  if (!config.ccs_dir.empty() && (config.ccs_dir.front() != '/' || !config.pfx)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ccs_dir must be an absolute path and needs pfx = true, got \"", config.ccs_dir, "\""));
  }
  if (config.http01_port < 1 || config.http01_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http01_port must be 1..65535, got ", config.http01_port));
  }
  // The signer's rule for its account names: one that it would refuse names no account.
  if (!config.account.empty()) RETURN_IF_ERROR(acme::ValidateAccountName(config.account));
  if (config.account.empty() && !config.server.empty()) {
    return absl::InvalidArgumentError(
        "server is only recorded with account (remove server, or add the account it belongs to)");
  }
  RETURN_IF_ERROR(
      ParseKeySpec(config.key.KeyTypeName(), config.key.elliptic_curve, config.key.rsa_key_size)
          .status());
  return absl::OkStatus();
}

std::vector<std::string> RenewalConfigChanges(const RenewalConfig& before,
                                              const RenewalConfig& after) {
  std::vector<std::string> changes;
  const auto text = [](const std::string& value) {
    return value.empty() ? std::string("(none)") : absl::StrCat("'", value, "'");
  };
  const auto add = [&changes](absl::string_view key, const std::string& old_value,
                              const std::string& new_value) {
    if (old_value != new_value) {
      changes.push_back(absl::StrCat(key, " ", old_value, " → ", new_value));
    }
  };
  const auto add_text = [&](absl::string_view key, const std::string& old_value,
                            const std::string& new_value) {
    if (old_value != new_value) add(key, text(old_value), text(new_value));
  };
  const auto flag = [](bool value) { return std::string(value ? "true" : "false"); };
  add("domains", absl::StrJoin(before.domains, ","), absl::StrJoin(after.domains, ","));
  add("authenticator", AuthenticatorName(before.authenticator),
      AuthenticatorName(after.authenticator));
  add_text("webroot_path", before.webroot_path, after.webroot_path);
  add("http01_port", absl::StrCat(before.http01_port), absl::StrCat(after.http01_port));
  add_text("http01_address", before.http01_address, after.http01_address);
  add_text("manual_auth_hook", before.manual_auth_hook, after.manual_auth_hook);
  add_text("manual_cleanup_hook", before.manual_cleanup_hook, after.manual_cleanup_hook);
  add("preferred_challenges", before.preferred_challenges, after.preferred_challenges);
  add_text("preferred_chain", before.preferred_chain, after.preferred_chain);
  add_text("pre_hook", before.pre_hook, after.pre_hook);
  add_text("post_hook", before.post_hook, after.post_hook);
  add_text("deploy_hook", before.deploy_hook, after.deploy_hook);
  add("key_type", before.key.KeyTypeName(), after.key.KeyTypeName());
  add("elliptic_curve", before.key.elliptic_curve, after.key.elliptic_curve);
  add("rsa_key_size", absl::StrCat(before.key.rsa_key_size), absl::StrCat(after.key.rsa_key_size));
  add("reuse_key", flag(before.reuse_key), flag(after.reuse_key));
  add("pfx", flag(before.pfx), flag(after.pfx));
  add_text("pfx_password_file", before.pfx_password_file, after.pfx_password_file);
  add("pfx_legacy", flag(before.pfx_legacy), flag(after.pfx_legacy));
  add_text("ccs_dir", before.ccs_dir, after.ccs_dir);
  add("direct", flag(before.direct), flag(after.direct));
  // The server is the account's address, said with it (certbot users know accounts by URL).
  const auto account = [&text](const RenewalConfig& c) {
    return c.account.empty()
               ? std::string("(the signer's default)")
               : absl::StrCat(text(c.account), c.server.empty() ? "" : absl::StrCat(" ", c.server));
  };
  if (before.account != after.account) add("account", account(before), account(after));
  return changes;
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
      {"ccs_dir", config.ccs_dir},
      {"direct", config.direct},
  };
  // Left out when not chosen, so such a lineage follows the signer's default account.
  if (!config.account.empty()) {
    params.insert("account", config.account);
    params.insert("server", config.server);
  }
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

namespace {

// Paths in a renewal file are written by the agent itself, always absolute.
const std::filesystem::path kAbsolutePathsOnly;

void ReadRenewalParams(TomlTableReader& p, RenewalConfig& config) {
  if (auto v = p.StringArray("domains", false)) {
    for (TomlTableReader::Element& element : *v) config.domains.push_back(std::move(element.value));
  }
  if (auto v = p.String("authenticator", false)) {
    absl::StatusOr<Authenticator> authenticator = ParseAuthenticator(*v);
    if (authenticator.ok()) {
      config.authenticator = *authenticator;
    } else {
      p.Bad("authenticator", authenticator.status().message());
    }
  }
  // The agent writes "" for a setting that is not used, as certbot leaves it out.
  const std::pair<absl::string_view, std::string*> strings[] = {
      {"webroot_path", &config.webroot_path},
      {"http01_address", &config.http01_address},
      {"manual_auth_hook", &config.manual_auth_hook},
      {"manual_cleanup_hook", &config.manual_cleanup_hook},
      {"preferred_challenges", &config.preferred_challenges},
      {"preferred_chain", &config.preferred_chain},
      {"pre_hook", &config.pre_hook},
      {"post_hook", &config.post_hook},
      {"deploy_hook", &config.deploy_hook},
      {"pfx_password_file", &config.pfx_password_file},
      {"ccs_dir", &config.ccs_dir},
      {"account", &config.account},
      {"server", &config.server},
  };
  for (const auto& [key, field] : strings) {
    if (auto v = p.StringOrEmpty(key)) *field = *v;
  }
  if (auto v = p.Int("http01_port", 1, 65535)) config.http01_port = static_cast<int>(*v);
  std::string key_type = "ecdsa";
  std::string curve = "secp256r1";
  int64_t rsa_size = 2048;
  if (auto v = p.String("key_type", false)) key_type = *v;
  if (auto v = p.String("elliptic_curve", false)) curve = *v;
  if (auto v = p.Int("rsa_key_size", 0, 1 << 16)) rsa_size = *v;
  absl::StatusOr<KeySpec> spec = ParseKeySpec(key_type, curve, static_cast<int>(rsa_size));
  if (spec.ok()) {
    config.key = *spec;
  } else {
    p.Bad("key_type", spec.status().message());
  }
  const std::pair<absl::string_view, bool*> flags[] = {
      {"reuse_key", &config.reuse_key},
      {"pfx", &config.pfx},
      {"pfx_legacy", &config.pfx_legacy},
      {"direct", &config.direct},
  };
  for (const auto& [key, field] : flags) {
    if (auto v = p.Bool(key)) *field = *v;
  }
}

}  // namespace

absl::StatusOr<RenewalConfig> ParseRenewalConfig(absl::string_view text,
                                                 const std::string& source) {
  ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  TomlProblems problems(source);
  RenewalConfig config;
  TomlTableReader top(
      problems, root, "", kAbsolutePathsOnly,
      {"version", "archive_dir", "cert", "privkey", "chain", "fullchain", "renewalparams"});
  if (auto v = top.StringOrEmpty("version")) config.version = *v;
  // Written for the operator's benefit; the store derives the paths from the lineage name.
  for (const char* informational : {"archive_dir", "cert", "privkey", "chain", "fullchain"}) {
    top.StringOrEmpty(informational);
  }
  if (const toml::table* params = top.Table("renewalparams", true)) {
    TomlTableReader p(problems, *params, "renewalparams", kAbsolutePathsOnly,
                      {"domains",
                       "authenticator",
                       "webroot_path",
                       "http01_port",
                       "http01_address",
                       "manual_auth_hook",
                       "manual_cleanup_hook",
                       "preferred_challenges",
                       "preferred_chain",
                       "pre_hook",
                       "post_hook",
                       "deploy_hook",
                       "key_type",
                       "elliptic_curve",
                       "rsa_key_size",
                       "reuse_key",
                       "pfx",
                       "pfx_password_file",
                       "pfx_legacy",
                       "ccs_dir",
                       "direct",
                       "account",
                       "server"});
    ReadRenewalParams(p, config);
  }
  RETURN_IF_ERROR(problems.ToStatus());
  if (absl::Status s = ValidateRenewalConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  }
  return config;
}

}  // namespace acme_signer::agent
