#include "signer/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "acme/dns_names.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/toml_reader.h"
#include "hsm/key_type.h"
#include "http/host_port.h"
#include "http/https_server.h"
#include "http/url.h"
#include "signer/agent_identity.h"
#include "signer/db/pg_connection.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/network_allowlist.h"
#include "signer/name_policy.h"
#include "toml++/toml.h"

namespace acme_signer::signer {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

// The strict reader every configuration file shares (common/toml_reader.h).
using Problems = TomlProblems;
using TableReader = TomlTableReader;

int64_t LineOf(const toml::node& node) { return node.source().begin.line; }

// A host name for the listen address: lowercase LDH labels ("localhost", "signer.lan").
bool IsHostName(absl::string_view host) { return acme::ValidateLdhName("host name", host).ok(); }

absl::Status ValidateListen(absl::string_view listen) {
  if (absl::StartsWith(listen, "unix:")) {
    absl::string_view path = listen.substr(5);
    if (!absl::StartsWith(path, "/") || path.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", listen,
                       "\": a unix socket address needs an absolute path "
                       "(\"unix:/run/acme-signer/sock\")"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<http::HostPort> split = http::SplitHostPort(listen);
  if (!split.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", listen, "\": ", split.status().message(),
                     "; expected \"host:port\", \"[ipv6-address]:port\" or \"unix:/path\""));
  }
  in_addr addr;
  if (!split->bracketed && ::inet_pton(AF_INET, split->host.c_str(), &addr) != 1 &&
      !IsHostName(split->host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", listen, "\": \"", split->host, "\" is neither an IPv4 address nor a host name"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHttpsUrl(absl::string_view url) {
  absl::StatusOr<http::Url> parsed = http::ParseHttpsUrl(url);
  if (parsed.ok()) return absl::OkStatus();
  if (absl::StartsWithIgnoreCase(url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", url, "\" uses http://; ACME requires https:// (RFC 8555 §6.1)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", url, "\" is not a usable https:// URL: ", parsed.status().message()));
}

absl::Status ValidateContact(absl::string_view contact) {
  if (!absl::StartsWith(contact, "mailto:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", contact, "\" is not a mailto: URL (\"mailto:admin@example.org\")"));
  }
  absl::string_view address = contact.substr(7);
  const size_t at = address.find('@');
  if (at == absl::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != absl::string_view::npos ||
      address.find_first_of(", \t?") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", contact, "\" must be mailto: with exactly one address and no parameters"));
  }
  return absl::OkStatus();
}

// `what` is used in messages; the URI is not quoted when it may carry a PIN.
absl::Status ValidatePkcs11Uri(absl::string_view uri) {
  if (!absl::StartsWith(uri, "pkcs11:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", uri, "\" is not a PKCS#11 URI (\"pkcs11:object=name\")"));
  }
  if (absl::StrContains(uri, "pin-value")) {
    return absl::InvalidArgumentError(
        "the URI contains pin-value; the PIN must not be in the configuration (use "
        "hsm.pin_file)");
  }
  return absl::OkStatus();
}

