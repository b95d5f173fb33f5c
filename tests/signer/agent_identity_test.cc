#include "signer/agent_identity.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/strings/escaping.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"

namespace acme_signer::signer {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kDomain[] = "dept.example";

using ::acme_signer::testing::IsOkAndHolds;

TEST(AgentNameFromUriSanTest, AcceptsTheCanonicalAgentUri) {
  EXPECT_THAT(AgentNameFromUriSan("spiffe://dept.example/agent/web1", kDomain),
              IsOkAndHolds("web1"));
  EXPECT_THAT(AgentNameFromUriSan("spiffe://dept.example/agent/db-02", kDomain),
              IsOkAndHolds("db-02"));
  EXPECT_THAT(AgentNameFromUriSan(AgentUri(kDomain, "x"), kDomain), IsOkAndHolds("x"));
}

TEST(AgentNameFromUriSanTest, RefusesAnotherTrustDomain) {
  for (const char* uri :
       {"spiffe://other.example/agent/web1", "spiffe://dept.example.evil/agent/web1",
        "spiffe://evil.dept.example/agent/web1", "spiffe://DEPT.example/agent/web1",
        "spiffe://dept.example:443/agent/web1", "spiffe://user@dept.example/agent/web1",
        "spiffe:///agent/web1"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(AgentNameFromUriSan(uri, kDomain),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("trust domain is not \"dept.example\"")));
  }
}

TEST(AgentNameFromUriSanTest, RefusesAnotherScheme) {
  for (const char* uri : {"https://dept.example/agent/web1", "SPIFFE://dept.example/agent/web1",
                          "spiffe:/dept.example/agent/web1", "dept.example/agent/web1"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(AgentNameFromUriSan(uri, kDomain), StatusIs(absl::StatusCode::kPermissionDenied,
                                                            HasSubstr("scheme is not spiffe://")));
  }
}

TEST(AgentNameFromUriSanTest, RefusesAnotherPathShape) {
  for (const char* uri :
       {"spiffe://dept.example/agents/web1", "spiffe://dept.example/web1",
        "spiffe://dept.example/agent", "spiffe://dept.example/",
        "spiffe://dept.example//agent/web1", "spiffe://dept.example/Agent/web1"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(
        AgentNameFromUriSan(uri, kDomain),
        StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("path is not /agent/<name>")));
  }
  EXPECT_THAT(AgentNameFromUriSan("spiffe://dept.example", kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no path")));
}

TEST(AgentNameFromUriSanTest, RefusesExtraSegments) {
  for (const char* uri :
       {"spiffe://dept.example/agent/web1/admin", "spiffe://dept.example/agent/web1/",
        "spiffe://dept.example/agent/web1/../admin"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(
        AgentNameFromUriSan(uri, kDomain),
        StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("path is not /agent/<name>")));
  }
}

TEST(AgentNameFromUriSanTest, RefusesUppercaseAndOddCharactersInTheName) {
  for (const char* uri : {"spiffe://dept.example/agent/Web1", "spiffe://dept.example/agent/web_1",
                          "spiffe://dept.example/agent/web.1", "spiffe://dept.example/agent/web 1",
                          "spiffe://dept.example/agent/-web1",
                          "spiffe://dept.example/agent/w\xc3\xa9"
                          "b",
                          "spiffe://dept.example/agent/"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(AgentNameFromUriSan(uri, kDomain),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("invalid agent name")));
  }
  // Encodings that could make two spellings of one name are refused outright.
  for (const char* uri :
       {"spiffe://dept.example/agent/web%31", "spiffe://dept.example/agent/web1?x=1",
        "spiffe://dept.example/agent/web1#frag"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(AgentNameFromUriSan(uri, kDomain),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         HasSubstr("query, fragment or percent-encoding")));
  }
}

TEST(AgentNameFromUriSanTest, RefusesTheEmptyUriAndEscapesControlBytesInMessages) {
  EXPECT_THAT(AgentNameFromUriSan("", kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("empty")));
  const std::string with_nul("spiffe://dept.example/agent/web\0\n1", 34);
  auto result = AgentNameFromUriSan(with_nul, kDomain);
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_THAT(message, HasSubstr("\\x00\\n"));
  EXPECT_THAT(message, Not(HasSubstr(std::string(1, '\0'))));
  EXPECT_THAT(message, Not(HasSubstr("\n")));
}

TEST(ValidateAgentNameTest, AcceptsLowercaseLdhUpTo63Characters) {
  EXPECT_TRUE(ValidateAgentName("web1").ok());
  EXPECT_TRUE(ValidateAgentName(std::string(63, 'a')).ok());
  EXPECT_THAT(ValidateAgentName(std::string(64, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 63")));
  EXPECT_THAT(ValidateAgentName(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateAgentName("web1-"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("starts or ends with '-'")));
}

TEST(ValidateTrustDomainTest, AcceptsLowercaseDnsLikeNames) {
  EXPECT_TRUE(ValidateTrustDomain("dept.example").ok());
  EXPECT_TRUE(ValidateTrustDomain("corp").ok());
  EXPECT_THAT(ValidateTrustDomain("Dept.example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uppercase")));
  EXPECT_THAT(ValidateTrustDomain("dept..example"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty label")));
  EXPECT_THAT(ValidateTrustDomain("dept.example/x"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("character other than a-z")));
}

// A self-signed certificate carrying `san` (OpenSSL config syntax), or no SAN when empty.
SslUniquePtr<X509> CertificateWithSan(const char* san) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  SslUniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("web1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  if (san[0] != '\0') {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san));
    X509_add_ext(cert.get(), ext.get(), -1);
  }
  X509_sign(cert.get(), key.get(), EVP_sha256());
  return cert;
}

std::string Pem(X509* cert) {
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

TEST(IdentifyPeerAgentTest, ReturnsTheNameAndTheSha256OfTheDerCertificate) {
  SslUniquePtr<X509> cert =
      CertificateWithSan("DNS:web1.dept.example,URI:spiffe://dept.example/agent/web1");
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert.get(), &der);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, der_len, digest);
  OPENSSL_free(der);
  const std::string expected_hex =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));

  auto agent = IdentifyPeerAgent(*cert, kDomain);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->name, "web1");
  EXPECT_EQ(agent->cert_sha256_hex, expected_hex);

  auto from_pem = IdentifyPeerAgentPem(Pem(cert.get()), kDomain);
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_pem->name, "web1");
  EXPECT_EQ(from_pem->cert_sha256_hex, expected_hex);
}

TEST(IdentifyPeerAgentTest, RefusesACertificateWithoutSubjectAltName) {
  SslUniquePtr<X509> cert = CertificateWithSan("");
  EXPECT_THAT(IdentifyPeerAgent(*cert, kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("no subjectAltName")));
}

TEST(IdentifyPeerAgentTest, RefusesACertificateWithoutUriSan) {
  SslUniquePtr<X509> cert = CertificateWithSan("DNS:web1.dept.example");
  EXPECT_THAT(IdentifyPeerAgent(*cert, kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("0 URI subjectAltNames")));
}

TEST(IdentifyPeerAgentTest, RefusesACertificateWithTwoUriSans) {
  SslUniquePtr<X509> cert = CertificateWithSan(
      "URI:spiffe://dept.example/agent/web1,URI:spiffe://dept.example/agent/admin");
  EXPECT_THAT(IdentifyPeerAgent(*cert, kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("2 URI subjectAltNames")));
}

TEST(IdentifyPeerAgentTest, RefusesAUriSanOfAnotherTrustDomain) {
  SslUniquePtr<X509> cert = CertificateWithSan("URI:spiffe://other.example/agent/web1");
  EXPECT_THAT(IdentifyPeerAgent(*cert, kDomain),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("trust domain")));
}

TEST(IdentifyPeerAgentTest, RefusesUnparsablePem) {
  EXPECT_THAT(IdentifyPeerAgentPem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                   kDomain),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid PEM")));
  EXPECT_THAT(IdentifyPeerAgentPem("", kDomain),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid PEM")));
}

}  // namespace
}  // namespace acme_signer::signer
