// SignerConfig: the acme-signer daemon's configuration, loaded from a TOML file and validated as
// a whole before anything else starts. deploy/acme-signer.toml is the commented example.
//
// Schema (R = required, otherwise the default is shown):
//
//   [server]
//   listen              = "127.0.0.1:7443"   host:port, [v6]:port or unix:/abs/path; port 0 picks
//                                            a free port (tests)
//   tls_cert            R  path, PEM: the signer's own TLS certificate (written by init)
//   tls_key             R  path, PEM: its private key (a 0600 file, not an HSM key)
//   agent_ca_cert       R  path, PEM: the agent CA certificate clients are verified against
//   trust_domain        R  SPIFFE trust domain of agent identities ("dept.example")
//   allow_root          = false              whether the daemon may keep running as uid 0
//   max_message_bytes   = 1048576            gRPC max receive size, 65536..67108864
//   max_concurrent_rpcs = 64                 1..4096
//   handshake_timeout_ms = 10000             1000..300000: a connection that has not finished
//                                            its TLS + HTTP/2 handshake by then is closed
//   max_rpcs_in_flight_per_agent = 8         1..4096: calls one agent may have in the signer
//                                            at once; more are refused (RESOURCE_EXHAUSTED)
//                                            and audited, so one agent cannot take every one
//                                            of the max_concurrent_rpcs threads (reloadable)
//   revoked_agent_certs = []                 array of lowercase hex SHA-256 fingerprints (64
//                                            chars, unique) of agent certificate DER; a call
//                                            presenting one is denied (reloadable by SIGHUP)
//   agent_certificate_lifetime = "30d"       lifetime of agent mTLS certificates the signer
//                                            issues (enroll-agent, token enrolment, renewal):
//                                            "<n>d", or an absl duration ("12h", "90m");
//                                            5m..3650d. Agents renew at two thirds of it.
//   enroll_listen       = (none)             host:port or [v6]:port of the one-token enrolment
//                                            listener (TLS with the signer's certificate, no
//                                            client certificate; only the Enrollment service);
//                                            absent = token enrolment off
//
//   [[accounts]]                             one or more ACME accounts (one per CA profile or
//                                            department); docs/signer.md "Accounts"
//   name                R  [a-z0-9-]{1,63}, not starting or ending with '-'; unique
//   directory_url       R  https:// URL of the CA's ACME directory (http:// is refused); two
//                          accounts may share one (two departments at one CA profile)
//   ca_bundle           = (system store)     path, PEM bundle to verify the CA's TLS with
//   contact             = []                 array of "mailto:user@host"
//   eab_kid             = (none)             EAB key identifier (not secret; the key is in the HSM)
//   preferred_chain     = (none)             issuer CN of the preferred alternate chain
//   terms_of_service_agreed = false
//   request_timeout_ms  = 30000              1000..600000: bound on each HTTPS request to the CA,
//                                            below the agent's 60 s call deadline so that a CA
//                                            that never answers reaches the agent as a clear
//                                            error, not as the agent's own deadline (read at
//                                            start, not on SIGHUP)
//   key                 = "pkcs11:object=acme-account-<name>"  the account key in the HSM
//                                            ("pkcs11:object=acme-account" for `default`)
//   key_type            = "ec-p256"          ec-p256 | ec-p384 | rsa-2048 | rsa-3072 | rsa-4096
//   eab_key             = "pkcs11:object=eab-hmac-<name>"  its EAB HMAC key in the HSM
//                                            ("pkcs11:object=eab-hmac" for `default`)
//   Key URIs must differ between accounts.
//
//   [acme]                                   the single-account form of before: the account
//                                            named `default`, with the keys below in [hsm]
//                                            (account_key, account_key_type, eab_key). The same
//                                            keys as [[accounts]] except name/key/key_type/
//                                            eab_key. Not together with [[accounts]].
//
//   [hsm]
//   module              R  p11-kit module name ("softhsm2") or path of a PKCS#11 library
//   token_uri           = "pkcs11:token=acme-signer"
//   pin_file            R  path of the 0600 file holding the user PIN
//   account_key         = "pkcs11:object=acme-account"   only with [acme] (account `default`)
//   account_key_type    = "ec-p256"                      only with [acme]
//   eab_key             = "pkcs11:object=eab-hmac"       only with [acme]
//   agent_ca_key        = "pkcs11:object=agent-ca"
//   audit_key           = "pkcs11:object=audit-key"
//   verify_every_signature = false           verify each HSM signature before using it
//   PKCS#11 URIs must start with "pkcs11:" and must not carry pin-value (use pin_file).
//
//   [state]
//   dir                 R  directory for the SQLite database (signer.db) and other state
//   backend             = "sqlite"           "sqlite" (one signer, signer.db in dir) or
//                                            "postgresql" (several replicas share one database;
//                                            docs/signer.md "Running several replicas")
//   url                    libpq connection string; required with backend = "postgresql",
//                          refused otherwise. Must not hold a password (passfile= or peer or
//                          certificate authentication instead)
//   replica             = (host name)        this signer's name in audit records and logs,
//                                            [A-Za-z0-9._-]{1,64}
//
//   [audit]                                  optional with backend = "postgresql"
//   log                 R  path of the append-only audit log. sqlite only: with "postgresql"
//                          the one chain of all replicas is in the database
//                          (signer/db_audit_log.h), and log, rotate_bytes and min_free_bytes
//                          are refused (not ignored: no replica keeps a chain of its own)
//   checkpoint_every    = 256                records between signed checkpoints, 1..1000000
//                                            (postgresql: counted on the shared chain; the
//                                            replica whose record makes it due signs it)
//   rotate_bytes        = (never)            rotate the log past this size, >= 65536
//   min_free_bytes      = 104857600          0..2^50: below this many bytes free on the log's
//                                            file system, new orders are refused (and a
//                                            warning logged) before the disk is full; 0
//                                            disables the check (reloadable by SIGHUP)
//
//   [[agents]]                               zero or more; an agent not listed is refused
//   name                R  [a-z0-9-]{1,63}, not starting or ending with '-'; unique. The agent's
//                          client certificate carries spiffe://<trust_domain>/agent/<name>
//   allowed_names       R  non-empty array of exact DNS names, "*.suffix" (exactly one label
//                          under suffix) and "**.suffix" (any depth under suffix) patterns;
//                          signer/name_policy.h and docs/policy.md are normative
//   allow_wildcard_certificates = false      whether wildcard identifiers ("*.x") may be ordered
//                                            (each still has to be covered by allowed_names)
//   key_types           = all five           CSR key types accepted for this agent
//   max_identifiers_per_order = 10           1..100
//   orders_per_hour     = 30                 1..100000
//   allow_sign_jws      = false              direct mode (SignJws) needs explicit opt-in
//   front_door          = false              whether this host may use the ACME front door
//                                            ([acme_server]) with credentials from
//                                            `acme-signer enroll-client` (deny by default)
//   accounts            = ["default"]        the accounts ([[accounts]] names) this agent may
//                                            use; without it: `default`, or the first account
//                                            when none is named `default`
//   default_account     = accounts[0]        the account used when the agent names none
//
//   [acme_server]                            optional: the ACME front door (RFC 8555 server for
//                                            stock clients); absent = no front door
//   listen              R  "host:port" or "[v6]:port" of its HTTPS listener (no unix:)
//   external_url        R  https:// base URL clients reach it at ("https://signer.lan:8443" or
//                          with a path prefix, "https://signer.lan/acme"); no query, fragment
//                          or userinfo; trailing '/' removed. The directory URL is
//                          external_url + "/directory", every resource URL is under it
//   tls_certificate     R  path, PEM certificate (chain) of the listener
//   tls_private_key     R  path, PEM private key of the listener (a 0600 file)
//   validation_resolver = ""                 "" = the system resolver, else "ip[:port]" or
//                                            "[ipv6]:port" of the DNS server used for http-01
//                                            and dns-01 validation
//   validation_http_port = 80                1..65535: port http-01 validation connects to
//   validation_allowed_networks = []         CIDR strings the validation may connect to;
//                                            empty = the default allowlist (everything but
//                                            loopback, link-local and cloud metadata). Stored
//                                            as written here, parsed when serve starts
//   upstream_dns01_hook = (none)             path of the command that publishes the signer's
//                                            own dns-01 answers for upstream challenges
//
//   [metrics]                                optional: the Prometheus endpoint (plain HTTP, no
//                                            client certificate; docs/signer.md "Metrics");
//                                            absent = no metrics listener
//   listen              = "127.0.0.1:9464"   host:port or [v6]:port (no unix:); keep it on
//                                            loopback or a management network: anyone who can
//                                            connect can read the counters (no secrets in them)
//   path                = "/metrics"         the URL path it answers on; anything else is 404
//
// Every relative path is resolved against the directory of the config file. Paths are only
// recorded, never opened here: loading the config never reads (and so never echoes) a secret.
//
// Thread-safety: the types are plain values (thread-compatible); the functions are thread-safe.
#ifndef ACME_SIGNER_SIGNER_CONFIG_H_
#define ACME_SIGNER_SIGNER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hsm/key_type.h"
#include "signer/name_policy.h"