void ReadServer(TableReader& t, ServerConfig& out) {
  if (auto v = t.String("listen", false)) {
    if (absl::Status s = ValidateListen(*v); !s.ok()) {
      t.Bad(*t.Find("listen", false), "listen", s.message());
    } else {
      out.listen = *v;
    }
  }
  if (auto v = t.Path("tls_cert", true)) out.tls_cert = *v;
  if (auto v = t.Path("tls_key", true)) out.tls_key = *v;
  if (auto v = t.Path("agent_ca_cert", true)) out.agent_ca_cert = *v;
  if (auto v = t.String("trust_domain", true)) {
    if (absl::Status s = ValidateTrustDomain(*v); !s.ok()) {
      t.Bad(*t.Find("trust_domain", false), "trust_domain", s.message());
    } else {
      out.trust_domain = *v;
    }
  }
  if (auto v = t.Bool("allow_root")) out.allow_root = *v;
  if (auto v = t.Int("max_message_bytes", 64 << 10, 64 << 20)) out.max_message_bytes = *v;
  if (auto v = t.Int("max_concurrent_rpcs", 1, 4096)) out.max_concurrent_rpcs = *v;
  if (auto v = t.Int("handshake_timeout_ms", 1000, 300000)) out.handshake_timeout_ms = *v;
  if (auto v = t.Int("max_rpcs_in_flight_per_agent", 1, 4096)) {
    out.max_rpcs_in_flight_per_agent = *v;
  }
  if (auto v = t.String("agent_certificate_lifetime", false)) {
    absl::StatusOr<absl::Duration> lifetime = ParseAgentCertificateLifetime(*v);
    if (!lifetime.ok()) {
      t.Bad(*t.Find("agent_certificate_lifetime", false), "agent_certificate_lifetime",
            lifetime.status().message());
    } else {
      out.agent_certificate_lifetime = *lifetime;
    }
  }
  if (auto v = t.String("enroll_listen", false)) {
    // A unix socket cannot carry TLS server authentication the agent can pin, and the
    // enrolment listener exists for hosts that have no credentials yet: host:port only.
    absl::Status s = absl::StartsWith(*v, "unix:")
                         ? absl::InvalidArgumentError("must be host:port or [v6]:port, not unix:")
                         : ValidateListen(*v);
    if (!s.ok()) {
      t.Bad(*t.Find("enroll_listen", false), "enroll_listen", s.message());
    } else {
      out.enroll_listen = *v;
    }
  }
  if (auto v = t.StringArray("revoked_agent_certs", false)) {
    absl::flat_hash_map<std::string, int64_t> seen;  // fingerprint -> line of first mention
    for (auto& element : *v) {
      if (!IsSha256Hex(element.value)) {
        t.Bad(*element.node, element.key,
              absl::StrCat("\"", element.value,
                           "\" is not a SHA-256 fingerprint: expected 64 lowercase hex "
                           "characters (openssl x509 -in agent.pem -outform DER | sha256sum)"));
        continue;
      }
      auto [it, inserted] = seen.emplace(element.value, LineOf(*element.node));
      if (!inserted) {
        t.Bad(*element.node, element.key,
              absl::StrCat("\"", element.value, "\" is listed twice (first on line ", it->second,
                           ")"));
        continue;
      }
      out.revoked_agent_certs.push_back(std::move(element.value));
    }
  }
}

void ReadAcme(TableReader& t, AccountConfig& out) {
  if (auto v = t.String("directory_url", true)) {
    if (absl::Status s = ValidateHttpsUrl(*v); !s.ok()) {
      t.Bad(*t.Find("directory_url", false), "directory_url", s.message());
    } else {
      out.directory_url = *v;
    }
  }
  if (auto v = t.Path("ca_bundle", false)) out.ca_bundle = *v;
  if (auto v = t.StringArray("contact", false)) {
    for (auto& element : *v) {
      if (absl::Status s = ValidateContact(element.value); !s.ok()) {
        t.Bad(*element.node, element.key, s.message());
      } else {
        out.contact.push_back(std::move(element.value));
      }
    }
  }
  if (auto v = t.String("eab_kid", false)) out.eab_kid = *v;
  if (auto v = t.String("preferred_chain", false)) out.preferred_chain = *v;
  if (auto v = t.Bool("terms_of_service_agreed")) out.terms_of_service_agreed = *v;
  if (auto v = t.Int("request_timeout_ms", 1000, 600000)) out.request_timeout_ms = *v;
}

std::optional<hsm::KeyType> KeyTypeValue(TableReader& t, const toml::node& node,
                                         absl::string_view key, absl::string_view value) {
  absl::StatusOr<hsm::KeyType> type = hsm::ParseKeyType(value);
  if (!type.ok()) {
    t.Bad(node, key,
          absl::StrCat("\"", value,
                       "\" is not a key type (use ec-p256, ec-p384, rsa-2048, rsa-3072 or "
                       "rsa-4096)"));
    return std::nullopt;
  }
  return *type;
}

// The [hsm] keys of the legacy single account (account `default` of an [acme] section).
struct LegacyAccountKeys {
  std::optional<std::string> account_key;
  std::optional<hsm::KeyType> account_key_type;
  std::optional<std::string> eab_key;
  int64_t line = 0;  // of the first of them, for the message when [[accounts]] is used
};

