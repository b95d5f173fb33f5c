// The agent's own configuration file (default /etc/acme-agent/agent.toml; deploy/acme-agent.toml
// is the annotated example). Schema:
//
//   config_dir = "/etc/acme-agent"          # live/, archive/, renewal/ live here
//   [signer]   address (required): the signer, or its replicas, as a gRPC target
//                (agent/signer_target.h): host:port, ipv4:IP:PORT,IP:PORT,
//                ipv6:[IP]:PORT,..., dns:///NAME:PORT; calls go round-robin to the
//                replicas that are up and healthy
//              ca (required: CA of the signer's TLS cert),
//              tls_server_name (the name checked in the signer's certificate; default the
//                host of address; required for an ipv4:/ipv6: list of different hosts, since
//                every replica presents the same server name)
//              retry_seconds (0..120, default 110): how long a call keeps being retried on
//                the replicas while none can serve it, before the agent gives up (exit 4)
//   [identity] trust_domain (required), name (default: the host name), key, cert
//              -> the agent's mTLS identity spiffe://<trust_domain>/agent/<name>
//   [defaults] key_type, elliptic_curve, rsa_key_size, authenticator, webroot_path,
//              http01_port, http01_address, pre_hook, post_hook, deploy_hook,
//              hook_timeout_seconds   (command-line flags override these per certificate)
//   [direct]   ca_bundle: PEM file of CAs trusted for the ACME CA's HTTPS in direct mode
//              (`certonly --direct`: the agent talks to the CA itself); default: the system
//              trust store
//
// Every unknown key and every bad value is an error naming file, line and key; paths must be
// absolute (the agent runs from systemd with an unspecified working directory).
// Thread-safety: pure functions; AgentConfig is a plain value.
#ifndef ACME_SIGNER_AGENT_AGENT_CONFIG_H_
#define ACME_SIGNER_AGENT_AGENT_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/private_key.h"
#include "agent/renewal_config.h"
#include "agent/signer_retry.h"

namespace acme_signer::agent {

inline constexpr char kDefaultAgentConfigPath[] = "/etc/acme-agent/agent.toml";

struct AgentConfig {
  std::string source;  // the file it was loaded from (LoadAgentConfig), for messages
  std::string config_dir = "/etc/acme-agent";

  struct Signer {
    std::string address;          // a valid SignerTarget (agent/signer_target.h)
    std::string ca;               // PEM file with the CA(s) for the signer's server certificate
    std::string tls_server_name;  // "" = SignerTarget::ServerName's default
    absl::Duration retry_window = kDefaultSignerRetryWindow;
  } signer;

  struct Identity {
    std::string trust_domain;
    std::string name;  // "" = use the host name (resolved by the caller)
    std::string key = "/etc/acme-agent/identity/agent.key";
    std::string cert = "/etc/acme-agent/identity/agent.pem";
  } identity;

  struct Defaults {
    KeySpec key;
    Authenticator authenticator = Authenticator::kStandalone;
    std::string webroot_path;
    int http01_port = 80;
    std::string http01_address;
    std::string pre_hook;
    std::string post_hook;
    std::string deploy_hook;
    absl::Duration hook_timeout = absl::Minutes(5);
  } defaults;

  struct Direct {
    std::string ca_bundle;  // "" = system trust store
  } direct;
};

// Parses and validates TOML text; `source` (the path) prefixes messages: "agent.toml:7: ...".
absl::StatusOr<AgentConfig> ParseAgentConfig(absl::string_view text, const std::string& source);

// Reads `path` (at most 1 MiB) and parses it. Errors name the path.
absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace acme_signer::agent

#endif  // ACME_SIGNER_AGENT_AGENT_CONFIG_H_
