// Small hashing and encoding helpers used across the ACME engine.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_ACME_DIGEST_H_
#define ACME_SIGNER_ACME_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer::acme {

// SHA-256 of `data` (32 raw bytes). Fails only if OpenSSL cannot provide SHA-256 (Internal).
absl::StatusOr<std::string> Sha256(absl::string_view data);

// base64url without padding (RFC 7515 §2), as ACME requires everywhere.
std::string Base64Url(absl::string_view data);

// Decodes base64url; padding is refused because ACME never sends it (RFC 8555 §6.1).
// InvalidArgument naming `what` when the text is not base64url.
absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text, absl::string_view what);

// True when `text` is non-empty and uses only the base64url alphabet [A-Za-z0-9_-]: what
// ACME tokens and thumbprints must look like before they go into URLs and file names.
bool IsBase64UrlText(absl::string_view text);

}  // namespace acme_signer::acme

#endif  // ACME_SIGNER_ACME_DIGEST_H_
