// A self-signed TLS server certificate for test servers on loopback (Pebble, the fault proxy):
// a P-256 key and a certificate that is its own CA and the server's leaf, the shape of
// `openssl req -x509`, so clients can use the certificate file itself as their CA bundle.
//
// Thread-safety: a free function; each call uses only its arguments.
#ifndef ACME_SIGNER_TESTS_TESTING_SERVER_CERTIFICATE_H_
#define ACME_SIGNER_TESTS_TESTING_SERVER_CERTIFICATE_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer::testing {

struct ServerCertificate {
  SslUniquePtr<EVP_PKEY> key;
  SslUniquePtr<X509> cert;
};

// `subject_alt_names` in OpenSSL's config syntax ("DNS:localhost,IP:127.0.0.1"); valid from an
// hour ago for `validity`. Errors name `what` (e.g. "the Pebble TLS certificate") and OpenSSL's
// reason.
absl::StatusOr<ServerCertificate> MakeSelfSignedServerCertificate(
    absl::string_view what, absl::string_view common_name, absl::string_view subject_alt_names,
    absl::Duration validity);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_SERVER_CERTIFICATE_H_