void ReadHsm(TableReader& t, HsmConfig& out, LegacyAccountKeys& legacy) {
  if (auto v = t.String("module", true)) {
    if (absl::StrContains(*v, '/')) {
      if (auto path = t.Path("module", true)) out.module = *path;
    } else {
      out.module = *v;
    }
  }
  if (auto v = t.Path("pin_file", true)) out.pin_file = *v;
  std::string account_key;
  std::string eab_key;
  const std::pair<absl::string_view, std::string*> uris[] = {
      {"token_uri", &out.token_uri}, {"account_key", &account_key},
      {"eab_key", &eab_key},         {"agent_ca_key", &out.agent_ca_key},
      {"audit_key", &out.audit_key},
  };
  for (const auto& [key, field] : uris) {
    if (auto v = t.String(key, false)) {
      if (absl::Status s = ValidatePkcs11Uri(*v); !s.ok()) {
        t.Bad(*t.Find(key, false), key, s.message());
      } else {
        *field = *v;
      }
    }
  }
  if (!account_key.empty()) legacy.account_key = account_key;
  if (!eab_key.empty()) legacy.eab_key = eab_key;
  if (auto v = t.String("account_key_type", false)) {
    if (auto type = KeyTypeValue(t, *t.Find("account_key_type", false), "account_key_type", *v)) {
      legacy.account_key_type = *type;
    }
  }
  for (absl::string_view key : {"account_key", "account_key_type", "eab_key"}) {
    if (const toml::node* node = t.Find(key, false); node != nullptr && legacy.line == 0) {
      legacy.line = LineOf(*node);
    }
  }
  if (auto v = t.Bool("verify_every_signature")) out.verify_every_signature = *v;
}

// One [[accounts]] entry: the [acme] keys plus name and its HSM objects.
void ReadAccount(TableReader& t, AccountConfig& out) {
  if (auto v = t.String("name", true)) {
    if (absl::Status s = acme::ValidateAccountName(*v); !s.ok()) {
      t.Bad(*t.Find("name", false), "name", s.message());
    } else {
      out.name = *v;
    }
  }
  ReadAcme(t, out);
  out.key = DefaultAccountKeyUri(out.name);
  out.eab_key = DefaultEabKeyUri(out.name);
  for (auto [key, field] : {std::pair<absl::string_view, std::string*>{"key", &out.key},
                            {"eab_key", &out.eab_key}}) {
    if (auto v = t.String(key, false)) {
      if (absl::Status s = ValidatePkcs11Uri(*v); !s.ok()) {
        t.Bad(*t.Find(key, false), key, s.message());
      } else {
        *field = *v;
      }
    }
  }
  if (auto v = t.String("key_type", false)) {
    if (auto type = KeyTypeValue(t, *t.Find("key_type", false), "key_type", *v)) {
      out.key_type = *type;
    }
  }
}

// The front door's base URL: https, no query, fragment or userinfo (ParseHttpsUrl refuses the
// latter). Returns it without trailing '/'.
absl::StatusOr<std::string> ValidateExternalUrl(absl::string_view url) {
  RETURN_IF_ERROR(ValidateHttpsUrl(url));
  ASSIGN_OR_RETURN(http::Url parsed, http::ParseHttpsUrl(url));
  if (parsed.query().has_value() || parsed.has_fragment()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", url,
        "\" has a query or fragment; give the base URL clients reach the front door at"));
  }
  absl::string_view trimmed = url;
  while (absl::ConsumeSuffix(&trimmed, "/")) {
  }
  return std::string(trimmed);
}

void ReadMetrics(TableReader& t, MetricsConfig& out) {
  if (auto v = t.String("listen", false)) {
    absl::Status s = absl::StartsWith(*v, "unix:")
                         ? absl::InvalidArgumentError(absl::StrCat(
                               "\"", *v, "\": Prometheus scrapes over TCP (\"address:port\")"))
                         : ValidateListen(*v);
    if (!s.ok()) {
      t.Bad(*t.Find("listen", false), "listen", s.message());
    } else {
      out.listen = *v;
    }
  }
  if (auto v = t.String("path", false)) {
    const bool ok = absl::StartsWith(*v, "/") && v->size() <= 256 &&
                    std::all_of(v->begin(), v->end(), [](char c) {
                      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' ||
                             c == '-' || c == '_' || c == '.';
                    });
    if (!ok) {
      t.Bad(*t.Find("path", false), "path",
            absl::StrCat("\"", *v, "\": expected an absolute URL path of letters, digits and "
                         "/-_. (e.g. \"/metrics\")"));
    } else {
      out.path = *v;
    }
  }
}

