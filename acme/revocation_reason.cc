#include "acme/revocation_reason.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace acme_signer::acme {
namespace {

constexpr RevocationReason kAccepted[] = {
    RevocationReason::kUnspecified,        RevocationReason::kKeyCompromise,
    RevocationReason::kAffiliationChanged, RevocationReason::kSuperseded,
    RevocationReason::kCessationOfOperation,
};

std::string AcceptedList(bool with_codes) {
  std::vector<std::string> parts;
  for (RevocationReason reason : kAccepted) {
    parts.push_back(with_codes ? absl::StrCat(static_cast<int>(reason), " ",
                                              RevocationReasonName(reason))
                               : std::string(RevocationReasonName(reason)));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

absl::string_view RevocationReasonName(RevocationReason reason) {
  switch (reason) {
    case RevocationReason::kUnspecified:
      return "unspecified";
    case RevocationReason::kKeyCompromise:
      return "keyCompromise";
    case RevocationReason::kAffiliationChanged:
      return "affiliationChanged";
    case RevocationReason::kSuperseded:
      return "superseded";
    case RevocationReason::kCessationOfOperation:
      return "cessationOfOperation";
  }
  return "unknown";
}

absl::StatusOr<RevocationReason> RevocationReasonFromCode(int64_t code) {
  for (RevocationReason reason : kAccepted) {
    if (static_cast<int64_t>(reason) == code) return reason;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("revocation reason ", code, " is not one ACME CAs accept (",
                   AcceptedList(/*with_codes=*/true), ")"));
}

absl::StatusOr<RevocationReason> RevocationReasonFromName(absl::string_view name) {
  for (RevocationReason reason : kAccepted) {
    if (absl::EqualsIgnoreCase(name, RevocationReasonName(reason))) return reason;
  }
  return absl::InvalidArgumentError(absl::StrCat("revocation reason \"", name,
                                                 "\" is not one of ",
                                                 AcceptedList(/*with_codes=*/false)));
}

}  // namespace acme_signer::acme
