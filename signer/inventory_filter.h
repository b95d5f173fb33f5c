// Which certificates `acme-signer inventory --name N --expiring DAYS` lists, and the text of
// its revoked column. The store returns the whole (agent/account-filtered) inventory; names
// are a JSON column, so the name rule (the same as `audit query --name`, signer/audit_query.h)
// runs here rather than in SQL.
//
// Thread-safety: value types and pure functions.
#ifndef ACME_SIGNER_SIGNER_INVENTORY_FILTER_H_
#define ACME_SIGNER_SIGNER_INVENTORY_FILTER_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "signer/state_store.h"

namespace acme_signer::signer {

struct InventoryFilter {
  // As ParseQueryName returns it: an exact DNS name or "*.example.org".
  std::optional<std::string> name;
  // --expiring DAYS: certificates not revoked whose not_after is between `now` and
  // now + expiring (already expired ones are not "expiring": they are history).
  std::optional<absl::Duration> expiring;
  absl::Time now = absl::InfinitePast();
};

bool InventoryMatches(const InventoryFilter& filter, const CertificateRecord& cert);

// "no", or when and why it was revoked as one token: "2024-05-01T12:00:00Z,keyCompromise"
// (the RFC 5280 code as a number for a reason ACME clients cannot request).
std::string InventoryRevokedText(const CertificateRecord& cert);

}  // namespace acme_signer::signer

#endif  // ACME_SIGNER_SIGNER_INVENTORY_FILTER_H_
