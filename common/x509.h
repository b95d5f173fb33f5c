// X.509 certificate and PKCS#10 request helpers shared by every component, in one place (in the
// manner of kmsp11's util/crypto_utils.h): parsing from DER and PEM, encoding back, and the
// facts callers read (validity as absl::Time, serial number, fingerprint).
//
// Free functions without shared state; thread-safe. Errors are InvalidArgument for input that
// is not what it should be (the message says what, followed by OpenSSL's reason where it has
// one) and Internal when OpenSSL fails on valid input.
#ifndef ACME_SIGNER_COMMON_X509_H_
#define ACME_SIGNER_COMMON_X509_H_

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ssl_unique_ptr.h"

namespace acme_signer {

// Parses one DER certificate that must fill all of `der` (no trailing bytes).
// InvalidArgument: "not a DER X.509 certificate" or "N trailing bytes after the certificate".
absl::StatusOr<SslUniquePtr<X509>> ParseCertificateDer(absl::string_view der);

// Parses the first CERTIFICATE block of `pem`; text before it and anything after it (a chain)
// is ignored. InvalidArgument ("no PEM certificate") when there is none or it does not parse.
absl::StatusOr<SslUniquePtr<X509>> ParseCertificatePem(absl::string_view pem);

// Every certificate of a PEM bundle, in order (e.g. a chain file); an empty vector when the
// text holds no PEM block at all. InvalidArgument when a block does not parse.
absl::StatusOr<std::vector<SslUniquePtr<X509>>> ReadPemCertificates(absl::string_view pem);

// The DER encoding of `cert`. Internal when OpenSSL cannot encode it.
absl::StatusOr<std::string> CertificateToDer(const X509& cert);

// The PEM encoding of `cert` (one CERTIFICATE block, ending in a newline).
absl::StatusOr<std::string> CertificateToPem(const X509& cert);

// The DER of the first certificate in `pem` (ParseCertificatePem, then CertificateToDer).
absl::StatusOr<std::string> CertificatePemToDer(absl::string_view pem);

// Parses one DER PKCS#10 request that must fill all of `der`. InvalidArgument: "not a
// DER-encoded PKCS#10 request (CSR)" or "N trailing bytes after the PKCS#10 request".
absl::StatusOr<SslUniquePtr<X509_REQ>> ParseCsrDer(absl::string_view der);

// Parses the first CERTIFICATE REQUEST block of `pem`. InvalidArgument ("no PEM certificate
// request") when there is none or it does not parse.
absl::StatusOr<SslUniquePtr<X509_REQ>> ParseCsrPem(absl::string_view pem);

// The DER and PEM encodings of a request. Internal when OpenSSL cannot encode it.
absl::StatusOr<std::string> CsrToDer(const X509_REQ& csr);
absl::StatusOr<std::string> CsrToPem(const X509_REQ& csr);

// Appends a GENERAL_NAME of `type` (GEN_DNS or GEN_URI) holding the IA5String `value` to
// `names` (a subjectAltName being built). Internal when OpenSSL fails.
absl::Status AddIa5GeneralName(GENERAL_NAMES& names, int type, absl::string_view value);

// Appends an iPAddress GENERAL_NAME for the IPv4 or IPv6 literal `ip`. InvalidArgument when
// `ip` is not one; Internal when OpenSSL fails.
absl::Status AddIpGeneralName(GENERAL_NAMES& names, const std::string& ip);

// An ASN1_TIME (UTCTime or GeneralizedTime) as absl::Time. InvalidArgument for a null or
// unreadable time.
absl::StatusOr<absl::Time> Asn1TimeToAbsl(const ASN1_TIME* time);

// The certificate's validity bounds. InvalidArgument ("certificate has an unreadable
// notBefore/notAfter") when the field cannot be read.
absl::StatusOr<absl::Time> NotBefore(const X509& cert);
absl::StatusOr<absl::Time> NotAfter(const X509& cert);

// The serial number as lower-case hex without separators, two digits per byte as OpenSSL
// prints it (so "0a0b", never "a0b"). InvalidArgument when it cannot be read.
absl::StatusOr<std::string> SerialHex(const X509& cert);

// The one spelling of a serial number in every output of both binaries (agent listings,
// results, messages, --json; the signer's inventory and audit records use SerialHex, which is
// the same form): lower-case hex, two digits per byte, without leading zero bytes ("0a0b";
// "00" for zero). Accepts any hex spelling of the same number: upper or lower case, any
// number of leading zeros, odd length ("A0B" -> "0a0b"), so two spellings of one serial
// compare equal after it. Returns `hex` unchanged when it is not hexadecimal (never fails:
// it formats, it does not validate).
//
// Why this form and not certbot's (Python's format(serial, 'x'), which drops the leading zero
// of "0a0b"): it is what OpenSSL prints (`openssl x509 -serial`, upper case there), what the
// signer stores and audits, and it maps one-to-one onto the DER bytes; it differs from
// certbot's only for the one serial in sixteen whose first digit is 0.
std::string SerialText(absl::string_view hex);

// Lower-case hex SHA-256 of the certificate's DER: its fingerprint.
absl::StatusOr<std::string> CertificateSha256Hex(const X509& cert);

}  // namespace acme_signer

#endif  // ACME_SIGNER_COMMON_X509_H_
