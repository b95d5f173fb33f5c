// AccountSet: the signer's ACME accounts ([[accounts]]) opened for use: per account its HSM
// key, an HTTPS client with the account's CA bundle and timeouts, and the ACME engine that
// signs with that key. One home for "which account does this request act as".
//
// Thread-safety: thread-safe after Open (the set never changes; each AcmeClient is
// thread-safe).
#ifndef ACME_SIGNER_SIGNER_ACCOUNT_SET_H_
#define ACME_SIGNER_SIGNER_ACCOUNT_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "acme/client.h"
#include "hsm/jws_signer.h"
#include "hsm/token.h"
#include "http/curl_http_client.h"
#include "signer/config.h"
#include "signer/name_policy.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

struct ServedAccount {
  AccountConfig config;  // as at start (account settings are not reloadable)
  std::unique_ptr<hsm::JwsSigner> key;
  std::unique_ptr<http::CurlHttpClient> http;
  // Knows the account URL when `acme-signer init` registered the account (else empty).
  std::unique_ptr<acme::AcmeClient> acme;
  // The account's status as the store records it at start ("valid", or "deactivated" after
  // `acme-signer account deactivate`, which runs only while serve is stopped).
  std::string status = "valid";

  bool deactivated() const { return status == "deactivated"; }

  // Keys `acme` signed with before a key rollover (signer/account_rollover.h) switched it,
  // and the keys it was switched to: kept open for requests still signing with them. Changed
  // only by serve's signal thread; nothing else reads it.
  std::vector<std::unique_ptr<hsm::JwsSigner>> rollover_keys;

  const std::string& name() const { return config.name; }
  bool registered() const { return !acme->account_url().empty(); }
};

class AccountSet {
 public:
  // Opens every account of `config`: its key from `token` (FailedPrecondition naming the
  // account and `acme-signer init` when the key is missing), an HTTPS client and the engine,
  // with the account URL recorded in `store` (accounts table).
  static absl::StatusOr<std::unique_ptr<AccountSet>> Open(const SignerConfig& config,
                                                          hsm::Token& token,
                                                          const StateStore& store);

  // The account named `name`, or nullptr.
  ServedAccount* Find(absl::string_view name) const;
  const std::vector<std::unique_ptr<ServedAccount>>& all() const { return accounts_; }

  // The account a request of `policy`'s agent acts as: `requested` (an [[accounts]] name), or
  // the agent's default_account when empty. PermissionDenied when the agent may not use it
  // (naming the accounts it may use), NotFound when no such account is configured,
  // FailedPrecondition when the account was deactivated (the CA refuses it for good).
  absl::StatusOr<ServedAccount*> ForAgent(const AgentPolicy& policy,
                                          absl::string_view requested) const;

  // FailedPrecondition naming the first account `acme-signer init` has not registered yet.
  absl::Status CheckAllRegistered(absl::string_view config_path) const;

 private:
  std::vector<std::unique_ptr<ServedAccount>> accounts_;
};

// The HTTPS client options for talking to `account`'s CA (ca_bundle, request timeout).
http::CurlHttpClientOptions CaHttpOptions(const AccountConfig& account);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ACCOUNT_SET_H_
