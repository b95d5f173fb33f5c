#include "signer/order_resource.h"

namespace acme_signer::signer {

absl::string_view OrderResourceKindName(OrderResourceKind kind) {
  switch (kind) {
    case OrderResourceKind::kOrder:
      return "order";
    case OrderResourceKind::kAuthorization:
      return "authorization";
    case OrderResourceKind::kChallenge:
      return "challenge";
    case OrderResourceKind::kCertificate:
      return "certificate";
  }
  return "unknown";
}

}  // namespace acme_signer::signer
