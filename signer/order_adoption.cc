#include "signer/order_adoption.h"

#include <openssl/x509.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "signer/audit_record.h"
#include "signer/identifier_text.h"
#include "signer/proto_convert.h"

namespace acme_signer::signer {
namespace {

KnownOrder ToKnownOrder(const OrderRecord& record) {
  return KnownOrder{record.order_url, record.finalize_url, record.identifiers, record.agent};
}

}  // namespace

CertificateRecord InventoryRecordFor(const acme::CertificateChain& chain,
                                     absl::string_view agent, absl::string_view account,
                                     const acme::Order& order) {
  CertificateRecord cert;
  cert.serial = chain.serial_hex;
  cert.agent = std::string(agent);
  cert.account = std::string(account);
  for (const acme::Identifier& id : order.identifiers) cert.names.push_back(id.value);
  cert.not_before = chain.not_before;  // read with the chain: no second decode of the leaf
  cert.not_after = chain.not_after;
  cert.order_url = order.url;
  cert.certificate_sha256 = Sha256Hex(chain.leaf_der);
  return cert;
}

absl::StatusOr<OrderAdoption> OrderAdoption::Prepare(acme::AcmeClient& acme,
                                                     absl::string_view account, StateStore& store,
                                                     const AgentPolicy& policy,
                                                     absl::string_view order_url,
                                                     absl::string_view target_url) {
  OrderAdoption adoption(acme, std::string(account), store, policy.name);
  if (order_url.empty()) return adoption;
  adoption.candidate_.order_url = std::string(order_url);
  adoption.candidate_.agent = policy.name;
  adoption.candidate_.account = std::string(account);

  absl::StatusOr<OrderRecord> known = store.FindOrder(order_url);
  if (known.ok()) {
    if (known->agent != policy.name) {
      return absl::PermissionDeniedError(
          absl::StrCat("order ", order_url, " was created by another agent, not ", policy.name));
    }
    if (known->account != account) {
      return absl::PermissionDeniedError(
          absl::StrCat("order ", order_url, " was made with account ", known->account,
                       ", not ", account, ": sign its requests with that account"));
    }
    // The agent's own order: the CA is asked again only for a URL the signer has not seen, which
    // is the certificate (and its alternates) once the order is valid.
    absl::StatusOr<OrderResource> resource = store.FindOrderResource(target_url, policy.name);
    if (resource.ok() && resource->agent == policy.name) {
      adoption.target_resource_ = *std::move(resource);
      return adoption;
    }
    if (known->finalize_url == target_url) return adoption;
    if (!resource.ok() && !absl::IsNotFound(resource.status())) return resource.status();
    ASSIGN_OR_RETURN(acme::Fetched<acme::Order> fetched, acme.GetOrder(order_url));
    adoption.order_ = std::move(fetched.value);
    adoption.order_->url = std::string(order_url);
    adoption.LearnCertificate(*adoption.order_, target_url);
    return adoption;
  }
  if (!absl::IsNotFound(known.status())) return known.status();

  // An order new to the signer: the agent claims it. It must be one the signer signed the
  // newOrder for, for this agent, and inside its policy.
  ASSIGN_OR_RETURN(acme::Fetched<acme::Order> fetched, acme.GetOrder(order_url));
  acme::Order& order = fetched.value;
  order.url = std::string(order_url);
  if (absl::Status allowed = CheckIdentifiers(policy, order.identifiers); !allowed.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("order ", order_url, " cannot be adopted: ", allowed.message()));
  }
  ASSIGN_OR_RETURN(bool signed_new_order,
                   store.HasNewOrderIntent(policy.name, account, order.identifiers,
                                           absl::Now() - kNewOrderIntentLifetime));
  if (!signed_new_order) {
    return absl::PermissionDeniedError(absl::StrCat(
        "order ", order_url, " (", absl::StrJoin(IdentifierTexts(order.identifiers), ", "),
        ") cannot be adopted: the signer signed no unused newOrder for exactly these "
        "identifiers for agent ",
        policy.name, " with account ", account, " in the last ", absl::FormatDuration(kNewOrderIntentLifetime)));
  }
  adoption.adopt_ = true;
  adoption.candidate_.identifiers = order.identifiers;
  adoption.candidate_.finalize_url = order.finalize;
  RETURN_IF_ERROR(adoption.LearnAuthorizations(order));
  adoption.LearnCertificate(order, target_url);
  adoption.order_ = std::move(order);
  return adoption;
}

