// ACME resource objects (RFC 8555 §7.1) parsed from server JSON, with validation.
//
// Parsing never trusts the server: every member used by the client is type-checked, every
// URL the client will later request must be https, and errors are InvalidArgument naming the
// field ("order.finalize is not an https URL: ..."). Members the client does not need are
// ignored, so a CA that adds fields keeps working. Unknown challenge types (Sectigo's
// sectigo-email-01, ...) are kept as Challenge values with their raw JSON, not rejected.
// Plain value types; thread-compatible. Parse functions are pure and thread-safe.
#ifndef ACME_SIGNER_ACME_RESOURCES_H_
#define ACME_SIGNER_ACME_RESOURCES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "acme/identifier.h"
#include "acme/problem.h"

namespace acme_signer::acme {

// Directory (§7.1.1). newNonce, newAccount and newOrder are required; the rest are empty
// when the CA does not advertise them.
struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string new_authz;
  std::string revoke_cert;
  std::string key_change;
  std::string renewal_info;  // RFC 9773 ARI
  struct Meta {
    std::string terms_of_service;
    std::string website;
    std::vector<std::string> caa_identities;
    bool external_account_required = false;
  } meta;
};
absl::StatusOr<Directory> ParseDirectory(absl::string_view json);

enum class AccountStatus { kValid, kDeactivated, kRevoked };
enum class OrderStatus { kPending, kReady, kProcessing, kValid, kInvalid };
enum class AuthorizationStatus { kPending, kValid, kInvalid, kDeactivated, kExpired, kRevoked };
enum class ChallengeStatus { kPending, kProcessing, kValid, kInvalid };

absl::string_view ToString(AccountStatus status);
absl::string_view ToString(OrderStatus status);
absl::string_view ToString(AuthorizationStatus status);
absl::string_view ToString(ChallengeStatus status);

// Account (§7.1.2). `url` is the account URL (the kid) from the Location header.
struct Account {
  std::string url;
  AccountStatus status = AccountStatus::kValid;
  std::vector<std::string> contact;
  std::string orders;  // empty when not advertised
};
absl::StatusOr<Account> ParseAccount(absl::string_view json);

// Order (§7.1.3).
struct Order {
  std::string url;  // from Location (creation) or the URL it was fetched from
  OrderStatus status = OrderStatus::kPending;
  std::string expires;  // RFC 3339 text as sent, empty when absent
  std::vector<Identifier> identifiers;
  std::string not_before;
  std::string not_after;
  std::vector<std::string> authorizations;  // https URLs
  std::string finalize;                     // https URL
  std::string certificate;                  // https URL, set once valid
  std::string replaces;                     // RFC 9773 ARI certificate id, empty when absent
  std::optional<Problem> error;
};
absl::StatusOr<Order> ParseOrder(absl::string_view json);

// Challenge types this client can compute a response for.
inline constexpr absl::string_view kHttp01 = "http-01";
inline constexpr absl::string_view kDns01 = "dns-01";
inline constexpr absl::string_view kTlsAlpn01 = "tls-alpn-01";

// Challenge (§7.1.5, §8). For http-01/dns-01/tls-alpn-01 `token` is required and checked to
// be base64url; for other types it is kept if present. `raw_json` is the challenge object as
// the server sent it, for types the client does not understand.
struct Challenge {
  std::string type;
  std::string url;
  ChallengeStatus status = ChallengeStatus::kPending;
  std::string token;
  std::string validated;
  std::optional<Problem> error;
  std::string raw_json;

  // True for http-01, dns-01 and tls-alpn-01.
  bool IsKnownType() const;
};
absl::StatusOr<Challenge> ParseChallenge(absl::string_view json);

// Authorization (§7.1.4). An authorization that is already valid (authorization reuse,
// Sectigo pre-validated domains) may carry no challenges at all.
struct Authorization {
  std::string url;
  Identifier identifier;
  AuthorizationStatus status = AuthorizationStatus::kPending;
  std::string expires;
  std::vector<Challenge> challenges;
  bool wildcard = false;

  // The first challenge of `type`, or nullptr.
  const Challenge* Find(absl::string_view type) const;
};
absl::StatusOr<Authorization> ParseAuthorization(absl::string_view json);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_RESOURCES_H_
