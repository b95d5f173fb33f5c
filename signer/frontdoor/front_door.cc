#include "signer/frontdoor/front_door.h"

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "signer/frontdoor/credentials.h"
#include "signer/frontdoor/dns_resolver.h"
#include "signer/frontdoor/network_allowlist.h"

namespace acme_signer::signer::frontdoor {
namespace {

absl::Status Prefixed(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FrontDoor>> FrontDoor::Start(const AcmeServerConfig& server,
                                                            FrontDoorDeps deps) {
  if (deps.config == nullptr || deps.token == nullptr || deps.store == nullptr ||
      deps.audit == nullptr || deps.rate_limiter == nullptr || deps.accounts == nullptr ||
      deps.accounts->all().empty()) {
    return absl::InvalidArgumentError("the ACME front door is missing a dependency");
  }
  std::unique_ptr<FrontDoor> door(new FrontDoor());
  door->directory_url_ = DirectoryUrl(server);

  // A signer initialised before the front door existed gets its master key now (init and the
  // first enroll-client would make it too).
  absl::StatusOr<std::unique_ptr<hsm::MacSigner>> master = OpenOrCreateEabMasterKey(*deps.token);
  if (!master.ok()) return Prefixed(master.status(), "front door: the EAB master key");
  door->eab_master_ = *std::move(master);

  // With the PostgreSQL backend the nonces are in the shared database: any replica accepts a
  // nonce another one issued. Chosen once, at start.
  NonceStore::Options nonce_options;
  if (const std::shared_ptr<const SignerConfig> config = deps.config->Get();
      config->state.backend == StateConfig::Backend::kPostgresql) {
    nonce_options.postgresql_conninfo = config->state.url;
  }
  absl::StatusOr<std::unique_ptr<NonceStore>> nonces = NonceStore::Create(nonce_options);
  if (!nonces.ok()) return Prefixed(nonces.status(), "front door: the nonce store");
  door->nonces_ = *std::move(nonces);

  DnsResolver::Options resolver_options;
  resolver_options.servers = server.validation_resolver;
  absl::StatusOr<std::unique_ptr<DnsResolver>> resolver = DnsResolver::Create(resolver_options);
  if (!resolver.ok()) {
    return Prefixed(resolver.status(), "[acme_server] validation_resolver");
  }
  std::shared_ptr<const DnsResolver> shared_resolver = *std::move(resolver);
  NetworkAllowlist allowlist = NetworkAllowlist::Default();
  if (!server.validation_allowed_networks.empty()) {
    absl::StatusOr<NetworkAllowlist> parsed =
        NetworkAllowlist::Parse(server.validation_allowed_networks);
    if (!parsed.ok()) return Prefixed(parsed.status(), "[acme_server] validation_allowed_networks");
    allowlist = *std::move(parsed);
  }
  Http01Validator::Options http01_options;
  http01_options.port = static_cast<int>(server.validation_http_port);
  ASSIGN_OR_RETURN(door->http01_,
                   Http01Validator::Create(http01_options, shared_resolver, allowlist));
  ASSIGN_OR_RETURN(door->dns01_, Dns01Validator::Create(shared_resolver));

  // One upstream issuer per signer account: a front-door client acts as the account of its
  // credential (acme_server.h).
  std::map<std::string, UpstreamAccount, std::less<>> upstream_accounts;
  for (const std::unique_ptr<ServedAccount>& account : deps.accounts->all()) {
    UpstreamIssuer::Options upstream_options;
    upstream_options.dns01_hook = server.upstream_dns01_hook;
    absl::StatusOr<std::unique_ptr<UpstreamIssuer>> upstream =
        UpstreamIssuer::Create(account->acme.get(), upstream_options);
    if (!upstream.ok()) return Prefixed(upstream.status(), "[acme_server] upstream_dns01_hook");
    upstream_accounts.emplace(account->name(),
                              UpstreamAccount{upstream->get(), account->acme.get(),
                                              account->deactivated()});
    door->upstreams_.push_back(*std::move(upstream));
  }

  AcmeServer::Deps server_deps;
  server_deps.config = deps.config;
  server_deps.store = deps.store;
  server_deps.audit = deps.audit;
  server_deps.refusals = deps.refusals;
  server_deps.rate_limiter = deps.rate_limiter;
  server_deps.audit_space = deps.audit_space;
  server_deps.eab_master = door->eab_master_.get();
  server_deps.nonces = door->nonces_.get();
  server_deps.http01 = door->http01_.get();
  server_deps.dns01 = door->dns01_.get();
  server_deps.accounts = std::move(upstream_accounts);
  ASSIGN_OR_RETURN(door->server_, AcmeServer::Create(server.external_url, server_deps));
  ASSIGN_OR_RETURN(door->resumed_orders_, door->server_->ResumeProcessingOrders());

  http::HttpsServerOptions listener_options;
  listener_options.listen = server.listen;
  absl::StatusOr<std::string> certificate = ReadFile(server.tls_certificate);
  if (!certificate.ok()) return Prefixed(certificate.status(), "[acme_server] tls_certificate");
  listener_options.certificate_pem = *std::move(certificate);
  absl::StatusOr<Secret> key = ReadSecretFile(server.tls_private_key);
  if (!key.ok()) return Prefixed(key.status(), "[acme_server] tls_private_key");
  listener_options.private_key_pem = std::string(key->reveal());
  listener_options.threads = 8;
  AcmeServer* endpoints = door->server_.get();
  absl::StatusOr<std::unique_ptr<http::HttpsServer>> listener = http::HttpsServer::Start(
      std::move(listener_options),
      [endpoints](const http::ServerRequest& request) { return endpoints->Handle(request); });
  if (!listener.ok()) return Prefixed(listener.status(), "[acme_server] listen");
  door->listener_ = *std::move(listener);
  return door;
}

void FrontDoor::Stop() {
  if (listener_ != nullptr) listener_->Stop();
  upstreams_.clear();
}

FrontDoor::~FrontDoor() {
  Stop();
  listener_.reset();
  server_.reset();
}

}  // namespace acme_signer::signer::frontdoor
