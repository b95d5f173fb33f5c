#include "agent/agent_config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/csr.h"
#include "agent/toml_reader.h"
#include "common/files.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

absl::Status AbsolutePath(TomlTableReader& reader, absl::string_view key, std::string* out) {
  RETURN_IF_ERROR(reader.String(key, out));
  if (!out->empty() && out->front() != '/') {
    return reader.ValueError(key, absl::StrCat("must be an absolute path, got \"", *out, "\""));
  }
  return absl::OkStatus();
}

// "host:port" or "[v6]:port" with a port in 1..65535.
bool IsHostPort(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() != ']') return false;
  int port = 0;
  return absl::SimpleAtoi(address.substr(colon + 1), &port) && port >= 1 && port <= 65535;
}

absl::Status ReadSigner(TomlTableReader& r, AgentConfig::Signer* s) {
  RETURN_IF_ERROR(r.String("address", &s->address));
  if (s->address.empty()) return r.ValueError("address", "is required (host:port of acme-signer)");
  if (!IsHostPort(s->address)) {
    return r.ValueError("address", absl::StrCat("\"", s->address, "\" is not host:port"));
  }
  RETURN_IF_ERROR(AbsolutePath(r, "ca", &s->ca));
  if (s->ca.empty()) {
    return r.ValueError("ca", "is required (CA that issued the signer's TLS certificate)");
  }
  RETURN_IF_ERROR(r.String("tls_server_name", &s->tls_server_name));
  return r.RejectUnknownKeys();
}

absl::Status ReadIdentity(TomlTableReader& r, AgentConfig::Identity* id) {
  RETURN_IF_ERROR(r.String("trust_domain", &id->trust_domain));
  if (id->trust_domain.empty()) return r.ValueError("trust_domain", "is required");
  RETURN_IF_ERROR(r.String("name", &id->name));
  // Validate both halves of the SPIFFE ID now rather than at enrollment time.
  if (auto s = AgentSpiffeId(id->trust_domain, "agent"); !s.ok()) {
    return r.ValueError("trust_domain", s.status().message());
  }
  if (!id->name.empty()) {
    if (auto s = AgentSpiffeId(id->trust_domain, id->name); !s.ok()) {
      return r.ValueError("name", s.status().message());
    }
  }
  RETURN_IF_ERROR(AbsolutePath(r, "key", &id->key));
  RETURN_IF_ERROR(AbsolutePath(r, "cert", &id->cert));
  return r.RejectUnknownKeys();
}

absl::Status ReadDefaults(TomlTableReader& r, AgentConfig::Defaults* d) {
  std::string key_type = d->key.KeyTypeName();
  std::string curve = d->key.elliptic_curve;
  int64_t rsa_size = d->key.rsa_key_size;
  RETURN_IF_ERROR(r.String("key_type", &key_type));
  RETURN_IF_ERROR(r.String("elliptic_curve", &curve));
  RETURN_IF_ERROR(r.Int("rsa_key_size", 2048, 4096, &rsa_size));
  auto spec = ParseKeySpec(key_type, curve, static_cast<int>(rsa_size));
  if (!spec.ok()) {
    absl::string_view msg = spec.status().message();
    const char* key = msg.find("curve") != absl::string_view::npos ? "elliptic_curve"
                      : msg.find("RSA") != absl::string_view::npos ? "rsa_key_size"
                                                                   : "key_type";
    return r.ValueError(key, msg);
  }
  d->key = *spec;
  std::string authenticator = AuthenticatorName(d->authenticator);
  RETURN_IF_ERROR(r.String("authenticator", &authenticator));
  auto auth = ParseAuthenticator(authenticator);
  if (!auth.ok()) return r.ValueError("authenticator", auth.status().message());
  d->authenticator = *auth;
  RETURN_IF_ERROR(AbsolutePath(r, "webroot_path", &d->webroot_path));
  int64_t port = d->http01_port;
  RETURN_IF_ERROR(r.Int("http01_port", 1, 65535, &port));
  d->http01_port = static_cast<int>(port);
  RETURN_IF_ERROR(r.String("http01_address", &d->http01_address));
  RETURN_IF_ERROR(r.String("pre_hook", &d->pre_hook));
  RETURN_IF_ERROR(r.String("post_hook", &d->post_hook));
  RETURN_IF_ERROR(r.String("deploy_hook", &d->deploy_hook));
  int64_t timeout = absl::ToInt64Seconds(d->hook_timeout);
  RETURN_IF_ERROR(r.Int("hook_timeout_seconds", 1, 24 * 3600, &timeout));
  d->hook_timeout = absl::Seconds(timeout);
  return r.RejectUnknownKeys();
}

absl::Status ReadDirect(TomlTableReader& r, AgentConfig::Direct* d) {
  RETURN_IF_ERROR(AbsolutePath(r, "ca_bundle", &d->ca_bundle));
  return r.RejectUnknownKeys();
}

}  // namespace

absl::StatusOr<AgentConfig> ParseAgentConfig(absl::string_view text, const std::string& source) {
  ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));
  AgentConfig config;
  TomlTableReader top(root, source, "");
  RETURN_IF_ERROR(AbsolutePath(top, "config_dir", &config.config_dir));
  if (config.config_dir.empty()) return top.ValueError("config_dir", "must not be empty");
  const toml::table* signer = nullptr;
  const toml::table* identity = nullptr;
  const toml::table* defaults = nullptr;
  const toml::table* direct = nullptr;
  RETURN_IF_ERROR(top.Table("signer", &signer));
  RETURN_IF_ERROR(top.Table("identity", &identity));
  RETURN_IF_ERROR(top.Table("defaults", &defaults));
  RETURN_IF_ERROR(top.Table("direct", &direct));
  RETURN_IF_ERROR(top.RejectUnknownKeys());
  if (signer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing [signer] section"));
  }
  if (identity == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": missing [identity] section"));
  }
  TomlTableReader signer_reader(*signer, source, "signer");
  RETURN_IF_ERROR(ReadSigner(signer_reader, &config.signer));
  TomlTableReader identity_reader(*identity, source, "identity");
  RETURN_IF_ERROR(ReadIdentity(identity_reader, &config.identity));
  if (defaults != nullptr) {
    TomlTableReader defaults_reader(*defaults, source, "defaults");
    RETURN_IF_ERROR(ReadDefaults(defaults_reader, &config.defaults));
  }
  if (direct != nullptr) {
    TomlTableReader direct_reader(*direct, source, "direct");
    RETURN_IF_ERROR(ReadDirect(direct_reader, &config.direct));
  }
  return config;
}

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  return ParseAgentConfig(text, path);
}

}  // namespace acme_signer::agent
