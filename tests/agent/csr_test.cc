#include "agent/csr.h"

#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

SslUniquePtr<X509_REQ> ParseDer(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return SslUniquePtr<X509_REQ>(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
}

struct Sans {
  std::vector<std::string> dns;
  std::vector<std::string> uri;
  bool critical = false;
};

Sans SansOf(X509_REQ* req) {
  Sans out;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    out.critical = X509_EXTENSION_get_critical(ext) == 1;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      const ASN1_IA5STRING* s =
          gn->type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
      std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                        static_cast<size_t>(ASN1_STRING_length(s)));
      (gn->type == GEN_DNS ? out.dns : out.uri).push_back(value);
    }
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return out;
}

int SignatureDigestNid(X509_REQ* req) {
  const X509_ALGOR* alg = nullptr;
  X509_REQ_get0_signature(req, nullptr, &alg);
  int md = NID_undef, pk = NID_undef;
  OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &md, &pk);
  return md;
}

TEST(BuildCsrDerTest, PutsEveryNameInTheSanInOrderWithEmptySubject) {
  auto key = PrivateKey::Generate(KeySpec());
  ASSERT_THAT(key, IsOk());
  std::vector<std::string> names = {"www.example.com", "example.com", "*.example.org"};
  auto der = BuildCsrDer(*key, names);
  ASSERT_THAT(der, IsOk());
  auto req = ParseDer(*der);
  ASSERT_NE(req, nullptr);
  Sans sans = SansOf(req.get());
  EXPECT_THAT(sans.dns, ElementsAre("www.example.com", "example.com", "*.example.org"));
  EXPECT_TRUE(sans.uri.empty());
  EXPECT_TRUE(sans.critical);
  EXPECT_EQ(X509_NAME_entry_count(X509_REQ_get_subject_name(req.get())), 0);
  EXPECT_EQ(X509_REQ_verify(req.get(), key->get()), 1);
  EXPECT_EQ(SignatureDigestNid(req.get()), NID_sha256);
}

TEST(BuildCsrDerTest, SignsWithRsaKeysToo) {
  auto key = PrivateKey::Generate(*ParseKeySpec("rsa", "", 2048));
  ASSERT_THAT(key, IsOk());
  std::vector<std::string> names = {"example.com"};
  auto der = BuildCsrDer(*key, names);
  ASSERT_THAT(der, IsOk());
  auto req = ParseDer(*der);
  EXPECT_EQ(X509_REQ_verify(req.get(), key->get()), 1);
  EXPECT_EQ(SignatureDigestNid(req.get()), NID_sha256);
}

TEST(BuildCsrDerTest, AcceptsNamesLongerThanACommonNameCouldHold) {
  auto key = PrivateKey::Generate(KeySpec());
  std::vector<std::string> names = {std::string(63, 'a') + "." + std::string(20, 'b') + ".example"};
  auto der = BuildCsrDer(*key, names);
  ASSERT_THAT(der, IsOk());
  EXPECT_THAT(SansOf(ParseDer(*der).get()).dns, ElementsAre(names[0]));
}

TEST(BuildCsrDerTest, RefusesInvalidOrRepeatedNames) {
  auto key = PrivateKey::Generate(KeySpec());
  std::vector<std::string> bad = {"example.com", "exa mple.com"};
  EXPECT_THAT(BuildCsrDer(*key, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exa mple.com")));
  EXPECT_THAT(BuildCsrDer(*key, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no domain names")));
}

TEST(AgentCsrTest, CarriesExactlyOneSpiffeUriAndNoDnsNames) {
  auto key = PrivateKey::Generate(KeySpec());
  auto der = BuildAgentCsrDer(*key, "dept.example", "web1");
  ASSERT_THAT(der, IsOk());
  auto req = ParseDer(*der);
  ASSERT_NE(req, nullptr);
  Sans sans = SansOf(req.get());
  EXPECT_THAT(sans.uri, ElementsAre("spiffe://dept.example/agent/web1"));
  EXPECT_TRUE(sans.dns.empty());
  EXPECT_EQ(X509_REQ_verify(req.get(), key->get()), 1);
  auto pem = CsrDerToPem(*der);
  ASSERT_THAT(pem, IsOk());
  EXPECT_THAT(*pem, StartsWith("-----BEGIN CERTIFICATE REQUEST-----"));
}

TEST(AgentCsrTest, RejectsTrustDomainsAndNamesThatWouldBreakTheSpiffeId) {
  EXPECT_THAT(AgentSpiffeId("Dept.Example", "web1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("lowercase")));
  EXPECT_THAT(AgentSpiffeId("dept.example", "web1/../admin"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("web1/../admin")));
  EXPECT_THAT(AgentSpiffeId("dept.example", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("invalid agent name: empty")));
  EXPECT_THAT(AgentSpiffeId("", "web1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trust domain")));
  EXPECT_THAT(CsrDerToPem("not der"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("CSR")));
}

}  // namespace
}  // namespace acme_signer::agent
