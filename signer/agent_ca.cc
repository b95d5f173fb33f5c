#include "signer/agent_ca.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/x509.h"
#include "hsm/jws_signer.h"
#include "signer/agent_identity.h"

namespace acme_signer::signer {
namespace {

// Backdating absorbs clock skew between the signer and the hosts that verify.
constexpr absl::Duration kBackdate = absl::Minutes(5);
constexpr absl::Duration kMaxCaValidity = absl::Hours(24 * 365 * 30);
constexpr int kMaxRsaBits = 8192;

// DER tag-length-value with a definite length.
std::string DerTlv(uint8_t tag, absl::string_view content) {
  std::string out(1, static_cast<char>(tag));
  size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<char>(n));
  } else {
    std::string length;
    for (; n > 0; n >>= 8) length.insert(length.begin(), static_cast<char>(n & 0xff));
    out.push_back(static_cast<char>(0x80 | length.size()));
    out += length;
  }
  out.append(content.data(), content.size());
  return out;
}

// How a JWS algorithm's signatures appear in X.509.
struct SignatureScheme {
  int nid;
  bool null_parameters;   // RSA AlgorithmIdentifiers carry NULL parameters; ECDSA ones none
  size_t raw_ecdsa_size;  // r||s size for ECDSA, 0 for RSA
};

absl::StatusOr<SignatureScheme> SchemeFor(absl::string_view jws_algorithm) {
  if (jws_algorithm == "ES256") return SignatureScheme{NID_ecdsa_with_SHA256, false, 64};
  if (jws_algorithm == "ES384") return SignatureScheme{NID_ecdsa_with_SHA384, false, 96};
  if (jws_algorithm == "RS256") return SignatureScheme{NID_sha256WithRSAEncryption, true, 0};
  return absl::UnimplementedError(absl::StrCat("the agent CA cannot sign with a ", jws_algorithm,
                                               " key (supported: ES256, ES384, RS256)"));
}

// EC P-256/P-384 and RSA 2048..8192 only; the message names what was found.
absl::Status CheckSubjectKey(EVP_PKEY& key) {
  const int id = EVP_PKEY_get_base_id(&key);
  if (id == EVP_PKEY_RSA) {
    const int bits = EVP_PKEY_get_bits(&key);
    if (bits < 2048 || bits > kMaxRsaBits) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RSA key of ", bits, " bits refused: the key must have 2048..", kMaxRsaBits, " bits"));
    }
    return absl::OkStatus();
  }
  if (id == EVP_PKEY_EC) {
    char group[64] = {0};
    size_t group_len = 0;
    if (EVP_PKEY_get_group_name(&key, group, sizeof(group), &group_len) != 1) {
      return SslError(absl::StatusCode::kInvalidArgument, "EC key without a named curve");
    }
    const absl::string_view name(group, group_len);
    if (name != "prime256v1" && name != "P-256" && name != "secp384r1" && name != "P-384") {
      return absl::InvalidArgumentError(
          absl::StrCat("EC key on curve ", name, " refused: only P-256 and P-384 are accepted"));
    }
    return absl::OkStatus();
  }
  const char* type = OBJ_nid2sn(id);
  return absl::InvalidArgumentError(
      absl::StrCat("key type ", type != nullptr ? type : "unknown",
                   " refused: only EC P-256, EC P-384 and RSA >= 2048 bits are accepted"));
}

