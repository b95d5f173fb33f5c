#include "agent/agent_config.h"

#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/csr.h"
#include "agent/signer_target.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/toml_reader.h"

namespace acme_signer::agent {
namespace {

// No base directory: every path must be absolute, since the agent runs from systemd with an
// unspecified working directory.
const std::filesystem::path kAbsolutePathsOnly;

void ReadSigner(TomlTableReader& r, AgentConfig::Signer& s) {
  std::optional<SignerTarget> target;
  if (auto v = r.String("address", true)) {
    if (absl::StatusOr<SignerTarget> parsed = SignerTarget::Parse(*v); parsed.ok()) {
      s.address = *v;
      target = *std::move(parsed);
    } else {
      r.Bad("address", parsed.status().message());
    }
  }
  if (auto v = r.Path("ca", true)) s.ca = *v;
  if (auto v = r.StringOrEmpty("tls_server_name")) s.tls_server_name = *v;
  // Checked here, not at the first connection: every replica must present one server name.
  if (target.has_value()) {
    if (absl::Status named = target->ServerName(s.tls_server_name).status(); !named.ok()) {
      r.Bad("address", named.message());
    }
  }
  if (auto v = r.Int("retry_seconds", 0, absl::ToInt64Seconds(kMaxSignerRetryWindow))) {
    s.retry_window = absl::Seconds(*v);
  }
}

void ReadIdentity(TomlTableReader& r, AgentConfig::Identity& id) {
  // Both halves of the SPIFFE ID are checked now rather than at enrollment time.
  if (auto v = r.String("trust_domain", true)) {
    if (auto s = AgentSpiffeId(*v, "agent"); s.ok()) {
      id.trust_domain = *v;
    } else {
      r.Bad("trust_domain", s.status().message());
    }
  }
  if (auto v = r.StringOrEmpty("name")) {
    // The name can only be checked against a valid trust domain.
    absl::StatusOr<std::string> spiffe_id = AgentSpiffeId(id.trust_domain, *v);
    if (!v->empty() && !id.trust_domain.empty() && !spiffe_id.ok()) {
      r.Bad("name", spiffe_id.status().message());
    } else {
      id.name = *v;
    }
  }
  if (auto v = r.Path("key", false)) id.key = *v;
  if (auto v = r.Path("cert", false)) id.cert = *v;
}

void ReadKeySpec(TomlTableReader& r, KeySpec& key) {
  std::string key_type = key.KeyTypeName();
  std::string curve = key.elliptic_curve;
  int64_t rsa_size = key.rsa_key_size;
  const std::optional<std::string> type_value = r.String("key_type", false);
  const std::optional<std::string> curve_value = r.String("elliptic_curve", false);
  const std::optional<int64_t> size_value = r.Int("rsa_key_size", 2048, 4096);
  if (type_value) key_type = *type_value;
  if (curve_value) curve = *curve_value;
  if (size_value) rsa_size = *size_value;
  absl::StatusOr<KeySpec> spec = ParseKeySpec(key_type, curve, static_cast<int>(rsa_size));
  if (!spec.ok()) {
    absl::string_view msg = spec.status().message();
    const char* bad_key = msg.find("curve") != absl::string_view::npos ? "elliptic_curve"
                          : msg.find("RSA") != absl::string_view::npos ? "rsa_key_size"
                                                                       : "key_type";
    r.Bad(bad_key, msg);
    return;
  }
  key = *spec;
}

void ReadDefaults(TomlTableReader& r, AgentConfig::Defaults& d) {
  ReadKeySpec(r, d.key);
  if (auto v = r.String("authenticator", false)) {
    absl::StatusOr<Authenticator> authenticator = ParseAuthenticator(*v);
    if (authenticator.ok()) {
      d.authenticator = *authenticator;
    } else {
      r.Bad("authenticator", authenticator.status().message());
    }
  }
  if (auto v = r.Path("webroot_path", false)) d.webroot_path = *v;
  if (auto v = r.Int("http01_port", 1, 65535)) d.http01_port = static_cast<int>(*v);
  if (auto v = r.StringOrEmpty("http01_address")) d.http01_address = *v;
  if (auto v = r.StringOrEmpty("pre_hook")) d.pre_hook = *v;
  if (auto v = r.StringOrEmpty("post_hook")) d.post_hook = *v;
  if (auto v = r.StringOrEmpty("deploy_hook")) d.deploy_hook = *v;
  if (auto v = r.Int("hook_timeout_seconds", 1, 24 * 3600)) d.hook_timeout = absl::Seconds(*v);
}

}  // namespace

absl::StatusOr<AgentConfig> ParseAgentConfig(absl::string_view text, const std::string& source) {
  ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  TomlProblems problems(source);
  AgentConfig config;
  TomlTableReader top(problems, root, "", kAbsolutePathsOnly,
                      {"config_dir", "signer", "identity", "defaults", "direct"});
  if (auto v = top.Path("config_dir", false)) config.config_dir = *v;
  if (const toml::table* t = top.Table("signer", true)) {
    TomlTableReader r(problems, *t, "signer", kAbsolutePathsOnly,
                      {"address", "ca", "tls_server_name", "retry_seconds"});
    ReadSigner(r, config.signer);
  }
  if (const toml::table* t = top.Table("identity", true)) {
    TomlTableReader r(problems, *t, "identity", kAbsolutePathsOnly,
                      {"trust_domain", "name", "key", "cert"});
    ReadIdentity(r, config.identity);
  }
  if (const toml::table* t = top.Table("defaults", false)) {
    TomlTableReader r(problems, *t, "defaults", kAbsolutePathsOnly,
                      {"key_type", "elliptic_curve", "rsa_key_size", "authenticator",
                       "webroot_path", "http01_port", "http01_address", "pre_hook", "post_hook",
                       "deploy_hook", "hook_timeout_seconds"});
    ReadDefaults(r, config.defaults);
  }
  if (const toml::table* t = top.Table("direct", false)) {
    TomlTableReader r(problems, *t, "direct", kAbsolutePathsOnly, {"ca_bundle"});
    if (auto v = r.Path("ca_bundle", false)) config.direct.ca_bundle = *v;
  }
  RETURN_IF_ERROR(problems.ToStatus());
  return config;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  ASSIGN_OR_RETURN(AgentConfig config, ParseAgentConfig(text, path));
  config.source = path;
  return config;
}

}  // namespace acme_signer::agent