void ReadAcmeServer(TableReader& t, AcmeServerConfig& out) {
  if (auto v = t.String("listen", true)) {
    absl::Status s = absl::StartsWith(*v, "unix:")
                         ? absl::InvalidArgumentError(absl::StrCat(
                               "\"", *v, "\": the front door listens on TCP (\"address:port\")"))
                         : http::ValidateHttpsListen(*v);
    if (!s.ok()) {
      t.Bad(*t.Find("listen", false), "listen", s.message());
    } else {
      out.listen = *v;
    }
  }
  if (auto v = t.String("external_url", true)) {
    absl::StatusOr<std::string> url = ValidateExternalUrl(*v);
    if (!url.ok()) {
      t.Bad(*t.Find("external_url", false), "external_url", url.status().message());
    } else {
      out.external_url = *std::move(url);
    }
  }
  if (auto v = t.Path("tls_certificate", true)) out.tls_certificate = *v;
  if (auto v = t.Path("tls_private_key", true)) out.tls_private_key = *v;
  if (auto v = t.StringOrEmpty("validation_resolver")) {
    if (!v->empty()) {
      if (absl::StatusOr<std::string> servers = frontdoor::NormaliseResolverServers(*v);
          !servers.ok()) {
        t.Bad(*t.Find("validation_resolver", false), "validation_resolver",
              servers.status().message());
      } else {
        out.validation_resolver = *v;
      }
    }
  }
  if (auto v = t.Int("validation_http_port", 1, 65535)) out.validation_http_port = *v;
  if (auto v = t.StringArray("validation_allowed_networks", false)) {
    for (auto& element : *v) out.validation_allowed_networks.push_back(std::move(element.value));
    // Checked with the parser the front door uses, so a typo stops the signer at start-up
    // instead of narrowing or widening what validation may reach.
    if (!out.validation_allowed_networks.empty()) {
      if (absl::StatusOr<frontdoor::NetworkAllowlist> allowlist =
              frontdoor::NetworkAllowlist::Parse(out.validation_allowed_networks);
          !allowlist.ok()) {
        t.Bad(*t.Find("validation_allowed_networks", false), "validation_allowed_networks",
              allowlist.status().message());
        out.validation_allowed_networks.clear();
      }
    }
  }
  if (auto v = t.Path("upstream_dns01_hook", false)) out.upstream_dns01_hook = *v;
}

}  // namespace

std::string StateConfig::ReplicaName() const {
  if (!replica.empty()) return replica;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') return host;
  return "signer";
}