absl::Status OrderAdoption::LearnAuthorizations(const acme::Order& order) {
  for (const std::string& authz_url : order.authorizations) {
    candidate_.resources.push_back(
        OrderResource{authz_url, order.url, agent_, OrderResourceKind::kAuthorization});
    ASSIGN_OR_RETURN(acme::Fetched<acme::Authorization> authz, acme_->GetAuthorization(authz_url));
    for (const acme::Challenge& challenge : authz.value.challenges) {
      candidate_.resources.push_back(
          OrderResource{challenge.url, order.url, agent_, OrderResourceKind::kChallenge});
    }
  }
  return absl::OkStatus();
}

void OrderAdoption::LearnCertificate(const acme::Order& order, absl::string_view target_url) {
  if (order.status != acme::OrderStatus::kValid || order.certificate.empty()) return;
  candidate_.resources.push_back(
      OrderResource{order.certificate, order.url, agent_, OrderResourceKind::kCertificate});
  if (target_url == order.certificate) {
    new_certificate_url_ = order.certificate;
  } else if (absl::StartsWith(target_url, absl::StrCat(order.certificate, "/"))) {
    // An alternate chain (Pebble: <certificate>/alternate/N, Let's Encrypt: <certificate>/N):
    // the same leaf under another issuer.
    candidate_.resources.push_back(OrderResource{std::string(target_url), order.url, agent_,
                                                 OrderResourceKind::kCertificate});
  }
}

std::optional<KnownOrder> OrderAdoption::FindOrderByFinalizeUrl(absl::string_view url) const {
  if (absl::StatusOr<OrderRecord> known = store_->FindOrderByFinalizeUrl(url); known.ok()) {
    return ToKnownOrder(*known);
  }
  if (adopt_ && order_.has_value() && order_->finalize == url) {
    return KnownOrder{order_->url, order_->finalize, order_->identifiers, agent_};
  }
  return std::nullopt;
}

std::optional<OrderResource> OrderAdoption::FindResource(absl::string_view url) const {
  if (target_resource_.has_value() && target_resource_->url == url) return target_resource_;
  absl::StatusOr<OrderResource> stored = store_->FindOrderResource(url, agent_);
  if (stored.ok() && stored->agent == agent_) return *stored;
  if (adopt_ && url == candidate_.order_url) {
    return OrderResource{candidate_.order_url, candidate_.order_url, agent_,
                         OrderResourceKind::kOrder};
  }
  for (const OrderResource& resource : candidate_.resources) {
    if (resource.url == url) return resource;
  }
  if (stored.ok()) return *stored;  // another agent's: the classifier says so
  return std::nullopt;
}

absl::Status OrderAdoption::Commit(std::string* inventory_serial) {
  if (adopt_) {
    RETURN_IF_ERROR(store_->AdoptOrder(candidate_));
  } else {
    for (const OrderResource& resource : candidate_.resources) {
      RETURN_IF_ERROR(store_->RecordOrderResource(resource));
    }
  }
  if (new_certificate_url_.empty() || !order_.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(acme::CertificateDownload download,
                   acme_->GetCertificate(new_certificate_url_, /*with_alternates=*/false));
  if (download.chains.empty()) {
    return absl::UnavailableError(
        absl::StrCat("the CA sent no certificate at ", new_certificate_url_));
  }
  const acme::CertificateChain& chain = download.chains.front();
  RETURN_IF_ERROR(store_->RecordCertificate(InventoryRecordFor(chain, agent_, account_, *order_)));
  if (inventory_serial != nullptr) *inventory_serial = chain.serial_hex;
  return absl::OkStatus();
}

}  // namespace acme_signer::signer