// A positive random serial of 128 bits of entropy (RFC 5280 allows up to 20 octets).
absl::Status SetRandomSerial(X509& cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return SslError(absl::StatusCode::kInternal, "RAND_bytes for the serial number");
  }
  // 17 bytes with a leading 0x01 keep the value positive, non-zero and a full 128 random bits.
  unsigned char serial_bytes[17] = {0x01};
  std::copy(std::begin(bytes), std::end(bytes), serial_bytes + 1);
  SslUniquePtr<BIGNUM> bn(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (bn == nullptr || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(&cert)) == nullptr) {
    return SslError(absl::StatusCode::kInternal, "setting the serial number");
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509& cert, absl::Time not_before, absl::Time not_after) {
  if (ASN1_TIME_set(X509_getm_notBefore(&cert), absl::ToTimeT(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(&cert), absl::ToTimeT(not_after)) == nullptr) {
    return SslError(absl::StatusCode::kInternal, "setting the validity");
  }
  return absl::OkStatus();
}

absl::StatusOr<SslUniquePtr<X509_NAME>> CommonNameOnly(absl::string_view common_name) {
  SslUniquePtr<X509_NAME> name(X509_NAME_new());
  if (name == nullptr ||
      X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return SslError(absl::StatusCode::kInternal, "building the subject name");
  }
  return name;
}

// Adds an extension given in OpenSSL's config syntax. Only ever called with constant values,
// never with caller input (names go through BuildSubjectAltName).
absl::Status AddExtension(X509& cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : &cert, &cert, nullptr, nullptr, 0);
  SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(&cert, ext.get(), -1) != 1) {
    return SslError(absl::StatusCode::kInternal,
                    absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status AddSubjectAltName(X509& cert, GENERAL_NAMES& names) {
  if (X509_add1_ext_i2d(&cert, NID_subject_alt_name, &names, 0, X509V3_ADD_DEFAULT) != 1) {
    return SslError(absl::StatusCode::kInternal, "adding subjectAltName");
  }
  return absl::OkStatus();
}

// Signs `cert` (everything but the signature already set) with `key` and returns the
// finished certificate, verified against `key`'s public half.
absl::StatusOr<SslUniquePtr<X509>> SignWith(X509& cert, const hsm::JwsSigner& key) {
  ASSIGN_OR_RETURN(const SignatureScheme scheme, SchemeFor(key.Algorithm()));

  // OpenSSL can only fill the TBS AlgorithmIdentifier while signing with an EVP_PKEY it holds;
  // our key is in the HSM, so set it directly. i2d_re_X509_tbs re-encodes after the change.
  X509_ALGOR* tbs_algorithm = const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(&cert));
  if (X509_ALGOR_set0(tbs_algorithm, OBJ_nid2obj(scheme.nid),
                      scheme.null_parameters ? V_ASN1_NULL : V_ASN1_UNDEF, nullptr) != 1) {
    return SslError(absl::StatusCode::kInternal, "setting the signature algorithm");
  }
  ASSIGN_OR_RETURN(const std::string tbs, ToDer(&cert, i2d_re_X509_tbs, "the TBSCertificate"));
  ASSIGN_OR_RETURN(std::string algorithm_der,
                   ToDer(tbs_algorithm, i2d_X509_ALGOR, "the signature algorithm"));

  ASSIGN_OR_RETURN(std::string signature, key.Sign(tbs));
  if (scheme.raw_ecdsa_size != 0) {
    if (signature.size() != scheme.raw_ecdsa_size) {
      return absl::InternalError(absl::StrCat("the CA key returned a ", signature.size(), "-byte ",
                                              key.Algorithm(), " signature, expected ",
                                              scheme.raw_ecdsa_size));
    }
    ASSIGN_OR_RETURN(signature, EcdsaRawToDer(signature));
  }

  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const std::string certificate_der =
      DerTlv(0x30, absl::StrCat(tbs, algorithm_der,
                                DerTlv(0x03, absl::StrCat(std::string(1, '\0'), signature))));
  absl::StatusOr<SslUniquePtr<X509>> signed_cert = ParseCertificateDer(certificate_der);
  if (!signed_cert.ok()) {
    return absl::InternalError(
        absl::StrCat("parsing the assembled certificate: ", signed_cert.status().message()));
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> public_key,
                   ParsePublicKeyDer(key.PublicKeyDer(), "the CA key's public key"));
  if (X509_verify(signed_cert->get(), public_key.get()) != 1) {
    return SslError(absl::StatusCode::kInternal,
                    "the CA key's signature on the new certificate does not verify (faulty "
                    "token or wrong key)");
  }
  return signed_cert;
}

absl::StatusOr<SslUniquePtr<X509>> ParseCaCertificate(absl::string_view pem,
                                                      const hsm::JwsSigner& ca_key) {
  absl::StatusOr<SslUniquePtr<X509>> parsed = ParseCertificatePem(pem);
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the agent CA certificate is not a PEM certificate: ", parsed.status().message()));
  }
  SslUniquePtr<X509> ca = *std::move(parsed);
  if (X509_check_ca(ca.get()) != 1) {
    return absl::FailedPreconditionError(
        "the agent CA certificate is not a CA certificate (basicConstraints CA:TRUE missing)");
  }
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> key_public,
                   ParsePublicKeyDer(ca_key.PublicKeyDer(), "the CA key's public key"));
  if (EVP_PKEY_eq(X509_get0_pubkey(ca.get()), key_public.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        "the agent CA certificate does not belong to the CA key in the HSM (public keys differ)");
  }
  return ca;
}