namespace {

void ReadState(TableReader& t, StateConfig& out) {
  if (auto v = t.Path("dir", true)) out.dir = *v;
  if (auto v = t.String("backend", false)) {
    if (*v == "sqlite") {
      out.backend = StateConfig::Backend::kSqlite;
    } else if (*v == "postgresql") {
      out.backend = StateConfig::Backend::kPostgresql;
    } else {
      t.Bad(*t.Find("backend", false), "backend", "must be \"sqlite\" or \"postgresql\"");
    }
  }
  if (auto v = t.String("url", false)) {
    if (out.backend != StateConfig::Backend::kPostgresql) {
      t.Bad(*t.Find("url", false), "url", "is only used with backend = \"postgresql\"");
    } else if (absl::Status s = db::CheckConninfoHasNoPassword(*v); !s.ok()) {
      t.Bad(*t.Find("url", false), "url", s.message());
    } else {
      out.url = *v;
    }
  }
  if (auto v = t.String("replica", false)) {
    const bool valid = !v->empty() && v->size() <= 64 &&
                       std::all_of(v->begin(), v->end(), [](char c) {
                         return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                                c == '_' || c == '-';
                       });
    if (!valid) {
      t.Bad(*t.Find("replica", false), "replica", "must be 1 to 64 of [A-Za-z0-9._-]");
    } else {
      out.replica = *v;
    }
  }
}

// `in_database`: [state] backend = "postgresql", where the one audit chain of all replicas is
// in the database (signer/db_audit_log.h). The keys about a local log file are then refused
// rather than ignored: a per-replica file chain is exactly what must not exist, and an operator
// who kept `log` from a SQLite config should learn that it is no longer written.
void ReadAudit(TableReader& t, AuditConfig& out, bool in_database) {
  if (in_database) {
    for (const char* key : {"log", "rotate_bytes", "min_free_bytes"}) {
      if (const toml::node* node = t.Find(key, false)) {
        t.Bad(*node, key,
              "is only used with [state] backend = \"sqlite\": with \"postgresql\" the audit "
              "chain is in the database; remove it");
      }
    }
    // No local log file system to watch.
    out.min_free_bytes = 0;
  } else {
    if (auto v = t.Path("log", true)) out.log = *v;
  }
  if (auto v = t.Int("checkpoint_every", 1, 1000000)) out.checkpoint_every = *v;
  if (in_database) return;
  if (auto v = t.Int("rotate_bytes", 64 << 10, int64_t{1} << 50)) out.rotate_bytes = *v;
  if (auto v = t.Int("min_free_bytes", 0, int64_t{1} << 50)) out.min_free_bytes = *v;
}

void ReadAgent(TableReader& t, AgentPolicy& out) {
  if (auto v = t.String("name", true)) {
    if (absl::Status s = ValidateAgentName(*v); !s.ok()) {
      t.Bad(*t.Find("name", false), "name", s.message());
    } else {
      out.name = *v;
    }
  }
  if (auto v = t.StringArray("allowed_names", true)) {
    if (v->empty()) {
      t.Bad(*t.Find("allowed_names", false), "allowed_names",
            "must list at least one name or pattern");
    }
    for (auto& element : *v) {
      if (absl::Status s = ValidateNamePattern(element.value); !s.ok()) {
        t.Bad(*element.node, element.key, s.message());
      } else {
        out.allowed_names.push_back(std::move(element.value));
      }
    }
  }
  if (auto v = t.Bool("allow_wildcard_certificates")) out.allow_wildcard_certificates = *v;
  out.key_types = {std::string(kKeyTypeEcP256), std::string(kKeyTypeEcP384),
                   std::string(kKeyTypeRsa2048), std::string(kKeyTypeRsa3072),
                   std::string(kKeyTypeRsa4096)};
  if (auto v = t.StringArray("key_types", false)) {
    if (v->empty()) {
      t.Bad(*t.Find("key_types", false), "key_types",
            "must list at least one key type (leave it out for the default)");
    }
    std::vector<std::string> types;
    for (const auto& element : *v) {
      if (auto type = KeyTypeValue(t, *element.node, element.key, element.value)) {
        std::string name = hsm::KeyTypeName(*type);
        if (std::find(types.begin(), types.end(), name) == types.end()) {
          types.push_back(std::move(name));
        }
      }
    }
    if (!types.empty()) out.key_types = std::move(types);
  }
  if (auto v = t.Int("max_identifiers_per_order", 1, 100)) {
    out.max_identifiers_per_order = static_cast<int>(*v);
  }
  if (auto v = t.Int("orders_per_hour", 1, 100000)) out.orders_per_hour = static_cast<int>(*v);
  if (auto v = t.Bool("allow_sign_jws")) out.allow_sign_jws = *v;
  if (auto v = t.Bool("front_door")) out.front_door = *v;
  if (auto v = t.StringArray("accounts", false)) {
    if (v->empty()) {
      t.Bad(*t.Find("accounts", false), "accounts",
            "must list at least one account (leave it out for the default)");
    }
    for (auto& element : *v) {
      if (std::find(out.accounts.begin(), out.accounts.end(), element.value) !=
          out.accounts.end()) {
        t.Bad(*element.node, element.key,
              absl::StrCat("\"", element.value, "\" is listed twice"));
        continue;
      }
      out.accounts.push_back(std::move(element.value));
    }
  }
  if (auto v = t.String("default_account", false)) out.default_account = *v;
}

// The accounts of the file: [[accounts]], or the legacy [acme] section (with the [hsm] account
// keys) as the account `default`. Exactly one of the two forms.
void ReadAccounts(TableReader& top, Problems& problems,
                  const std::filesystem::path& base_dir, const LegacyAccountKeys& legacy,
                  std::vector<AccountConfig>& accounts) {
  const toml::table* acme = top.Table("acme", false);
  const toml::array* array = top.TableArray("accounts");
  if (acme != nullptr && array != nullptr) {
    problems.At(LineOf(*acme), "acme",
                "[acme] and [[accounts]] cannot both be used: move [acme] into an [[accounts]] "
                "entry with name = \"default\" (and hsm.account_key, hsm.account_key_type, "
                "hsm.eab_key into its key, key_type, eab_key)");
    return;
  }
  if (acme != nullptr) {
    TableReader reader(problems, *acme, "acme", base_dir,
                       {"directory_url", "ca_bundle", "contact", "eab_kid", "preferred_chain",
                        "terms_of_service_agreed", "request_timeout_ms"});
    AccountConfig account;
    account.name = std::string(kDefaultAccountName);
    account.config_key = "acme";
    ReadAcme(reader, account);
    account.key = legacy.account_key.value_or(DefaultAccountKeyUri(account.name));
    account.key_type = legacy.account_key_type.value_or(hsm::KeyType::kEcP256);
    account.eab_key = legacy.eab_key.value_or(DefaultEabKeyUri(account.name));
    accounts.push_back(std::move(account));
    return;
  }
  if (array == nullptr || array->empty()) {
    problems.AtFile("accounts",
                "no ACME account is configured: add an [[accounts]] entry (name, "
                "directory_url, eab_kid ...) or an [acme] section");
    return;
  }
  if (legacy.line != 0) {
    problems.At(legacy.line, "hsm",
                "hsm.account_key, hsm.account_key_type and hsm.eab_key belong to the [acme] "
                "form; with [[accounts]] set key, key_type and eab_key in each entry");
  }
  absl::flat_hash_map<std::string, int64_t> first_line;
  absl::flat_hash_map<std::string, std::string> key_owner;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    TableReader reader(problems, table, absl::StrCat("accounts[", i, "]"), base_dir,
                       {"name", "directory_url", "ca_bundle", "contact", "eab_kid",
                        "preferred_chain", "terms_of_service_agreed", "request_timeout_ms", "key",
                        "key_type", "eab_key"});
    AccountConfig account;
    account.config_key = absl::StrCat("accounts[", i, "]");
    const size_t problems_before = problems.size();
    ReadAccount(reader, account);
    if (problems.size() != problems_before) continue;
    const int64_t line = LineOf(*table.get("name"));
    if (auto [it, inserted] = first_line.emplace(account.name, line); !inserted) {
      problems.At(line, reader.Key("name"),
                  absl::StrCat("duplicate account name \"", account.name,
                               "\" (first defined at line ", it->second, ")"));
      continue;
    }
    bool shared = false;
    for (const std::string* uri : {&account.key, &account.eab_key}) {
      if (auto [it, inserted] = key_owner.emplace(*uri, account.name); !inserted) {
        problems.At(line, reader.Key(uri == &account.key ? "key" : "eab_key"),
                    absl::StrCat(*uri, " is already the key of account \"", it->second,
                                 "\": every account has its own HSM objects"));
        shared = true;
      }
    }
    if (shared) continue;
    accounts.push_back(std::move(account));
  }
}

