#include "signer/account_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace acme_signer::signer {

http::CurlHttpClientOptions CaHttpOptions(const AccountConfig& account) {
  http::CurlHttpClientOptions options;
  if (account.ca_bundle.has_value()) options.ca_bundle_path = *account.ca_bundle;
  options.total_timeout = absl::Milliseconds(account.request_timeout_ms);
  options.connect_timeout = std::min(options.connect_timeout, options.total_timeout);
  return options;
}

absl::StatusOr<std::unique_ptr<AccountSet>> AccountSet::Open(const SignerConfig& config,
                                                             hsm::Token& token,
                                                             const StateStore& store) {
  auto set = std::unique_ptr<AccountSet>(new AccountSet());
  for (const AccountConfig& account : config.accounts) {
    auto served = std::make_unique<ServedAccount>();
    served->config = account;
    absl::StatusOr<std::unique_ptr<hsm::JwsSigner>> key = token.OpenSigningKey(account.key);
    if (key.status().code() == absl::StatusCode::kNotFound) {
      return absl::FailedPreconditionError(
          absl::StrCat("account ", account.name, ": no key ", account.key, " in token ",
                       token.label(), "; run `acme-signer init --config ", config.source,
                       "` first"));
    }
    if (!key.ok()) {
      return absl::Status(key.status().code(), absl::StrCat("account ", account.name, ": key ",
                                                            account.key, ": ",
                                                            key.status().message()));
    }
    served->key = *std::move(key);
    ASSIGN_OR_RETURN(served->http, http::CurlHttpClient::Create(CaHttpOptions(account)));
    acme::AcmeClientOptions options;
    options.directory_url = account.directory_url;
    ASSIGN_OR_RETURN(std::optional<AccountRecord> record, store.FindAccount(account.name));
    if (record.has_value()) {
      options.account_url = record->account_url;
      if (!record->status.empty()) served->status = record->status;
    }
    ASSIGN_OR_RETURN(served->acme, acme::AcmeClient::Create(*served->http, *served->key, options));
    set->accounts_.push_back(std::move(served));
  }
  return set;
}

ServedAccount* AccountSet::Find(absl::string_view name) const {
  for (const auto& account : accounts_) {
    if (account->name() == name) return account.get();
  }
  return nullptr;
}

absl::StatusOr<ServedAccount*> AccountSet::ForAgent(const AgentPolicy& policy,
                                                    absl::string_view requested) const {
  const std::string name = requested.empty() ? policy.default_account : std::string(requested);
  if (!policy.MayUseAccount(name)) {
    return absl::PermissionDeniedError(
        absl::StrCat("agent ", policy.name, " may not use account \"", name,
                     "\" (it may use: ", absl::StrJoin(policy.accounts, ", "), ")"));
  }
  ServedAccount* account = Find(name);
  if (account == nullptr) {
    return absl::NotFoundError(absl::StrCat("no account \"", name, "\" on this signer"));
  }
  if (account->deactivated()) {
    std::vector<std::string> usable;
    for (const std::string& other : policy.accounts) {
      const ServedAccount* candidate = Find(other);
      if (candidate != nullptr && !candidate->deactivated()) usable.push_back(other);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "account \"", name, "\" (", account->config.directory_url,
        ") was deactivated at its CA with `acme-signer account deactivate`; the CA refuses it "
        "for good, so this signer does not use it any more (agent ", policy.name,
        usable.empty() ? " may use no other account: ask the signer's operator for one)"
                       : absl::StrCat(" may use: ", absl::StrJoin(usable, ", "), ")")));
  }
  return account;
}

absl::Status AccountSet::CheckAllRegistered(absl::string_view config_path) const {
  for (const auto& account : accounts_) {
    if (!account->registered()) {
      return absl::FailedPreconditionError(
          absl::StrCat("account ", account->name(), " (", account->config.directory_url,
                       ") is not registered; run `acme-signer init --config ", config_path,
                       "` first"));
    }
  }
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
