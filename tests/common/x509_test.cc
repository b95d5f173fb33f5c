#include "common/x509.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace acme_signer {
namespace {

using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
using ::acme_signer::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr absl::string_view kUtc20300102 = "300102030405Z";            // UTCTime
constexpr absl::string_view kGeneralized20510607 = "20510607080910Z";  // GeneralizedTime

SslUniquePtr<EVP_PKEY> NewKey() {
  return SslUniquePtr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

// A self-signed certificate with `serial_hex` and the two validity strings above.
SslUniquePtr<X509> MakeCertificate(const char* serial_hex, EVP_PKEY* key) {
  SslUniquePtr<X509> cert(X509_new());
  BIGNUM* serial_raw = nullptr;
  EXPECT_GT(BN_hex2bn(&serial_raw, serial_hex), 0);
  SslUniquePtr<BIGNUM> serial(serial_raw);
  EXPECT_NE(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())), nullptr);
  EXPECT_EQ(ASN1_TIME_set_string(X509_getm_notBefore(cert.get()), kUtc20300102.data()), 1);
  EXPECT_EQ(ASN1_TIME_set_string(X509_getm_notAfter(cert.get()), kGeneralized20510607.data()), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("toolbox test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_set_pubkey(cert.get(), key);
  EXPECT_GT(X509_sign(cert.get(), key, EVP_sha256()), 0);
  return cert;
}

class X509Test : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = NewKey();
    ASSERT_NE(key_, nullptr);
    cert_ = MakeCertificate("0A0B", key_.get());
    absl::StatusOr<std::string> der = CertificateToDer(*cert_);
    ASSERT_THAT(der, IsOk());
    der_ = *der;
    absl::StatusOr<std::string> pem = CertificateToPem(*cert_);
    ASSERT_THAT(pem, IsOk());
    pem_ = *pem;
  }

  SslUniquePtr<EVP_PKEY> key_;
  SslUniquePtr<X509> cert_;
  std::string der_;
  std::string pem_;
};

TEST_F(X509Test, DerAndPemRoundTrip) {
  absl::StatusOr<SslUniquePtr<X509>> from_der = ParseCertificateDer(der_);
  ASSERT_THAT(from_der, IsOk());
  EXPECT_THAT(CertificateToDer(**from_der), IsOkAndHolds(der_));
  EXPECT_TRUE(absl::StartsWith(pem_, "-----BEGIN CERTIFICATE-----\n"));
  absl::StatusOr<SslUniquePtr<X509>> from_pem = ParseCertificatePem(pem_);
  ASSERT_THAT(from_pem, IsOk());
  EXPECT_THAT(CertificateToDer(**from_pem), IsOkAndHolds(der_));
  EXPECT_THAT(CertificatePemToDer(absl::StrCat("leading text\n", pem_)), IsOkAndHolds(der_));
}

TEST_F(X509Test, DerMustBeOneWholeCertificate) {
  EXPECT_THAT(ParseCertificateDer("garbage"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                       HasSubstr("not a DER X.509 certificate")));
  EXPECT_THAT(ParseCertificateDer(der_ + "xy"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("2 trailing bytes after the certificate")));
  EXPECT_THAT(ParseCertificateDer(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("DER")));
}

