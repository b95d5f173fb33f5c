#include "tests/testing/certificate_reading.h"

#include <openssl/x509v3.h>

#include <utility>

#include "common/x509.h"

namespace acme_signer::testing {

std::vector<SslUniquePtr<X509>> ParseChain(absl::string_view pem) {
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> certs = ReadPemCertificates(pem);
  if (!certs.ok()) return {};
  return *std::move(certs);
}

std::vector<std::string> DnsSans(X509* cert) {
  std::vector<std::string> names;
  SslUniquePtr<GENERAL_NAMES> sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS) continue;
    const ASN1_STRING* s = name->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return names;
}

}  // namespace acme_signer::testing
