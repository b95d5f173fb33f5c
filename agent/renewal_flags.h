// The command-line options that say how a certificate is obtained (authenticator, its port or
// document root, manual hooks, challenge type, key, preferred chain, pre/post/deploy hooks).
// `certonly` records them in renewal/NAME.conf; `renew` takes the same options as overrides
// for every lineage it renews in that run, as certbot's renew does (and, as with certbot, a
// renewal that succeeds records the overridden values for the next run). A second `certonly`
// for a lineage merges the same way (MergeRenewalSettings): the flags given now override,
// every stored setting the command line does not give is kept.
// Thread-safety: pure functions over plain values.
#ifndef ACME_SIGNER_AGENT_RENEWAL_FLAGS_H_
#define ACME_SIGNER_AGENT_RENEWAL_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/renewal_config.h"
#include "common/cli.h"

namespace acme_signer::agent {

// What the command line said; an empty field means "keep what the lineage (or, for certonly,
// agent.toml's [defaults]) says".
struct RenewalOverrides {
  std::optional<Authenticator> authenticator;
  std::optional<std::string> webroot_path;
  std::optional<int> http01_port;
  std::optional<std::string> http01_address;
  std::optional<std::string> manual_auth_hook;
  std::optional<std::string> manual_cleanup_hook;
  std::optional<std::string> preferred_challenges;  // "http-01" or "dns-01"
  std::optional<std::string> preferred_chain;
  std::optional<std::string> pre_hook;
  std::optional<std::string> post_hook;
  std::optional<std::string> deploy_hook;
  std::optional<std::string> key_type;
  std::optional<std::string> elliptic_curve;
  std::optional<int> rsa_key_size;
  std::optional<bool> reuse_key;  // --reuse-key / --no-reuse-key
  // certonly's own options (renew leaves them empty): the names, --pfx, --pfx-password-file,
  // --pfx-legacy, --direct. A boolean flag is true when given and empty when not: not giving
  // --pfx keeps what the lineage stored (`acme-agent reconfigure --no-pfx` switches it off).
  std::optional<std::vector<std::string>> domains;
  std::optional<bool> pfx;
  std::optional<std::string> pfx_password_file;
  std::optional<bool> pfx_legacy;
  std::optional<std::string> ccs_dir;  // --ccs-dir DIR (implies --pfx)
  std::optional<bool> direct;
  // The signer account chosen by --server / --account (agent/account_choice.h), with its
  // directory URL; set together, by certonly and reconfigure.
  std::optional<std::string> account;
  std::optional<std::string> server;
};

// Adds --standalone, --webroot, -w/--webroot-path, --manual, --manual-auth-hook,
// --manual-cleanup-hook, --preferred-challenges, --http-01-port, --http-01-address,
// --key-type, --elliptic-curve, --rsa-key-size, --reuse-key, --no-reuse-key, --pre-hook,
// --post-hook,
// --deploy-hook and --preferred-chain.
void AddRenewalParamOptions(ArgParser& parser);

// Reads those options. InvalidArgument naming the option: two authenticators, a port or key
// size that is not a number in range, an unknown challenge type.
absl::StatusOr<RenewalOverrides> RenewalOverridesFromFlags(const ArgParser& parser);

// Applies `overrides` to `config`. InvalidArgument when the result is inconsistent (dns-01
// without a manual hook, an unsupported key, --pfx-password-file or --pfx-legacy without
// --pfx given or stored); the caller still runs ValidateRenewalConfig.
absl::Status ApplyRenewalOverrides(const RenewalOverrides& overrides, RenewalConfig& config);

// certonly's settings for a lineage: `base` is its stored renewal config, or agent.toml's
// [defaults] for a new lineage; the flags given now override, every setting they do not give
// keeps base's value (certbot's behaviour). Validated; InvalidArgument as above.
absl::StatusOr<RenewalConfig> MergeRenewalSettings(const RenewalConfig& base,
                                                   const RenewalOverrides& overrides);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_RENEWAL_FLAGS_H_