TEST_F(X509Test, PemWithoutCertificateIsRefused) {
  EXPECT_THAT(ParseCertificatePem("no certificate here"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
  EXPECT_THAT(CertificatePemToDer(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no PEM certificate")));
}

TEST_F(X509Test, ReadsEveryCertificateOfABundleInOrder) {
  SslUniquePtr<X509> second = MakeCertificate("02", key_.get());
  absl::StatusOr<std::string> second_pem = CertificateToPem(*second);
  ASSERT_THAT(second_pem, IsOk());
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> certs =
      ReadPemCertificates(absl::StrCat(pem_, "text between blocks\n", *second_pem));
  ASSERT_THAT(certs, IsOk());
  ASSERT_THAT(*certs, SizeIs(2));
  EXPECT_THAT(SerialHex(*(*certs)[0]), IsOkAndHolds("0a0b"));
  EXPECT_THAT(SerialHex(*(*certs)[1]), IsOkAndHolds("02"));
  absl::StatusOr<std::vector<SslUniquePtr<X509>>> none = ReadPemCertificates("");
  ASSERT_THAT(none, IsOk());
  EXPECT_THAT(*none, SizeIs(0));
}

TEST_F(X509Test, BundleWithABrokenBlockIsRefused) {
  const std::string broken =
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(
      ReadPemCertificates(absl::StrCat(pem_, broken)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("PEM certificate 2 does not parse")));
}

TEST_F(X509Test, ReadsUtcAndGeneralizedValidityTimes) {
  const absl::Time not_before =
      absl::FromCivil(absl::CivilSecond(2030, 1, 2, 3, 4, 5), absl::UTCTimeZone());
  const absl::Time not_after =
      absl::FromCivil(absl::CivilSecond(2051, 6, 7, 8, 9, 10), absl::UTCTimeZone());
  EXPECT_THAT(NotBefore(*cert_), IsOkAndHolds(not_before));
  EXPECT_THAT(NotAfter(*cert_), IsOkAndHolds(not_after));
  EXPECT_THAT(Asn1TimeToAbsl(X509_get0_notAfter(cert_.get())), IsOkAndHolds(not_after));
}

TEST_F(X509Test, NullOrUnreadableTimeIsInvalidArgument) {
  EXPECT_THAT(Asn1TimeToAbsl(nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unreadable ASN.1 time")));
  SslUniquePtr<ASN1_STRING> bad(ASN1_STRING_type_new(V_ASN1_UTCTIME));
  ASSERT_EQ(ASN1_STRING_set(bad.get(), "not a time", -1), 1);
  EXPECT_THAT(Asn1TimeToAbsl(bad.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unreadable")));
}

TEST_F(X509Test, SerialIsLowerCaseHexTwoDigitsPerByte) {
  EXPECT_THAT(SerialHex(*cert_), IsOkAndHolds("0a0b"));
  EXPECT_THAT(SerialHex(*MakeCertificate("8001FF", key_.get())), IsOkAndHolds("8001ff"));
}

TEST_F(X509Test, FingerprintIsSha256OfTheDer) {
  EXPECT_THAT(CertificateSha256Hex(*cert_), IsOkAndHolds(Sha256Hex(der_)));
}

TEST(GeneralNameTest, AppendsDnsUriAndIpEntriesInOrder) {
  SslUniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  ASSERT_NE(names, nullptr);
  ASSERT_THAT(AddIa5GeneralName(*names, GEN_DNS, "a.example"), IsOk());
  ASSERT_THAT(AddIa5GeneralName(*names, GEN_URI, "spiffe://lab/agent/web1"), IsOk());
  ASSERT_THAT(AddIpGeneralName(*names, "::1"), IsOk());
  ASSERT_EQ(sk_GENERAL_NAME_num(names.get()), 3);
  const GENERAL_NAME* dns = sk_GENERAL_NAME_value(names.get(), 0);
  ASSERT_EQ(dns->type, GEN_DNS);
  EXPECT_EQ(absl::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns->d.dNSName)),
                              ASN1_STRING_length(dns->d.dNSName)),
            "a.example");
  EXPECT_EQ(sk_GENERAL_NAME_value(names.get(), 1)->type, GEN_URI);
  const GENERAL_NAME* ip = sk_GENERAL_NAME_value(names.get(), 2);
  ASSERT_EQ(ip->type, GEN_IPADD);
  EXPECT_EQ(ASN1_STRING_length(ip->d.iPAddress), 16);
}

TEST(GeneralNameTest, RefusesTextThatIsNotAnIpAddress) {
  SslUniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  EXPECT_THAT(AddIpGeneralName(*names, "300.1.2.3"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not an IP address")));
  EXPECT_EQ(sk_GENERAL_NAME_num(names.get()), 0);
}

TEST(CsrTest, DerAndPemRoundTripAndTrailingBytesAreRefused) {
  SslUniquePtr<EVP_PKEY> key = NewKey();
  SslUniquePtr<X509_REQ> req(X509_REQ_new());
  ASSERT_EQ(X509_REQ_set_pubkey(req.get(), key.get()), 1);
  ASSERT_GT(X509_REQ_sign(req.get(), key.get(), EVP_sha256()), 0);
  absl::StatusOr<std::string> der = CsrToDer(*req);
  ASSERT_THAT(der, IsOk());
  absl::StatusOr<std::string> pem = CsrToPem(*req);
  ASSERT_THAT(pem, IsOk());
  absl::StatusOr<SslUniquePtr<X509_REQ>> from_pem = ParseCsrPem(*pem);
  ASSERT_THAT(from_pem, IsOk());
  EXPECT_THAT(CsrToDer(**from_pem), IsOkAndHolds(*der));
  absl::StatusOr<SslUniquePtr<X509_REQ>> from_der = ParseCsrDer(*der);
  ASSERT_THAT(from_der, IsOk());
  EXPECT_THAT(CsrToDer(**from_der), IsOkAndHolds(*der));

  EXPECT_THAT(ParseCsrDer(*der + "z"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 trailing bytes after the PKCS#10 request")));
  EXPECT_THAT(ParseCsrDer("junk"), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("not a DER-encoded PKCS#10 request")));
  EXPECT_THAT(ParseCsrPem("junk"), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("no PEM certificate request")));
}

TEST(SerialTextTest, PrintsLowerCaseHexTwoDigitsPerByteWithoutLeadingZeroBytes) {
  EXPECT_EQ(SerialText("0ABC"), "0abc");
  EXPECT_EQ(SerialText("ABC"), "0abc");
  EXPECT_EQ(SerialText("000ABC"), "0abc");
  EXPECT_EQ(SerialText("26c91fec54367ad"), SerialText("026C91FEC54367AD"));
  EXPECT_EQ(SerialText("not hex"), "not hex");
  EXPECT_EQ(SerialText("00"), "00");
  EXPECT_EQ(SerialText("FA"), "fa");
}

}  // namespace
}  // namespace acme_signer
