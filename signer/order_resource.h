// OrderResource: a URL that an ACME order leads to at the CA (the order, its authorizations,
// challenges and certificate), and the agent that owns it. The signer signs requests to such
// a URL for its owner only (SignJws; docs/policy.md).
//
// Plain value types: thread-compatible.
#ifndef ACME_SIGNER_SIGNER_ORDER_RESOURCE_H_
#define ACME_SIGNER_SIGNER_ORDER_RESOURCE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace acme_signer::signer {

// Everything an agent may read or answer through SignJws is one of these, recorded for the
// agent that created or adopted the order.
enum class OrderResourceKind { kOrder, kAuthorization, kChallenge, kCertificate };

// "order", "authorization", "challenge", "certificate".
absl::string_view OrderResourceKindName(OrderResourceKind kind);

struct OrderResource {
  std::string url;
  std::string order_url;  // the order it belongs to ("" for rows migrated from schema 1)
  std::string agent;
  OrderResourceKind kind = OrderResourceKind::kOrder;
};

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_ORDER_RESOURCE_H_
