// Client identities the signer must refuse, made in-process with OpenSSL for the TLS denial
// tests: certificates carrying a real agent's SPIFFE URI but self-signed, from a CA the
// signer never saw, or expired; and a raw GetAccount over a channel with any credentials.
//
// Thread-safety: free functions; each call uses only its arguments.
#ifndef ACME_SIGNER_TESTS_TESTING_TEST_IDENTITIES_H_
#define ACME_SIGNER_TESTS_TESTING_TEST_IDENTITIES_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/ssl_unique_ptr.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/signer_lab.h"

namespace acme_signer::testing {

std::string PemOf(X509* cert);
std::string KeyPemOf(EVP_PKEY* key);

// A certificate for `subject_key`, valid from `not_before` to `not_after` seconds from now,
// signed by `issuer` (self-signed when null) with `issuer_key`; nullptr when OpenSSL fails.
SslUniquePtr<X509> MakeCertificate(EVP_PKEY* subject_key, absl::string_view subject_cn,
                                   X509* issuer, EVP_PKEY* issuer_key, long not_before,
                                   long not_after,
                                   const std::vector<std::pair<int, std::string>>& extensions);

// The extensions of an agent's client certificate for `uri` (clientAuth, URI SAN).
std::vector<std::pair<int, std::string>> AgentLeafExtensions(absl::string_view uri);

struct TestIdentity {
  std::string cert_pem;  // leaf, then its CA when there is one
  std::string key_pem;
};

// A self-signed P-256 leaf carrying `uri`, valid now.
std::optional<TestIdentity> MakeSelfSignedIdentity(absl::string_view uri);

// A P-256 leaf carrying `uri` from a fresh self-signed CA named `ca_cn`, valid from
// `not_before` to `not_after` seconds from now (both negative: expired).
std::optional<TestIdentity> MakeIdentityFromTestCa(absl::string_view uri, absl::string_view ca_cn,
                                                   long not_before, long not_after);

// GetAccount on the lab's signer over a channel with these TLS client credentials (none when
// `cert_pem` is empty), trusting the lab's agent CA; a 10 s deadline.
grpc::Status RawGetAccount(const SignerLab& lab, const std::string& cert_pem,
                           const std::string& key_pem);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_TEST_IDENTITIES_H_