// The notAfter of the CA certificate; FailedPrecondition when unreadable or already past.
absl::StatusOr<absl::Time> CaNotAfter(X509& ca, absl::Time now) {
  absl::StatusOr<absl::Time> not_after = NotAfter(ca);
  if (!not_after.ok()) {
    return absl::FailedPreconditionError("the agent CA certificate has an unreadable notAfter");
  }
  const absl::Time ca_not_after = *not_after;
  if (ca_not_after <= now) {
    return absl::FailedPreconditionError(absl::StrCat("the agent CA certificate expired at ",
                                                      absl::FormatTime(ca_not_after),
                                                      "; create a new agent CA"));
  }
  return ca_not_after;
}

// "now - kBackdate .. now + days", with notAfter clamped to the CA's: a certificate outliving
// the CA would fail verification after the CA expires.
absl::StatusOr<LeafValidity> ValidityForDays(X509& ca, int days) {
  if (days < 1 || days > kMaxLeafDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity of ", days, " days is out of range 1..", kMaxLeafDays));
  }
  const absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(absl::Time ca_not_after, CaNotAfter(ca, now));
  return LeafValidity{now - kBackdate, std::min(now + absl::Hours(24) * days, ca_not_after)};
}

// An explicit window is taken as given (no clamping: the caller asked for these dates), but
// it must be a window the CA could have issued: ordered, at most kMaxLeafDays long, ending
// no later than the CA certificate.
absl::Status CheckExplicitValidity(X509& ca, const LeafValidity& validity) {
  if (validity.not_before >= validity.not_after) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity window is empty: notBefore ", absl::FormatTime(validity.not_before),
                     " is not before notAfter ", absl::FormatTime(validity.not_after)));
  }
  if (validity.not_after - validity.not_before > absl::Hours(24) * kMaxLeafDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity window is longer than ", kMaxLeafDays, " days"));
  }
  ASSIGN_OR_RETURN(absl::Time ca_not_after, CaNotAfter(ca, absl::Now()));
  if (validity.not_after > ca_not_after) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity window ends at ", absl::FormatTime(validity.not_after),
                     ", after the agent CA certificate (", absl::FormatTime(ca_not_after), ")"));
  }
  return absl::OkStatus();
}

// A new leaf under `ca` for `subject_key`: version, serial, names, validity, key, and the
// extensions common to agent and server certificates.
absl::StatusOr<SslUniquePtr<X509>> NewLeaf(X509& ca, EVP_PKEY& subject_key,
                                           absl::string_view common_name,
                                           const LeafValidity& validity) {
  RETURN_IF_ERROR(CheckSubjectKey(subject_key));
  SslUniquePtr<X509> cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return SslError(absl::StatusCode::kInternal, "X509_new");
  }
  RETURN_IF_ERROR(SetRandomSerial(*cert));
  ASSIGN_OR_RETURN(SslUniquePtr<X509_NAME> subject, CommonNameOnly(common_name));
  if (X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(), X509_get_subject_name(&ca)) != 1 ||
      X509_set_pubkey(cert.get(), &subject_key) != 1) {
    return SslError(absl::StatusCode::kInternal, "setting names and key");
  }
  RETURN_IF_ERROR(SetValidity(*cert, validity.not_before, validity.not_after));
  RETURN_IF_ERROR(AddExtension(*cert, &ca, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(*cert, &ca, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(*cert, &ca, NID_authority_key_identifier, "keyid:always"));
  return cert;
}

absl::StatusOr<SslUniquePtr<X509_REQ>> ParseCsr(absl::string_view csr) {
  const bool pem = absl::StartsWith(absl::StripLeadingAsciiWhitespace(csr), "-----BEGIN");
  absl::StatusOr<SslUniquePtr<X509_REQ>> parsed = pem ? ParseCsrPem(csr) : ParseCsrDer(csr);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the CSR is neither a PEM nor a DER PKCS#10 request: ", parsed.status().message()));
  }
  SslUniquePtr<X509_REQ> req = *std::move(parsed);
  return req;
}

}  // namespace