namespace acme_signer::signer {

struct ServerConfig {
  std::string listen = "127.0.0.1:7443";
  std::string tls_cert;       // absolute path
  std::string tls_key;        // absolute path
  std::string agent_ca_cert;  // absolute path
  std::string trust_domain;
  bool allow_root = false;
  int64_t max_message_bytes = 1 << 20;
  int64_t max_concurrent_rpcs = 64;
  // gRPC's own default is 120 s: a peer that connects and never speaks would hold a socket
  // (and a file descriptor) that long, before any client certificate was checked.
  int64_t handshake_timeout_ms = 10000;
  // The acme-agent makes one call at a time; 8 leaves room for a few agents sharing an
  // identity while keeping any one agent far below max_concurrent_rpcs.
  int64_t max_rpcs_in_flight_per_agent = 8;
  // Lowercase hex SHA-256 of agent certificate DER (PeerAgent::cert_sha256_hex) that are
  // refused even though the agent CA signed them: the deny list for a lost agent key.
  std::vector<std::string> revoked_agent_certs;
  absl::Duration agent_certificate_lifetime = absl::Hours(24 * 30);
  std::optional<std::string> enroll_listen;

  bool IsRevoked(absl::string_view cert_sha256_hex) const;
};

// One ACME account ([[accounts]], or the legacy [acme] section as `default`).
struct AccountConfig {
  std::string name;
  std::string directory_url;
  std::optional<std::string> ca_bundle;  // absolute path
  std::vector<std::string> contact;      // "mailto:..." URLs
  std::optional<std::string> eab_kid;
  std::optional<std::string> preferred_chain;
  bool terms_of_service_agreed = false;
  int64_t request_timeout_ms = 30000;
  std::string key;  // PKCS#11 URI of the account key
  hsm::KeyType key_type = hsm::KeyType::kEcP256;
  std::string eab_key;  // PKCS#11 URI of the EAB HMAC key
  // Where it was configured, for messages: "acme" (the legacy section) or "accounts[i]".
  std::string config_key;
};

// The account name of the legacy single [acme] section, and of data written before accounts.
inline constexpr absl::string_view kDefaultAccountName = "default";
// The default HSM object URIs of account `name`'s keys.
std::string DefaultAccountKeyUri(absl::string_view account_name);
std::string DefaultEabKeyUri(absl::string_view account_name);

struct HsmConfig {
  std::string module;  // p11-kit module name, or absolute path of a library
  std::string token_uri = "pkcs11:token=acme-signer";
  std::string pin_file;  // absolute path
  std::string agent_ca_key = "pkcs11:object=agent-ca";
  std::string audit_key = "pkcs11:object=audit-key";
  bool verify_every_signature = false;
};

struct StateConfig {
  enum class Backend { kSqlite, kPostgresql };
  std::string dir;  // absolute path
  Backend backend = Backend::kSqlite;
  std::string url;      // libpq conninfo (kPostgresql only); never holds a password
  std::string replica;  // "" = the host name (ReplicaName() resolves it)

