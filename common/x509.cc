#include "common/x509.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
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

absl::StatusOr<std::string> CertificateSha256Hex(const X509& cert) {
  absl::StatusOr<std::string> der = CertificateToDer(cert);
  if (!der.ok()) return der.status();
  return Sha256Hex(*der);
}

}  // namespace acme_signer