absl::StatusOr<std::string> CreateSelfSignedCaCertificate(const hsm::JwsSigner& key,
                                                          std::string common_name,
                                                          absl::Duration validity) {
  if (common_name.empty() || common_name.size() > 64) {
    return absl::InvalidArgumentError("the CA common name must have 1..64 characters");
  }
  for (char c : common_name) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "the CA common name must consist of printable ASCII characters");
    }
  }
  if (validity < absl::Hours(24) || validity > kMaxCaValidity) {
    return absl::InvalidArgumentError(absl::StrCat("CA validity ", absl::FormatDuration(validity),
                                                   " is out of range 1 day..30 years"));
  }
  RETURN_IF_ERROR(SchemeFor(key.Algorithm()).status());
  ASSIGN_OR_RETURN(SslUniquePtr<EVP_PKEY> public_key,
                   ParsePublicKeyDer(key.PublicKeyDer(), "the CA key's public key"));

  SslUniquePtr<X509> cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return SslError(absl::StatusCode::kInternal, "X509_new");
  }
  RETURN_IF_ERROR(SetRandomSerial(*cert));
  ASSIGN_OR_RETURN(SslUniquePtr<X509_NAME> name, CommonNameOnly(common_name));
  if (X509_set_subject_name(cert.get(), name.get()) != 1 ||
      X509_set_issuer_name(cert.get(), name.get()) != 1 ||
      X509_set_pubkey(cert.get(), public_key.get()) != 1) {
    return SslError(absl::StatusCode::kInternal, "setting names and key");
  }
  const absl::Time now = absl::Now();
  RETURN_IF_ERROR(SetValidity(*cert, now - kBackdate, now + validity));
  RETURN_IF_ERROR(
      AddExtension(*cert, nullptr, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExtension(*cert, nullptr, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(*cert, nullptr, NID_subject_key_identifier, "hash"));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> signed_cert, SignWith(*cert, key));
  return CertificateToPem(*signed_cert);
}

namespace {

// IssueAgentCertificate with the validity chosen by `validity_for(ca)`.
template <typename ValidityFor>
absl::StatusOr<std::string> IssueAgent(const hsm::JwsSigner& ca_key, absl::string_view ca_cert_pem,
                                       absl::string_view csr, absl::string_view agent_name,
                                       absl::string_view trust_domain, ValidityFor validity_for) {
  RETURN_IF_ERROR(ValidateAgentName(agent_name));
  RETURN_IF_ERROR(ValidateTrustDomain(trust_domain));
  ASSIGN_OR_RETURN(SslUniquePtr<X509_REQ> req, ParseCsr(csr));
  EVP_PKEY* subject_key = X509_REQ_get0_pubkey(req.get());
  if (subject_key == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument, "the CSR's public key cannot be read");
  }
  // Proof of possession: only the holder of the private key can have made this CSR.
  if (X509_REQ_verify(req.get(), subject_key) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    "the CSR's signature does not verify with its public key");
  }
  ASSIGN_OR_RETURN(SslUniquePtr<X509> ca, ParseCaCertificate(ca_cert_pem, ca_key));
  ASSIGN_OR_RETURN(LeafValidity validity, validity_for(*ca));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, NewLeaf(*ca, *subject_key, agent_name, validity));
  RETURN_IF_ERROR(AddExtension(*cert, ca.get(), NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExtension(*cert, ca.get(), NID_ext_key_usage, "clientAuth"));
  SslUniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return SslError(absl::StatusCode::kInternal, "sk_GENERAL_NAME_new_null");
  RETURN_IF_ERROR(AddIa5GeneralName(*names, GEN_URI, AgentUri(trust_domain, agent_name)));
  RETURN_IF_ERROR(AddSubjectAltName(*cert, *names));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> signed_cert, SignWith(*cert, ca_key));
  return CertificateToPem(*signed_cert);
}

}  // namespace