// Fills the agent's accounts (default: `default`, else the first account) and checks that every
// one it names exists and that its default is one of them. False (with problems recorded) when
// not.
bool ResolveAgentAccounts(const std::vector<AccountConfig>& accounts, AgentPolicy& agent,
                          TableReader& reader, const toml::table& table, Problems& problems) {
  if (accounts.empty()) return true;  // already reported: no account at all
  auto exists = [&](absl::string_view name) {
    return std::any_of(accounts.begin(), accounts.end(),
                       [&](const AccountConfig& a) { return a.name == name; });
  };
  std::vector<std::string> names;
  for (const AccountConfig& a : accounts) names.push_back(a.name);
  bool ok = true;
  if (agent.accounts.empty()) {
    agent.accounts.push_back(exists(kDefaultAccountName) ? std::string(kDefaultAccountName)
                                                         : accounts.front().name);
  }
  for (const std::string& name : agent.accounts) {
    if (!exists(name)) {
      problems.At(LineOf(*table.get("accounts")), reader.Key("accounts"),
                  absl::StrCat("no account named \"", name, "\" (configured: ",
                               absl::StrJoin(names, ", "), ")"));
      ok = false;
    }
  }
  if (agent.default_account.empty()) {
    agent.default_account = agent.accounts.front();
  } else if (!agent.MayUseAccount(agent.default_account)) {
    problems.At(LineOf(*table.get("default_account")), reader.Key("default_account"),
                absl::StrCat("\"", agent.default_account,
                             "\" is not in this agent's accounts (",
                             absl::StrJoin(agent.accounts, ", "), ")"));
    ok = false;
  }
  return ok;
}

