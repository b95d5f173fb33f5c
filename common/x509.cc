#include "common/x509.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "common/ssl_errors.h"

namespace acme_signer {
namespace {

// True unless the PEM reader stopped on an error other than PEM's "no start line", which only
// says that no further PEM block follows: the end of a bundle, not an error in it.
bool AtEndOfPem() {
  const unsigned long err = ERR_peek_last_error();
  return err == 0 ||
         (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE);
}

absl::StatusOr<absl::Time> ValidityBound(const ASN1_TIME* time, absl::string_view which) {
  absl::StatusOr<absl::Time> converted = Asn1TimeToAbsl(time);
  if (!converted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate has an unreadable ", which));
  }
  return converted;
}

// Appends `value` as a GENERAL_NAME of `type`; `names` takes ownership.
absl::Status AddGeneralName(GENERAL_NAMES& names, int type, SslUniquePtr<ASN1_STRING> value) {
  SslUniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
  if (name == nullptr) return SslError(absl::StatusCode::kInternal, "GENERAL_NAME_new");
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (sk_GENERAL_NAME_push(&names, name.get()) <= 0) {
    return SslError(absl::StatusCode::kInternal, "adding a subjectAltName entry");
  }
  name.release();  // `names` owns it now
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SslUniquePtr<X509>> ParseCertificateDer(absl::string_view der) {
  return FromDer<X509>(der, d2i_X509, "not a DER X.509 certificate", "the certificate");
}

absl::StatusOr<SslUniquePtr<X509>> ParseCertificatePem(absl::string_view pem) {
  return FromPem<X509>(pem, PEM_read_bio_X509, "no PEM certificate");
}

absl::StatusOr<std::vector<SslUniquePtr<X509>>> ReadPemCertificates(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return SslError(absl::StatusCode::kInternal, "BIO_new_mem_buf");
  std::vector<SslUniquePtr<X509>> certs;
  while (true) {
    SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  if (!AtEndOfPem()) {
    return SslError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("PEM certificate ", certs.size() + 1, " does not parse"));
  }
  ERR_clear_error();
  return certs;
}

absl::StatusOr<std::string> CertificateToDer(const X509& cert) {
  return ToDer(&cert, i2d_X509, "the certificate");
}

absl::StatusOr<std::string> CertificateToPem(const X509& cert) {
  return ToPem(&cert, PEM_write_bio_X509, "the certificate");
}

absl::StatusOr<std::string> CertificatePemToDer(absl::string_view pem) {
  absl::StatusOr<SslUniquePtr<X509>> cert = ParseCertificatePem(pem);
  if (!cert.ok()) return cert.status();
  return CertificateToDer(**cert);
}

absl::StatusOr<SslUniquePtr<X509_REQ>> ParseCsrDer(absl::string_view der) {
  return FromDer<X509_REQ>(der, d2i_X509_REQ, "not a DER-encoded PKCS#10 request (CSR)",
                           "the PKCS#10 request");
}

absl::StatusOr<SslUniquePtr<X509_REQ>> ParseCsrPem(absl::string_view pem) {
  return FromPem<X509_REQ>(pem, PEM_read_bio_X509_REQ, "no PEM certificate request");
}

absl::StatusOr<std::string> CsrToDer(const X509_REQ& csr) {
  return ToDer(&csr, i2d_X509_REQ, "the certificate request");
}

absl::StatusOr<std::string> CsrToPem(const X509_REQ& csr) {
  return ToPem(&csr, PEM_write_bio_X509_REQ, "the certificate request");
}

absl::Status AddIa5GeneralName(GENERAL_NAMES& names, int type, absl::string_view value) {
  SslUniquePtr<ASN1_STRING> ia5(ASN1_IA5STRING_new());
  if (ia5 == nullptr ||
      ASN1_STRING_set(ia5.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return SslError(absl::StatusCode::kInternal, "building a subjectAltName entry");
  }
  return AddGeneralName(names, type, std::move(ia5));
}

absl::Status AddIpGeneralName(GENERAL_NAMES& names, const std::string& ip) {
  SslUniquePtr<ASN1_STRING> octets(a2i_IPADDRESS(ip.c_str()));
  if (octets == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(ip), "\" is not an IP address"));
  }
  return AddGeneralName(names, GEN_IPADD, std::move(octets));
}

absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* time) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    return SslError(absl::StatusCode::kInvalidArgument, "unreadable ASN.1 time");
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> NotBefore(const X509& cert) {
  return ValidityBound(X509_get0_notBefore(&cert), "notBefore");
}

absl::StatusOr<absl::Time> NotAfter(const X509& cert) {
  return ValidityBound(X509_get0_notAfter(&cert), "notAfter");
}

absl::StatusOr<std::string> SerialHex(const X509& cert) {
  SslUniquePtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(&cert), nullptr));
  if (serial == nullptr) {
    return SslError(absl::StatusCode::kInvalidArgument, "certificate serial number is unreadable");
  }
  OpenSslString hex(BN_bn2hex(serial.get()));
  if (hex == nullptr) return SslError(absl::StatusCode::kInternal, "BN_bn2hex");
  return absl::AsciiStrToLower(hex.get());
}

std::string SerialText(absl::string_view hex) {
  if (hex.empty() || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return std::string(hex);
  }
  const size_t first = hex.find_first_not_of('0');
  if (first == absl::string_view::npos) return "00";
  std::string text = absl::AsciiStrToLower(hex.substr(first));
  if (text.size() % 2 != 0) text.insert(text.begin(), '0');
  return text;
}

absl::StatusOr<std::string> CertificateSha256Hex(const X509& cert) {
  absl::StatusOr<std::string> der = CertificateToDer(cert);
  if (!der.ok()) return der.status();
  return Sha256Hex(*der);
}

}  // namespace acme_signer