absl::StatusOr<std::string> IssueAgentCertificate(const hsm::JwsSigner& ca_key,
                                                  absl::string_view ca_cert_pem,
                                                  absl::string_view csr,
                                                  absl::string_view agent_name,
                                                  absl::string_view trust_domain, int days) {
  return IssueAgent(ca_key, ca_cert_pem, csr, agent_name, trust_domain,
                    [days](X509& ca) { return ValidityForDays(ca, days); });
}

absl::StatusOr<std::string> IssueAgentCertificate(
    const hsm::JwsSigner& ca_key, absl::string_view ca_cert_pem, absl::string_view csr,
    absl::string_view agent_name, absl::string_view trust_domain, const LeafValidity& validity) {
  return IssueAgent(ca_key, ca_cert_pem, csr, agent_name, trust_domain,
                    [&validity](X509& ca) -> absl::StatusOr<LeafValidity> {
                      RETURN_IF_ERROR(CheckExplicitValidity(ca, validity));
                      return validity;
                    });
}

absl::StatusOr<std::string> IssueServerCertificate(const hsm::JwsSigner& ca_key,
                                                   absl::string_view ca_cert_pem,
                                                   absl::string_view public_key,
                                                   const std::vector<std::string>& dns_names,
                                                   const std::vector<std::string>& ip_addresses,
                                                   int days) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return absl::InvalidArgumentError(
        "a server certificate needs at least one DNS name or IP address");
  }
  SslUniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return SslError(absl::StatusCode::kInternal, "sk_GENERAL_NAME_new_null");
  for (const std::string& dns_name : dns_names) {
    // Same syntax as a trust domain: lowercase LDH labels, single labels ("localhost") allowed.
    if (absl::Status status = ValidateTrustDomain(dns_name); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("server DNS name \"", absl::CHexEscape(dns_name),
                       "\" is not a lowercase host name: ", status.message()));
    }
    RETURN_IF_ERROR(AddIa5GeneralName(*names, GEN_DNS, dns_name));
  }
  for (const std::string& ip : ip_addresses) RETURN_IF_ERROR(AddIpGeneralName(*names, ip));

  SslUniquePtr<EVP_PKEY> subject_key;
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(public_key), "-----BEGIN")) {
    ASSIGN_OR_RETURN(subject_key, ParsePublicKeyPem(public_key, "the server public key"));
  } else {
    ASSIGN_OR_RETURN(subject_key, ParsePublicKeyDer(public_key, "the server public key"));
  }
  ASSIGN_OR_RETURN(SslUniquePtr<X509> ca, ParseCaCertificate(ca_cert_pem, ca_key));
  const std::string common_name = !dns_names.empty() ? dns_names[0] : ip_addresses[0];
  ASSIGN_OR_RETURN(LeafValidity validity, ValidityForDays(*ca, days));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> cert, NewLeaf(*ca, *subject_key, common_name, validity));
  // RSA server keys may be used for TLS 1.2 RSA key transport by old clients.
  const char* key_usage = EVP_PKEY_get_base_id(subject_key.get()) == EVP_PKEY_RSA
                              ? "critical,digitalSignature,keyEncipherment"
                              : "critical,digitalSignature";
  RETURN_IF_ERROR(AddExtension(*cert, ca.get(), NID_key_usage, key_usage));
  RETURN_IF_ERROR(AddExtension(*cert, ca.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddSubjectAltName(*cert, *names));
  ASSIGN_OR_RETURN(SslUniquePtr<X509> signed_cert, SignWith(*cert, ca_key));
  return CertificateToPem(*signed_cert);
}

}  // namespace acme_signer::signer
