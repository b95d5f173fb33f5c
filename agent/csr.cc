#include "agent/csr.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "acme/dns_names.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"

namespace acme_signer::agent {
namespace {

absl::StatusOr<std::string> SignedCsrWithSans(const PrivateKey& key, GENERAL_NAMES* sans) {
  SslUniquePtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr) return SslError(absl::StatusCode::kInternal, "X509_REQ_new");
  if (X509_REQ_set_version(req.get(), 0) != 1 || X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "cannot fill CSR");
  }
  X509ExtensionStack exts(sk_X509_EXTENSION_new_null());
  if (exts == nullptr) return SslError(absl::StatusCode::kInternal, "sk_X509_EXTENSION_new_null");
  // The SAN is critical only when the subject is empty (RFC 5280 §4.2.1.6), which it is here.
  SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_i2d(NID_subject_alt_name, /*crit=*/1, sans));
  if (ext == nullptr || sk_X509_EXTENSION_push(exts.get(), ext.get()) == 0) {
    return SslError(absl::StatusCode::kInternal, "cannot encode subjectAltName");
  }
  ext.release();  // the stack owns it now
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "X509_REQ_add_extensions");
  }
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return SslError(absl::StatusCode::kInternal, "cannot sign CSR");
  }
  return CsrToDer(*req);
}

}  // namespace

absl::StatusOr<std::string> BuildCsrDer(const PrivateKey& key,
                                        absl::Span<const std::string> dns_names) {
  RETURN_IF_ERROR(acme::ValidateDnsNames(dns_names));
  SslUniquePtr<GENERAL_NAMES> sans(GENERAL_NAMES_new());
  if (sans == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAMES_new");
  for (const std::string& name : dns_names) RETURN_IF_ERROR(AddIa5GeneralName(*sans, GEN_DNS, name));
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
  SslUniquePtr<GENERAL_NAMES> sans(GENERAL_NAMES_new());
  if (sans == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAMES_new");
  RETURN_IF_ERROR(AddIa5GeneralName(*sans, GEN_URI, uri));
  return SignedCsrWithSans(key, sans.get());
}

absl::StatusOr<std::string> CsrDerToPem(absl::string_view der) {
  ASSIGN_OR_RETURN(SslUniquePtr<X509_REQ> req, ParseCsrDer(der));
  return CsrToPem(*req);
}

}  // namespace acme_signer::agent
