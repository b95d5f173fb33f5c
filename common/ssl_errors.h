// Turns OpenSSL's thread-local error queue into text, in one place.
#ifndef ACME_SIGNER_COMMON_SSL_ERRORS_H_
#define ACME_SIGNER_COMMON_SSL_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace acme_signer {

// Drains the calling thread's OpenSSL error queue and returns it as "reason; reason",
// or "no OpenSSL error reported" when the queue was empty.
std::string SslErrors();

// absl::Status with `code` and "context: <SslErrors()>".
absl::Status SslError(absl::StatusCode code, absl::string_view context);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_SSL_ERRORS_H_