  // The replica name: `replica`, else gethostname(), else "signer".
  std::string ReplicaName() const;
};

struct AuditConfig {
  std::string log;  // absolute path
  int64_t checkpoint_every = 256;
  std::optional<int64_t> rotate_bytes;
  // Free-space floor for new orders (signer/audit_space.h): 100 MiB is hours of records at
  // the most a busy signer writes, and seconds of nothing for the disk.
  int64_t min_free_bytes = int64_t{100} << 20;
};

// The ACME front door (optional [acme_server] section).
struct AcmeServerConfig {
  std::string listen;               // "host:port" / "[v6]:port"
  std::string external_url;         // https base URL, no trailing '/'
  std::string tls_certificate;      // absolute path
  std::string tls_private_key;      // absolute path
  std::string validation_resolver;  // "" = system resolver; see NormaliseResolverServers
  int64_t validation_http_port = 80;
  // CIDR strings as written; empty = the default allowlist.
  std::vector<std::string> validation_allowed_networks;
  std::optional<std::string> upstream_dns01_hook;  // absolute path
};

// The Prometheus endpoint (optional [metrics] section).
struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";
  std::string path = "/metrics";
};

struct SignerConfig {
  std::string source;  // the config file path (or source name) it was parsed from
  ServerConfig server;
  // In file order, names unique, key URIs unique; never empty after parsing.
  std::vector<AccountConfig> accounts;
  HsmConfig hsm;
  StateConfig state;
  AuditConfig audit;
  // Present when the file has an [acme_server] section.
  std::optional<AcmeServerConfig> acme_server;
  // Present when the file has a [metrics] section.
  std::optional<MetricsConfig> metrics;
  // In file order; names are unique; each passed ValidateAgentPolicy. key_types holds the
  // canonical names ("ec-p256", ...), all five when the file leaves key_types out.
  std::vector<AgentPolicy> agents;

