// renewal/NAME.conf: how a lineage was obtained, so `acme-agent renew` can repeat it.
//
// Format: TOML, chosen over certbot's configobj dialect because it has one parser with exact
// error positions and the same visual shape (`key = value`, a [renewalparams] section). Key names
// match certbot's renewal files wherever certbot has the setting (authenticator, webroot_path,
// http01_port, http01_address, pre_hook, post_hook, renew_hook -> deploy_hook, key_type,
// elliptic_curve, rsa_key_size, reuse_key), so an operator who knows certbot can read it:
//
//   version = "0.1.0"
//   archive_dir = "/etc/acme-agent/archive/example.com"
//   cert = "/etc/acme-agent/live/example.com/cert.pem"        # also privkey, chain, fullchain
//   [renewalparams]
//   domains = ["example.com", "www.example.com"]
//   authenticator = "webroot"                                  # standalone | webroot | manual
//   webroot_path = "/var/www/html"
//   ...
//
// Unknown keys are errors (a typo must not silently change how a certificate renews).
// Thread-safe: pure functions.
#ifndef ACME_SIGNER_AGENT_RENEWAL_CONFIG_H_
#define ACME_SIGNER_AGENT_RENEWAL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/private_key.h"

namespace acme_signer::agent {

enum class Authenticator { kStandalone, kWebroot, kManual };

// "standalone" / "webroot" / "manual".
std::string AuthenticatorName(Authenticator a);
// InvalidArgument naming the value when it is none of the three.
absl::StatusOr<Authenticator> ParseAuthenticator(absl::string_view name);

struct RenewalConfig {
  std::string version;               // acme-agent version that wrote the file
  std::vector<std::string> domains;  // normalized, in request order
  Authenticator authenticator = Authenticator::kStandalone;
  std::string webroot_path;      // required for kWebroot
  int http01_port = 80;          // standalone listener
  std::string http01_address;    // standalone bind address; "" = all
  std::string manual_auth_hook;  // required for kManual
  std::string manual_cleanup_hook;
  // Challenge type the manual hooks solve: "http-01" (certbot's default) or "dns-01".
  std::string preferred_challenges = "http-01";
  std::string preferred_chain;  // issuer CN of the preferred chain; "" = CA default
  std::string pre_hook;
  std::string post_hook;
  std::string deploy_hook;
  KeySpec key;
  bool reuse_key = false;
  bool pfx = false;
  std::string pfx_password_file;  // "" = empty password
  bool pfx_legacy = false;        // 3DES + SHA-1 MAC for old Windows
  // --ccs-dir: also write the PKCS#12 as DIR/HOSTNAME.pfx for every name, for IIS's Central
  // Certificate Store (agent/central_store.h). Absolute; needs pfx. "" = none.
  std::string ccs_dir;
  // Direct mode (`certonly --direct`): the agent talks to the CA itself and the signer only
  // signs each JWS (SignJws); otherwise the signer relays the order. Absent = false.
  bool direct = false;
  // The signer account ([[accounts]] name) this lineage is obtained with, chosen by
  // `certonly --server URL` / `--account NAME`; "" = the signer's default account for this
  // agent (and a file without the key).
  std::string account;
  // That account's ACME directory URL when it was chosen, for the reader (the account is what
  // counts; the signer says where it is). "" when no account is stored.
  std::string server;
};

// Paths recorded at the top of the file for the operator's benefit (certbot does the same).
struct RenewalConfigPaths {
  std::string archive_dir;
  std::string cert;
  std::string privkey;
  std::string chain;
  std::string fullchain;
};

// Checks cross-field rules: valid domains, webroot path for webroot, auth hook for manual,
// port 1..65535, an account name of letters, digits, '.', '_' and '-' (server needs account).
// InvalidArgument naming the field.
absl::Status ValidateRenewalConfig(const RenewalConfig& config);

// What differs between two configs, one entry per renewal-file key in file order, e.g.
// "domains www,api → www,api,new" or "deploy_hook (none) → 'systemctl reload nginx'" (version
// is not compared). Empty when they are the same.
std::vector<std::string> RenewalConfigChanges(const RenewalConfig& before,
                                              const RenewalConfig& after);

// TOML text of `config` (validated first).
absl::StatusOr<std::string> SerializeRenewalConfig(const RenewalConfig& config,
                                                   const RenewalConfigPaths& paths);

// Parses and validates. `source` (usually the path) prefixes error messages with the line.
absl::StatusOr<RenewalConfig> ParseRenewalConfig(absl::string_view text, const std::string& source);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_RENEWAL_CONFIG_H_