SignerConfig Validate(const toml::table& root, Problems& problems,
                      const std::filesystem::path& base_dir) {
  SignerConfig config;
  TableReader top(problems, root, "", base_dir,
                  {"server", "acme", "accounts", "hsm", "state", "audit", "agents",
                   "acme_server", "metrics"});
  if (const toml::table* t = top.Table("server", true)) {
    TableReader reader(
        problems, *t, "server", base_dir,
        {"listen", "tls_cert", "tls_key", "agent_ca_cert", "trust_domain", "allow_root",
         "max_message_bytes", "max_concurrent_rpcs", "handshake_timeout_ms",
         "max_rpcs_in_flight_per_agent", "revoked_agent_certs", "agent_certificate_lifetime",
         "enroll_listen"});
    ReadServer(reader, config.server);
  }
  LegacyAccountKeys legacy;
  if (const toml::table* t = top.Table("hsm", true)) {
    TableReader reader(problems, *t, "hsm", base_dir,
                       {"module", "token_uri", "pin_file", "account_key", "account_key_type",
                        "eab_key", "agent_ca_key", "audit_key", "verify_every_signature"});
    ReadHsm(reader, config.hsm, legacy);
  }
  ReadAccounts(top, problems, base_dir, legacy, config.accounts);
  if (const toml::table* t = top.Table("state", true)) {
    TableReader reader(problems, *t, "state", base_dir, {"dir", "backend", "url", "replica"});
    ReadState(reader, config.state);
    if (config.state.backend == StateConfig::Backend::kPostgresql && config.state.url.empty() &&
        reader.Find("url", false) == nullptr) {
      reader.Bad("url", "is required with backend = \"postgresql\"");
    }
  }
  const bool audit_in_database = config.state.backend == StateConfig::Backend::kPostgresql;
  if (audit_in_database) config.audit.min_free_bytes = 0;
  // With the database chain every [audit] key is optional, so the section may be left out.
  if (const toml::table* t = top.Table("audit", !audit_in_database)) {
    TableReader reader(problems, *t, "audit", base_dir,
                       {"log", "checkpoint_every", "rotate_bytes", "min_free_bytes"});
    ReadAudit(reader, config.audit, audit_in_database);
  }
  if (const toml::table* t = top.Table("acme_server", false)) {
    TableReader reader(
        problems, *t, "acme_server", base_dir,
        {"listen", "external_url", "tls_certificate", "tls_private_key", "validation_resolver",
         "validation_http_port", "validation_allowed_networks", "upstream_dns01_hook"});
    config.acme_server.emplace();
    ReadAcmeServer(reader, *config.acme_server);
  }
  if (const toml::table* t = top.Table("metrics", false)) {
    TableReader reader(problems, *t, "metrics", base_dir, {"listen", "path"});
    config.metrics.emplace();
    ReadMetrics(reader, *config.metrics);
  }
  if (const toml::array* array = top.TableArray("agents")) {
    absl::flat_hash_map<std::string, int64_t> first_line;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::table& table = *array->get(i)->as_table();
      TableReader reader(
          problems, table, absl::StrCat("agents[", i, "]"), base_dir,
          {"name", "allowed_names", "allow_wildcard_certificates", "key_types",
           "max_identifiers_per_order", "orders_per_hour", "allow_sign_jws", "front_door",
           "accounts", "default_account"});
      AgentPolicy agent;
      const size_t problems_before = problems.size();
      ReadAgent(reader, agent);
      if (problems.size() != problems_before) continue;
      if (!ResolveAgentAccounts(config.accounts, agent, reader, table, problems)) continue;
      // Belt and braces: the policy code's own whole-policy check must agree.
      if (absl::Status s = ValidateAgentPolicy(agent); !s.ok()) {
        problems.At(LineOf(table), reader.Key("name"), s.message());
        continue;
      }
      const int64_t line = LineOf(*table.get("name"));
      auto [it, inserted] = first_line.emplace(agent.name, line);
      if (!inserted) {
        problems.At(line, reader.Key("name"),
                    absl::StrCat("duplicate agent name \"", agent.name,
                                 "\" (first defined at line ", it->second, ")"));
        continue;
      }
      config.agents.push_back(std::move(agent));
    }
  }
  return config;
}

}  // namespace

