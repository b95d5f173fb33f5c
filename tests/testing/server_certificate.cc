#include "tests/testing/server_certificate.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/ssl_errors.h"

namespace acme_signer::testing {

absl::StatusOr<ServerCertificate> MakeSelfSignedServerCertificate(
    absl::string_view what, absl::string_view common_name, absl::string_view subject_alt_names,
    absl::Duration validity) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return SslError(absl::StatusCode::kInternal, "generating a P-256 key");
  SslUniquePtr<X509> cert(X509_new());
  if (cert == nullptr) return SslError(absl::StatusCode::kInternal, "X509_new");
  SslUniquePtr<BIGNUM> serial(BN_new());
  const std::string cn(common_name);
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 && serial != nullptr &&
            BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                            static_cast<long>(absl::ToInt64Seconds(validity))) != nullptr &&
            X509_set_pubkey(cert.get(), key.get()) == 1;
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                  0) == 1 &&
       X509_set_issuer_name(cert.get(), name) == 1;
  if (!ok) return SslError(absl::StatusCode::kInternal, absl::StrCat("building ", what));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::string sans(subject_alt_names);
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:TRUE"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_subject_alt_name, sans.c_str()},
  };
  for (const auto& [nid, value] : extensions) {
    SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (ext == nullptr || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      return SslError(absl::StatusCode::kInternal,
                      absl::StrCat("adding extension ", value, " to ", what));
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return SslError(absl::StatusCode::kInternal, absl::StrCat("signing ", what));
  }
  return ServerCertificate{std::move(key), std::move(cert)};
}

}  // namespace acme_signer::testing
