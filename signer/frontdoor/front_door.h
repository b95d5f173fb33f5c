// FrontDoor: the ACME front door as `acme-signer serve` runs it: everything built from the
// config's [acme_server] section (EAB master key, nonce store, DNS resolver, http-01 and dns-01
// validators, one upstream issuer per signer account, the endpoints) behind its own HTTPS
// listener.
//
// Shutdown order matters and is the destructor's (or Stop's): the listener stops taking
// requests and finishes those in progress, then the upstream issuers finish their background
// work (whose completions write orders and audit records through the endpoints), then the
// endpoints go.
//
// Thread-safety: Start and Stop from the serve thread.
#ifndef ACME_SIGNER_SIGNER_FRONTDOOR_FRONT_DOOR_H_
#define ACME_SIGNER_SIGNER_FRONTDOOR_FRONT_DOOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "acme/client.h"
#include "hsm/mac_signer.h"
#include "hsm/token.h"
#include "http/https_server.h"
#include "signer/account_set.h"
#include "signer/audit_log.h"
#include "signer/audit_space.h"
#include "signer/config_holder.h"
#include "signer/frontdoor/acme_server.h"
#include "signer/frontdoor/dns01_validator.h"
#include "signer/frontdoor/http01_validator.h"
#include "signer/frontdoor/nonce_store.h"
#include "signer/frontdoor/upstream_issuer.h"
#include "signer/rate_limiter.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer::frontdoor {

struct FrontDoorDeps {
  ConfigHolder* config = nullptr;
  hsm::Token* token = nullptr;
  StateStore* store = nullptr;
  AuditAppender* audit = nullptr;
  RefusalBudget* refusals = nullptr;
  RateLimiter* rate_limiter = nullptr;
  AuditSpaceFloor* audit_space = nullptr;
  // The signer's accounts: each front-door client acts as the account its EAB credential was
  // issued for (one upstream issuer per account).
  AccountSet* accounts = nullptr;
};

class FrontDoor {
 public:
  // Builds and starts the front door of `server` (the [acme_server] section). Errors name the
  // config key or file: the TLS certificate/key files (NotFound, InvalidArgument), the listen
  // address (Unavailable when it cannot be bound), the EAB master key in the token.
  static absl::StatusOr<std::unique_ptr<FrontDoor>> Start(const AcmeServerConfig& server,
                                                          FrontDoorDeps deps);
  FrontDoor(const FrontDoor&) = delete;
  FrontDoor& operator=(const FrontDoor&) = delete;
  ~FrontDoor();

  int port() const { return listener_->port(); }
  const std::string& directory_url() const { return directory_url_; }
  // Orders left processing by an earlier run and finalized again at start.
  int resumed_orders() const { return resumed_orders_; }

  // Stops in the order described above. Idempotent.
  void Stop();

 private:
  FrontDoor() = default;

  std::string directory_url_;
  int resumed_orders_ = 0;
  std::unique_ptr<hsm::MacSigner> eab_master_;
  std::unique_ptr<NonceStore> nonces_;
  std::unique_ptr<Http01Validator> http01_;
  std::unique_ptr<Dns01Validator> dns01_;
  std::vector<std::unique_ptr<UpstreamIssuer>> upstreams_;  // one per signer account
  std::unique_ptr<AcmeServer> server_;
  std::unique_ptr<http::HttpsServer> listener_;
};

}  // namespace acme_signer::signer::frontdoor

#endif  // ACME_SIGNER_SIGNER_FRONTDOOR_FRONT_DOOR_H_
