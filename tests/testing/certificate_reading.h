// Reading the certificates the tests obtained: a PEM bundle into X509s, the DNS names of one.
//
// Thread-safety: free functions; each call uses only its arguments.
#ifndef ACME_SIGNER_TESTS_TESTING_CERTIFICATE_READING_H_
#define ACME_SIGNER_TESTS_TESTING_CERTIFICATE_READING_H_

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer::testing {

// Every certificate in a PEM bundle, in order (common/x509.h ReadPemCertificates); empty when
// there is none or a block does not parse.
std::vector<SslUniquePtr<X509>> ParseChain(absl::string_view pem);

// The dNSName entries of the certificate's subjectAltName, in order.
std::vector<std::string> DnsSans(X509* cert);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_CERTIFICATE_READING_H_