  // The policy of agent `name`, or nullptr when no such agent is configured (deny).
  const AgentPolicy* FindAgent(absl::string_view name) const;
  // The account named `name`, or nullptr.
  const AccountConfig* FindAccount(absl::string_view name) const;
  // The account an `--account NAME` option names; InvalidArgument "--account NAME: no such
  // account in <source> (it has: a, b)" when there is none. The commands' one lookup.
  absl::StatusOr<const AccountConfig*> AccountNamedByFlag(absl::string_view name) const;
};

// Reads and validates the config file at `path` (at most 1 MiB). Errors: the ReadFile errors
// (NotFound, PermissionDenied, ...) naming the path, or InvalidArgument from ParseSignerConfig.
// Parses an agent certificate lifetime: "<n>d" (days) or an absl duration ("12h", "90m",
// "1h30m"), 5 minutes .. kMaxAgentCertificateLifetime. InvalidArgument names the value.
absl::StatusOr<absl::Duration> ParseAgentCertificateLifetime(absl::string_view text);
inline const absl::Duration kMinAgentCertificateLifetime = absl::Minutes(5);
inline const absl::Duration kMaxAgentCertificateLifetime = absl::Hours(24 * 3650);

absl::StatusOr<SignerConfig> LoadSignerConfig(const std::string& path);

// Parses and validates TOML `text`. `source_name` is used in messages ("<source>:<line>: ...")
// and its directory (made absolute against the working directory) is the base for relative
// paths. On failure, InvalidArgument whose message lists every problem found, one per line,
// each naming the source, the line, and the key (e.g.
// "acme-signer.toml:7: server.listen: port 99999 is out of range 0..65535").
absl::StatusOr<SignerConfig> ParseSignerConfig(absl::string_view text,
                                               absl::string_view source_name);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_CONFIG_H_
