#include "agent/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "acme/dns_names.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"

namespace acme_signer::agent {
namespace {

// Adds one GENERAL_NAME of `type` (GEN_DNS or GEN_URI) holding `value` to `names`.
absl::Status AddName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* gn = GENERAL_NAME_new();
  if (gn == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAME_new");
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  if (ia5 == nullptr || ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    return SslError(absl::StatusCode::kInternal, "ASN1_STRING_set");
  }
  GENERAL_NAME_set0_value(gn, type, ia5);
  if (sk_GENERAL_NAME_push(names, gn) == 0) {
    GENERAL_NAME_free(gn);
    return SslError(absl::StatusCode::kInternal, "sk_GENERAL_NAME_push");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SignedCsrWithSans(const PrivateKey& key, GENERAL_NAMES* sans) {
  SslUniquePtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr) return SslError(absl::StatusCode::kInternal, "X509_REQ_new");
  if (X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "cannot fill CSR");
  }
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  if (exts == nullptr) return SslError(absl::StatusCode::kInternal, "sk_X509_EXTENSION_new_null");
  auto free_exts = [](STACK_OF(X509_EXTENSION) * s) {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  };
  std::unique_ptr<STACK_OF(X509_EXTENSION), decltype(free_exts)> owned_exts(exts, free_exts);
  // The SAN is critical only when the subject is empty (RFC 5280 §4.2.1.6), which it is here.
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, /*crit=*/1, sans);
  if (ext == nullptr || sk_X509_EXTENSION_push(exts, ext) == 0) {
    X509_EXTENSION_free(ext);
    return SslError(absl::StatusCode::kInternal, "cannot encode subjectAltName");
  }
  if (X509_REQ_add_extensions(req.get(), exts) != 1) {
    return SslError(absl::StatusCode::kInternal, "X509_REQ_add_extensions");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return SslError(absl::StatusCode::kInternal, "cannot sign CSR");
  }
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return SslError(absl::StatusCode::kInternal, "i2d_X509_REQ");
  std::unique_ptr<unsigned char, OpenSslFreeDeleter> owned(der);
  return std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len));
}

struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

}  // namespace

absl::StatusOr<std::string> BuildCsrDer(const PrivateKey& key,
                                        absl::Span<const std::string> dns_names) {
  RETURN_IF_ERROR(acme::ValidateDnsNames(dns_names));
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> sans(GENERAL_NAMES_new());
  if (sans == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAMES_new");
  for (const std::string& name : dns_names) RETURN_IF_ERROR(AddName(sans.get(), GEN_DNS, name));
  return SignedCsrWithSans(key, sans.get());
}

absl::StatusOr<std::string> AgentSpiffeId(absl::string_view trust_domain,
                                          absl::string_view agent_name) {
  // The signer's rules (signer/agent_identity.h), from the one home of name rules.
  RETURN_IF_ERROR(acme::ValidateLdhName("trust domain", trust_domain));
  RETURN_IF_ERROR(acme::ValidateSingleLabelName("agent name", agent_name));
  return absl::StrCat("spiffe://", trust_domain, "/agent/", agent_name);
}

absl::StatusOr<std::string> BuildAgentCsrDer(const PrivateKey& key, absl::string_view trust_domain,
                                             absl::string_view agent_name) {
  ASSIGN_OR_RETURN(std::string uri, AgentSpiffeId(trust_domain, agent_name));
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> sans(GENERAL_NAMES_new());
  if (sans == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAMES_new");
  RETURN_IF_ERROR(AddName(sans.get(), GEN_URI, uri));
  return SignedCsrWithSans(key, sans.get());
}

absl::StatusOr<std::string> CsrDerToPem(absl::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SslUniquePtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (req == nullptr) return SslError(absl::StatusCode::kInvalidArgument, "not a DER CSR");
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "cannot write CSR PEM");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace acme_signer::agent
