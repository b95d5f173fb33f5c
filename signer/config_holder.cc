#include "signer/config_holder.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace acme_signer::signer {
namespace {

// The front door is built when serve starts: its HTTPS listener is bound and its certificate
// loaded, its URLs are in every account, order and nonce already handed out, and its resolver,
// validators and upstream hook are made from the section then. Any change to [acme_server]
// therefore needs a restart (a reload that accepted it would leave the operator believing it
// took effect); the hosts' front_door flags and policies reload.
absl::Status CheckFrontDoorUnchanged(const std::optional<AcmeServerConfig>& old_server,
                                     const std::optional<AcmeServerConfig>& new_server) {
  constexpr absl::string_view kRestart = "restart acme-signer to change the front door: ";
  if (old_server.has_value() != new_server.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(kRestart, "[acme_server] ",
                                                      old_server.has_value() ? "removed" : "added",
                                                      "; config not reloaded"));
  }
  if (!old_server.has_value()) return absl::OkStatus();
  const AcmeServerConfig& before = *old_server;
  const AcmeServerConfig& after = *new_server;
  auto changed = [&](absl::string_view key, absl::string_view from, absl::string_view to) {
    return absl::FailedPreconditionError(absl::StrCat(
        kRestart, "[acme_server] ", key, " changed from ", from, " to ", to,
        "; config not reloaded"));
  };
  const std::pair<absl::string_view, std::string AcmeServerConfig::*> kTextKeys[] = {
      {"listen", &AcmeServerConfig::listen},
      {"external_url", &AcmeServerConfig::external_url},
      {"tls_certificate", &AcmeServerConfig::tls_certificate},
      {"tls_private_key", &AcmeServerConfig::tls_private_key},
      {"validation_resolver", &AcmeServerConfig::validation_resolver},
  };
  for (const auto& [key, field] : kTextKeys) {
    if (before.*field != after.*field) return changed(key, before.*field, after.*field);
  }
  if (before.validation_http_port != after.validation_http_port) {
    return changed("validation_http_port", absl::StrCat(before.validation_http_port),
                   absl::StrCat(after.validation_http_port));
  }
  if (before.validation_allowed_networks != after.validation_allowed_networks) {
    return changed("validation_allowed_networks",
                   absl::StrJoin(before.validation_allowed_networks, ", "),
                   absl::StrJoin(after.validation_allowed_networks, ", "));
  }
  if (before.upstream_dns01_hook != after.upstream_dns01_hook) {
    return changed("upstream_dns01_hook", before.upstream_dns01_hook.value_or("(none)"),
                   after.upstream_dns01_hook.value_or("(none)"));
  }
  return absl::OkStatus();
}

// Settings read once at start-up; changing them needs a restart, and silently ignoring a
// change would leave the operator believing it took effect.
absl::Status CheckStartupSettingsUnchanged(const SignerConfig& old_config,
                                           const SignerConfig& new_config) {
  auto refuse = [](absl::string_view key) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, " changed: it takes effect only after a restart; config not reloaded"));
  };
  if (old_config.server.listen != new_config.server.listen) return refuse("server.listen");
  if (old_config.server.tls_cert != new_config.server.tls_cert) return refuse("server.tls_cert");
  if (old_config.server.tls_key != new_config.server.tls_key) return refuse("server.tls_key");
  if (old_config.server.agent_ca_cert != new_config.server.agent_ca_cert) {
    return refuse("server.agent_ca_cert");
  }
  // gRPC server limits: fixed when the server is built.
  if (old_config.server.max_message_bytes != new_config.server.max_message_bytes) {
    return refuse("server.max_message_bytes");
  }
  if (old_config.server.max_concurrent_rpcs != new_config.server.max_concurrent_rpcs) {
    return refuse("server.max_concurrent_rpcs");
  }
  if (old_config.server.handshake_timeout_ms != new_config.server.handshake_timeout_ms) {
    return refuse("server.handshake_timeout_ms");
  }
  // The enrolment listener is bound (or not) when serve starts.
  if (old_config.server.enroll_listen != new_config.server.enroll_listen) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server.enroll_listen changed from ", old_config.server.enroll_listen.value_or("(none)"),
        " to ", new_config.server.enroll_listen.value_or("(none)"),
        ": the enrolment listener is opened only when serve starts; restart acme-signer to "
        "change it; config not reloaded"));
  }
  // Accounts are opened (keys, HTTPS clients, engines) when serve starts: only their
  // preferred_chain, contact and terms may change by reload.
  if (old_config.accounts.size() != new_config.accounts.size()) return refuse("accounts");
  for (size_t i = 0; i < old_config.accounts.size(); ++i) {
    const AccountConfig& was = old_config.accounts[i];
    const AccountConfig& now = new_config.accounts[i];
    const std::string key = was.config_key == "acme"
                                ? std::string("acme")
                                : absl::StrCat(was.config_key, " (", was.name, ")");
    if (was.name != now.name) return refuse(absl::StrCat(key, ".name"));
    if (was.directory_url != now.directory_url) return refuse(absl::StrCat(key, ".directory_url"));
    if (was.ca_bundle != now.ca_bundle) return refuse(absl::StrCat(key, ".ca_bundle"));
    if (was.request_timeout_ms != now.request_timeout_ms) {
      return refuse(absl::StrCat(key, ".request_timeout_ms"));
    }
    if (was.key != now.key) return refuse(absl::StrCat(key, ".key"));
    if (was.key_type != now.key_type) return refuse(absl::StrCat(key, ".key_type"));
  }
  if (old_config.hsm.module != new_config.hsm.module) return refuse("hsm.module");
  if (old_config.hsm.token_uri != new_config.hsm.token_uri) return refuse("hsm.token_uri");
  if (old_config.state.dir != new_config.state.dir) return refuse("state.dir");
  if (old_config.audit.log != new_config.audit.log) return refuse("audit.log");
  return CheckFrontDoorUnchanged(old_config.acme_server, new_config.acme_server);
}

}  // namespace

absl::Status ConfigHolder::Reload(const std::string& path) {
  ASSIGN_OR_RETURN(SignerConfig fresh, LoadSignerConfig(path));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(CheckStartupSettingsUnchanged(*current_, fresh));
  current_ = std::make_shared<const SignerConfig>(std::move(fresh));
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