std::string DefaultAccountKeyUri(absl::string_view account_name) {
  if (account_name == kDefaultAccountName) return "pkcs11:object=acme-account";
  return absl::StrCat("pkcs11:object=acme-account-", account_name);
}

std::string DefaultEabKeyUri(absl::string_view account_name) {
  if (account_name == kDefaultAccountName) return "pkcs11:object=eab-hmac";
  return absl::StrCat("pkcs11:object=eab-hmac-", account_name);
}

const AccountConfig* SignerConfig::FindAccount(absl::string_view name) const {
  for (const AccountConfig& account : accounts) {
    if (account.name == name) return &account;
  }
  return nullptr;
}

absl::StatusOr<const AccountConfig*> SignerConfig::AccountNamedByFlag(
    absl::string_view name) const {
  if (const AccountConfig* account = FindAccount(name); account != nullptr) return account;
  std::vector<std::string> names;
  for (const AccountConfig& a : accounts) names.push_back(a.name);
  return absl::InvalidArgumentError(absl::StrCat("--account ", name, ": no such account in ",
                                                 source, " (it has: ", absl::StrJoin(names, ", "),
                                                 ")"));
}

const AgentPolicy* SignerConfig::FindAgent(absl::string_view name) const {
  for (const AgentPolicy& agent : agents) {
    if (agent.name == name) return &agent;
  }
  return nullptr;
}

absl::StatusOr<absl::Duration> ParseAgentCertificateLifetime(absl::string_view text) {
  absl::Duration lifetime;
  bool parsed = false;
  if (absl::EndsWith(text, "d")) {
    int64_t days = 0;
    parsed = absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days >= 0 &&
             days <= 100000;
    lifetime = absl::Hours(24 * days);
  } else {
    parsed = absl::ParseDuration(text, &lifetime);
  }
  if (!parsed) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a lifetime: write \"30d\", \"12h\" or \"90m\""));
  }
  if (lifetime < kMinAgentCertificateLifetime || lifetime > kMaxAgentCertificateLifetime) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is out of range: agent certificates last 5m..3650d"));
  }
  return lifetime;
}

bool ServerConfig::IsRevoked(absl::string_view cert_sha256_hex) const {
  return std::find(revoked_agent_certs.begin(), revoked_agent_certs.end(), cert_sha256_hex) !=
         revoked_agent_certs.end();
}

absl::StatusOr<SignerConfig> ParseSignerConfig(absl::string_view text,
                                               absl::string_view source_name) {
  const std::string source(source_name);
  std::error_code ec;
  std::filesystem::path base_dir = std::filesystem::absolute(source, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot make ", source, " absolute: ", ec.message()));
  }
  base_dir = base_dir.parent_path();

  ASSIGN_OR_RETURN(toml::table root, ParseToml(text, source));

  Problems problems(source);
  SignerConfig config = Validate(root, problems, base_dir);
  if (!problems.empty()) return problems.ToStatus();
  config.source = source;
  return config;
}

absl::StatusOr<SignerConfig> LoadSignerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxConfigBytes));
  return ParseSignerConfig(text, path);
}

}  // namespace acme_signer::signer
