// base64url (RFC 4648 §5) as JWS and ACME use it: without padding (RFC 7515 §2, RFC 8555 §6.1).
// The one encoder and the one strict decoder of the project, so that the agent, the ACME client
// and the signer's request classifier never read one text two ways.
// Pure functions; thread-safe.
#ifndef ACME_SIGNER_COMMON_BASE64URL_H_
#define ACME_SIGNER_COMMON_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace acme_signer {

// base64url of `data`, without padding.
std::string Base64Url(absl::string_view data);

// Decodes unpadded, canonical base64url: every character in [A-Za-z0-9_-], no "=", no
// whitespace, and the unused bits of the last character zero (so each byte string has exactly
// one accepted text). The empty text decodes to "". InvalidArgument naming `what`:
// "<what> is not unpadded base64url (character 'c')" or "<what> is not canonical base64url".
// The message quotes at most one character of `text`; callers decoding a secret replace it.
absl::StatusOr<std::string> DecodeBase64Url(absl::string_view text, absl::string_view what);

// True when `text` is non-empty and uses only the base64url alphabet [A-Za-z0-9_-]: what ACME
// tokens, nonces and thumbprints must look like before they go into URLs, headers or file names.
bool IsBase64Url(absl::string_view text);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_BASE64URL_H_
