// OrderAdoption: how the signer learns, in direct mode, which CA resources an agent's SignJws
// requests may touch. It is the explicit I/O step before the (pure) JWS classification.
//
// In direct mode the agent posts the newOrder the signer signed and the signer never sees the
// CA's answer. So the agent names its order (SignJws order_url) on every later request, and the
// first time the signer sees that order it fetches it (and its authorizations) with the account
// key and checks that
//   - the order's identifiers pass the agent's policy, and
//   - the signer signed a newOrder for exactly these identifiers for this agent (in the last
//     kNewOrderIntentLifetime) that no other order has used up yet,
// then offers its URLs to the classifier as this agent's. Nothing is recorded unless the request
// is allowed (Commit): a refused finalize with a bad CSR, for example, adopts nothing and locks
// nobody out. The certificate URL is learnt when the order is valid; when it is first signed for,
// the signer downloads the certificate itself and puts it in the agent's inventory, so direct-mode
// certificates are attributed and revocable like relayed ones.
//
// Thread-safety: one OrderAdoption per call; not shared between threads.
#ifndef ACME_SIGNER_SIGNER_ORDER_ADOPTION_H_
#define ACME_SIGNER_SIGNER_ORDER_ADOPTION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "acme/certificate_chain.h"
#include "acme/client.h"
#include "signer/jws_request_classifier.h"
#include "signer/name_policy.h"
#include "signer/order_resource.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

// How long a signed newOrder may be adopted: a pending order lives 7 days at Let's Encrypt.
inline constexpr absl::Duration kNewOrderIntentLifetime = absl::Hours(7 * 24);

// The inventory entry for `chain`, issued to `agent` under `account` for `order` (serial, names,
// validity, SHA-256 of the leaf): one definition for the relay and the direct path.
CertificateRecord InventoryRecordFor(const acme::CertificateChain& chain,
                                     absl::string_view agent, absl::string_view account,
                                     const acme::Order& order);

class OrderAdoption {
 public:
  // Prepares the lookups for one SignJws by `policy`'s agent, signing as `account` (whose
  // engine `acme` is), for `target_url`, naming `order_url` (may be empty: then only what the
  // store already knows is offered). Fetches from the CA only when the order, or the URL, is
  // new to the signer.
  // Errors: PermissionDenied (the order is another agent's or was made with another account,
  // names outside the policy, no signed newOrder matches it), the CA's errors when the order
  // cannot be fetched, store errors.
  static absl::StatusOr<OrderAdoption> Prepare(acme::AcmeClient& acme, absl::string_view account,
                                               StateStore& store, const AgentPolicy& policy,
                                               absl::string_view order_url,
                                               absl::string_view target_url);

  // The lookups for JwsRequestContext: the store's answer, else what Prepare learnt.
  std::optional<KnownOrder> FindOrderByFinalizeUrl(absl::string_view url) const;
  std::optional<OrderResource> FindResource(absl::string_view url) const;

  // Records what Prepare learnt, once the request was allowed: the adopted order with its
  // resources, or a newly learnt certificate URL (then the certificate is downloaded and added
  // to the inventory). `inventory_serial` is set to the recorded certificate's serial.
  absl::Status Commit(std::string* inventory_serial);

 private:
  OrderAdoption(acme::AcmeClient& acme, std::string account, StateStore& store,
                std::string agent)
      : acme_(&acme), store_(&store), agent_(std::move(agent)), account_(std::move(account)) {}

  // Fetches the order's authorizations into candidate_.resources.
  absl::Status LearnAuthorizations(const acme::Order& order);
  // Adds the certificate URL (and `target_url` when it is one of its alternates) once valid.
  void LearnCertificate(const acme::Order& order, absl::string_view target_url);

  acme::AcmeClient* acme_;
  StateStore* store_;
  std::string agent_;
  std::string account_;
  bool adopt_ = false;                    // the order is new: AdoptOrder on Commit
  std::optional<acme::Order> order_;      // as fetched from the CA, when it was
  AdoptedOrder candidate_;                // what Commit records
  std::string new_certificate_url_;       // a certificate URL learnt now
  // The stored resource at the target URL when Prepare already looked it up (its own
  // order's resource), so FindResource does not read it again.
  std::optional<OrderResource> target_resource_;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ORDER_ADOPTION_H_
