#include "signer/inventory_filter.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "acme/revocation_reason.h"
#include "signer/audit_query.h"

namespace acme_signer::signer {

bool InventoryMatches(const InventoryFilter& filter, const CertificateRecord& cert) {
  if (filter.name.has_value()) {
    bool any = false;
    for (const std::string& name : cert.names) any = any || QueryNameMatches(*filter.name, name);
    if (!any) return false;
  }
  if (filter.expiring.has_value()) {
    if (cert.revoked) return false;
    if (cert.not_after < filter.now || cert.not_after > filter.now + *filter.expiring) {
      return false;
    }
  }
  return true;
}

std::string InventoryRevokedText(const CertificateRecord& cert) {
  if (!cert.revoked) return "no";
  absl::StatusOr<acme::RevocationReason> reason =
      acme::RevocationReasonFromCode(cert.revocation_reason);
  const std::string when =
      cert.revoked_at == absl::InfinitePast()
          ? "yes"
          : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", cert.revoked_at, absl::UTCTimeZone());
  return absl::StrCat(when, ",",
                      reason.ok() ? std::string(acme::RevocationReasonName(*reason))
                                  : absl::StrCat(cert.revocation_reason));
}

}  // namespace acme_signer::signer
