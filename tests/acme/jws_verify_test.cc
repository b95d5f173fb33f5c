#include "acme/jws_verify.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "acme/eab.h"
#include "acme/jwk.h"
#include "acme/jws.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

constexpr char kOrigin[] = "https://fd.test:8443";
constexpr char kNewOrderUrl[] = "https://fd.test:8443/acme/new-order";
constexpr char kNewAccountUrl[] = "https://fd.test:8443/acme/new-account";
constexpr char kKeyChangeUrl[] = "https://fd.test:8443/acme/key-change";
constexpr char kAccountUrl[] = "https://fd.test:8443/acme/account/7";
constexpr char kEabKid[] = "kid-web1-1";
const std::string kEabKey(32, '\x5a');

// "malformed", ... for a status carrying a ServerProblem; a description otherwise.
std::string ProblemType(const absl::Status& status) {
  std::optional<ServerProblem> problem = GetServerProblem(status);
  if (!problem.has_value()) return absl::StrCat("<no problem: ", status.ToString(), ">");
  return problem->type;
}

// A flattened JWS with exactly this header, payload and signature (for refusals that the
// client-side builder would not produce).
std::string RawJws(const Json& header, absl::string_view payload, const hsm::JwsSigner& signer,
                   Json extra = Json::object()) {
  const std::string protected_b64 = Base64Url(header.dump());
  const std::string payload_b64 = Base64Url(payload);
  absl::StatusOr<std::string> signature =
      signer.Sign(absl::StrCat(protected_b64, ".", payload_b64));
  EXPECT_TRUE(signature.ok());
  Json jws = {{"protected", protected_b64},
              {"payload", payload_b64},
              {"signature", Base64Url(signature.value_or(""))}};
  for (auto& [name, value] : extra.items()) jws[name] = value;
  return jws.dump();
}

class JwsVerifyTest : public ::testing::Test {
 protected:
  JwsVerifyTest() : account_(OpenSslJwsSigner::GenerateEs256()) {
    accounts_[kAccountUrl] = account_->PublicJwk();
  }

  std::string Nonce() {
    std::string nonce = Base64Url(absl::StrCat("nonce-", next_nonce_++));
    issued_.insert(nonce);
    return nonce;
  }

  AccountKeyLookup Lookup() {
    return [this](absl::string_view kid) -> absl::StatusOr<std::string> {
      auto it = accounts_.find(std::string(kid));
      if (it == accounts_.end()) return absl::NotFoundError("no such account");
      return it->second;
    };
  }
  NonceConsumer Consumer() {
    return [this](absl::string_view nonce) -> absl::Status {
      if (issued_.erase(std::string(nonce)) == 1) return absl::OkStatus();
      return ServerProblemStatus(problem_type::kBadNonce, "unknown nonce");
    };
  }

  absl::StatusOr<VerifiedJws> Verify(absl::string_view body, absl::string_view url = kNewOrderUrl,
                                     JwsKeyForm form = JwsKeyForm::kKid,
                                     size_t max_body = kDefaultMaxJwsBodySize) {
    JwsRequestRules rules;
    rules.expected_url = std::string(url);
    rules.key_form = form;
    rules.max_body_size = max_body;
    return VerifyJwsRequest(body, rules, Lookup(), Consumer());
  }

  // A kid request for kNewOrderUrl signed by the account key, as our ACME client builds it.
  std::string KidRequest(absl::string_view payload = R"({"identifiers":[]})") {
    absl::StatusOr<std::string> body =
        SignJws(*account_, kNewOrderUrl, Nonce(), kAccountUrl, payload);
    EXPECT_TRUE(body.ok()) << body.status();
    return body.value_or("");
  }

  Json Header(absl::string_view alg = "ES256") {
    return {{"alg", alg}, {"nonce", Nonce()}, {"url", kNewOrderUrl}, {"kid", kAccountUrl}};
  }

  std::unique_ptr<OpenSslJwsSigner> account_;
  std::map<std::string, std::string> accounts_;
  std::set<std::string> issued_;
  int next_nonce_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Accepted requests

TEST_F(JwsVerifyTest, AcceptsKidRequestsSignedWithEveryAcceptedAlgorithm) {
  std::vector<std::unique_ptr<OpenSslJwsSigner>> signers;
  signers.push_back(OpenSslJwsSigner::GenerateEs256());
  signers.push_back(OpenSslJwsSigner::GenerateEs384());
  signers.push_back(OpenSslJwsSigner::GenerateEs512());
  signers.push_back(OpenSslJwsSigner::GenerateRs256());
  for (const auto& signer : signers) {
    SCOPED_TRACE(signer->Algorithm());
    const std::string kid = absl::StrCat(kOrigin, "/acme/account/", signer->Algorithm());
    accounts_[kid] = signer->PublicJwk();
    absl::StatusOr<std::string> body =
        SignJws(*signer, kNewOrderUrl, Nonce(), kid, R"({"identifiers":[]})");
    ASSERT_TRUE(body.ok()) << body.status();
    absl::StatusOr<VerifiedJws> verified = Verify(*body);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(verified->alg, signer->Algorithm());
    EXPECT_EQ(verified->kid, kid);
    EXPECT_EQ(verified->url, kNewOrderUrl);
    EXPECT_EQ(verified->payload, R"({"identifiers":[]})");
    EXPECT_EQ(verified->jwk, *CanonicalJwk(signer->PublicJwk()));
    EXPECT_EQ(verified->thumbprint, *JwkThumbprint(signer->PublicJwk()));
    EXPECT_FALSE(verified->is_post_as_get());
  }
  EXPECT_TRUE(issued_.empty()) << "every nonce consumed";
}

TEST_F(JwsVerifyTest, AcceptsJwkRequestsWhereTheEndpointAllowsThem) {
  auto signer = OpenSslJwsSigner::GenerateEs384();
  absl::StatusOr<std::string> body = SignJws(*signer, kNewAccountUrl, Nonce(), "", "{}");
  ASSERT_TRUE(body.ok());
  absl::StatusOr<VerifiedJws> verified = Verify(*body, kNewAccountUrl, JwsKeyForm::kJwk);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_FALSE(verified->has_kid());
  EXPECT_EQ(verified->jwk, *CanonicalJwk(signer->PublicJwk()));

  // revokeCert takes either form.
  body = SignJws(*signer, kNewAccountUrl, Nonce(), "", "{}");
  EXPECT_TRUE(Verify(*body, kNewAccountUrl, JwsKeyForm::kJwkOrKid).ok());
  body = SignJws(*account_, kNewAccountUrl, Nonce(), kAccountUrl, "{}");
  EXPECT_TRUE(Verify(*body, kNewAccountUrl, JwsKeyForm::kJwkOrKid).ok());
}

TEST_F(JwsVerifyTest, PostAsGetHasAnEmptyPayload) {
  absl::StatusOr<VerifiedJws> verified = Verify(KidRequest(""));
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->is_post_as_get());
  EXPECT_EQ(ProblemType(ParseJwsPayloadObject(verified->payload).status()), "malformed");
}

TEST_F(JwsVerifyTest, AcceptsOtherHarmlessHeaderMembers) {
  Json header = Header();
  header["typ"] = "JWT";
  EXPECT_TRUE(Verify(RawJws(header, "{}", *account_)).ok());
}

TEST(JoseContentTypeTest, AcceptsOnlyApplicationJoseJson) {
  EXPECT_TRUE(CheckJoseContentType("application/jose+json").ok());
  EXPECT_TRUE(CheckJoseContentType("Application/JOSE+JSON").ok());
  for (const char* bad :
       {"application/json", "", "application/jose+json; charset=utf-8", "application/jose"}) {
    SCOPED_TRACE(bad);
    absl::Status status = CheckJoseContentType(bad);
    EXPECT_EQ(ProblemType(status), "malformed");
    EXPECT_EQ(GetServerProblem(status)->http_status, 415);
  }
}

TEST_F(JwsVerifyTest, AnEmptyExpectedUrlIsAServerError) {
  EXPECT_EQ(ProblemType(Verify(KidRequest(), "").status()), "serverInternal");
}

TEST(JwsUrlMatchesTest, ComparesExactly) {
  EXPECT_TRUE(JwsUrlMatches(kNewOrderUrl, kNewOrderUrl));
  EXPECT_FALSE(JwsUrlMatches("https://FD.test:8443/acme/new-order", kNewOrderUrl));
  EXPECT_FALSE(JwsUrlMatches("https://fd.test:8443/acme/new-order/", kNewOrderUrl));
  EXPECT_FALSE(JwsUrlMatches("", ""));
}

// ---------------------------------------------------------------------------------------------
// Refusals: algorithm and key

TEST_F(JwsVerifyTest, RefusesAlgNoneWithTheAcceptedAlgorithms) {
  Json header = Header("none");
  Json jws = {
      {"protected", Base64Url(header.dump())}, {"payload", Base64Url("{}")}, {"signature", ""}};
  absl::Status status = Verify(jws.dump()).status();
  // An empty signature is refused before the alg is read; with a signature, the alg.
  EXPECT_EQ(ProblemType(status), "malformed");
  status = Verify(RawJws(header, "{}", *account_)).status();
  EXPECT_EQ(ProblemType(status), "badSignatureAlgorithm");
  EXPECT_THAT(GetServerProblem(status)->algorithms,
              ElementsAre("RS256", "ES256", "ES384", "ES512"));
  EXPECT_THAT(GetServerProblem(status)->ToJson(), HasSubstr(R"("algorithms":["RS256")"));
}

TEST_F(JwsVerifyTest, RefusesHs256OutsideEab) {
  Json header = Header("HS256");
  const std::string protected_b64 = Base64Url(header.dump());
  const std::string payload_b64 = Base64Url("{}");
  const std::string mac = *Hmac("HS256", kEabKey, absl::StrCat(protected_b64, ".", payload_b64));
  Json jws = {
      {"protected", protected_b64}, {"payload", payload_b64}, {"signature", Base64Url(mac)}};
  EXPECT_EQ(ProblemType(Verify(jws.dump()).status()), "badSignatureAlgorithm");
}

TEST_F(JwsVerifyTest, RefusesAnAlgThatDoesNotFitTheKey) {
  // The stored account key is P-256; the header claims ES384 (or RS256).
  EXPECT_EQ(ProblemType(Verify(RawJws(Header("ES384"), "{}", *account_)).status()),
            "badSignatureAlgorithm");
  EXPECT_EQ(ProblemType(Verify(RawJws(Header("RS256"), "{}", *account_)).status()),
            "badSignatureAlgorithm");
  // The same with a jwk in the header.
  auto rsa = OpenSslJwsSigner::GenerateRs256();
  Json header = {{"alg", "ES256"},
                 {"nonce", Nonce()},
                 {"url", kNewAccountUrl},
                 {"jwk", Json::parse(rsa->PublicJwk())}};
  EXPECT_EQ(
      ProblemType(Verify(RawJws(header, "{}", *rsa), kNewAccountUrl, JwsKeyForm::kJwk).status()),
      "badSignatureAlgorithm");
}

TEST_F(JwsVerifyTest, RefusesKeysTheServerDoesNotAccept) {
  auto small = OpenSslJwsSigner::GenerateRs256(1024);
  Json header = {{"alg", "RS256"},
                 {"nonce", Nonce()},
                 {"url", kNewAccountUrl},
                 {"jwk", Json::parse(small->PublicJwk())}};
  EXPECT_EQ(
      ProblemType(Verify(RawJws(header, "{}", *small), kNewAccountUrl, JwsKeyForm::kJwk).status()),
      "badPublicKey");

  Json private_jwk = Json::parse(account_->PublicJwk());
  private_jwk["d"] = Base64Url(std::string(32, '\x01'));
  header = {{"alg", "ES256"}, {"nonce", Nonce()}, {"url", kNewAccountUrl}, {"jwk", private_jwk}};
  EXPECT_EQ(ProblemType(
                Verify(RawJws(header, "{}", *account_), kNewAccountUrl, JwsKeyForm::kJwk).status()),
            "badPublicKey");

  Json off_curve = Json::parse(account_->PublicJwk());
  off_curve["y"] = Base64Url(std::string(32, '\x01'));
  header = {{"alg", "ES256"}, {"nonce", Nonce()}, {"url", kNewAccountUrl}, {"jwk", off_curve}};
  EXPECT_EQ(ProblemType(
                Verify(RawJws(header, "{}", *account_), kNewAccountUrl, JwsKeyForm::kJwk).status()),
            "badPublicKey");

  Json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", Base64Url(std::string(32, 'x'))}};
  header = {{"alg", "ES256"}, {"nonce", Nonce()}, {"url", kNewAccountUrl}, {"jwk", okp}};
  EXPECT_EQ(ProblemType(
                Verify(RawJws(header, "{}", *account_), kNewAccountUrl, JwsKeyForm::kJwk).status()),
            "badPublicKey");
}

TEST_F(JwsVerifyTest, RefusesAWrongSignatureAsUnauthorized) {
  auto other = OpenSslJwsSigner::GenerateEs256();
  absl::Status status = Verify(RawJws(Header(), "{}", *other)).status();
  EXPECT_EQ(ProblemType(status), "unauthorized");
  EXPECT_EQ(GetServerProblem(status)->http_status, 403);
  EXPECT_EQ(issued_.size(), 1u) << "a request that does not verify uses no nonce";

  // A payload changed after signing.
  Json jws = Json::parse(KidRequest());
  jws["payload"] = Base64Url(R"({"identifiers":[{"type":"dns","value":"evil.test"}]})");
  EXPECT_EQ(ProblemType(Verify(jws.dump()).status()), "unauthorized");
}

TEST_F(JwsVerifyTest, RefusesAnUnknownKidAsAccountDoesNotExist) {
  Json header = Header();
  header["kid"] = absl::StrCat(kOrigin, "/acme/account/999");
  EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "accountDoesNotExist");
}

TEST_F(JwsVerifyTest, PassesTheLookupsProblemOnAndHidesItsOtherErrors) {
  JwsRequestRules rules;
  rules.expected_url = kNewOrderUrl;
  AccountKeyLookup deactivated = [](absl::string_view) -> absl::StatusOr<std::string> {
    return ServerProblemStatus(problem_type::kUnauthorized, "account is deactivated");
  };
  absl::Status status = VerifyJwsRequest(KidRequest(), rules, deactivated, Consumer()).status();
  EXPECT_EQ(ProblemType(status), "unauthorized");
  EXPECT_EQ(GetServerProblem(status)->detail, "account is deactivated");

  AccountKeyLookup broken = [](absl::string_view) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("database /var/lib/secret.db is locked");
  };
  status = VerifyJwsRequest(KidRequest(), rules, broken, Consumer()).status();
  EXPECT_EQ(ProblemType(status), "serverInternal");
  EXPECT_EQ(ProblemForStatus(status).http_status, 500);
  EXPECT_THAT(ProblemForStatus(status).ToJson(), Not(HasSubstr("secret.db")));
}

// ---------------------------------------------------------------------------------------------
// Refusals: jwk / kid

TEST_F(JwsVerifyTest, RefusesBothJwkAndKid) {
  Json header = Header();
  header["jwk"] = Json::parse(account_->PublicJwk());
  EXPECT_EQ(
      ProblemType(
          Verify(RawJws(header, "{}", *account_), kNewOrderUrl, JwsKeyForm::kJwkOrKid).status()),
      "malformed");
}

TEST_F(JwsVerifyTest, RefusesNeitherJwkNorKid) {
  Json header = Header();
  header.erase("kid");
  EXPECT_EQ(
      ProblemType(
          Verify(RawJws(header, "{}", *account_), kNewOrderUrl, JwsKeyForm::kJwkOrKid).status()),
      "malformed");
}

TEST_F(JwsVerifyTest, RefusesJwkWhereTheEndpointWantsKid) {
  absl::StatusOr<std::string> body = SignJws(*account_, kNewOrderUrl, Nonce(), "", "{}");
  absl::Status status = Verify(*body).status();
  EXPECT_EQ(ProblemType(status), "malformed");
  EXPECT_THAT(GetServerProblem(status)->detail, HasSubstr("requires \"kid\""));
}

TEST_F(JwsVerifyTest, RefusesKidOnNewAccount) {
  absl::StatusOr<std::string> body = SignJws(*account_, kNewAccountUrl, Nonce(), kAccountUrl, "{}");
  EXPECT_EQ(ProblemType(Verify(*body, kNewAccountUrl, JwsKeyForm::kJwk).status()), "malformed");
}

// ---------------------------------------------------------------------------------------------
// Refusals: serialisation

TEST_F(JwsVerifyTest, RefusesAnUnprotectedHeader) {
  Json extra = {{"header", {{"kid", kAccountUrl}}}};
  absl::Status status = Verify(RawJws(Header(), "{}", *account_, extra)).status();
  EXPECT_EQ(ProblemType(status), "malformed");
  EXPECT_THAT(GetServerProblem(status)->detail, HasSubstr("unprotected header"));
}

TEST_F(JwsVerifyTest, RefusesTwoSignatures) {
  Json one = Json::parse(KidRequest());
  Json two = Json::parse(KidRequest());
  Json general = {{"payload", one["payload"]},
                  {"signatures",
                   {{{"protected", one["protected"]}, {"signature", one["signature"]}},
                    {{"protected", two["protected"]}, {"signature", two["signature"]}}}}};
  absl::Status status = Verify(general.dump()).status();
  EXPECT_EQ(ProblemType(status), "malformed");
  EXPECT_THAT(GetServerProblem(status)->detail, HasSubstr("general JWS serialization"));
}

TEST_F(JwsVerifyTest, RefusesCompactSerializationExtraMembersAndDuplicates) {
  Json jws = Json::parse(KidRequest());
  const std::string compact =
      absl::StrCat(jws["protected"].get<std::string>(), ".", jws["payload"].get<std::string>(), ".",
                   jws["signature"].get<std::string>());
  EXPECT_EQ(ProblemType(Verify(compact).status()), "malformed");

  Json extra = jws;
  extra["unexpected"] = 1;
  EXPECT_EQ(ProblemType(Verify(extra.dump()).status()), "malformed");

  // The same member twice: nlohmann would keep the last one.
  const std::string duplicate =
      absl::StrCat(R"({"protected":")", jws["protected"].get<std::string>(), R"(","payload":")",
                   Base64Url("{}"), R"(","payload":")", jws["payload"].get<std::string>(),
                   R"(","signature":")", jws["signature"].get<std::string>(), R"("})");
  EXPECT_EQ(ProblemType(Verify(duplicate).status()), "malformed");

  // A duplicate member inside the protected header.
  const std::string header_json =
      absl::StrCat(R"({"alg":"ES256","nonce":")", Nonce(), R"(","url":")", kNewOrderUrl,
                   R"(","kid":")", kAccountUrl, R"(","KID":"x"})");
  Json dup_header = jws;
  dup_header["protected"] = Base64Url(header_json);
  EXPECT_EQ(ProblemType(Verify(dup_header.dump()).status()), "malformed");

  EXPECT_EQ(ProblemType(Verify("[]").status()), "malformed");
  EXPECT_EQ(ProblemType(Verify("").status()), "malformed");
}

TEST_F(JwsVerifyTest, RefusesBadBase64url) {
  Json jws = Json::parse(KidRequest());
  for (const char* member : {"protected", "payload", "signature"}) {
    SCOPED_TRACE(member);
    Json padded = jws;
    padded[member] = absl::StrCat(jws[member].get<std::string>(), "=");
    EXPECT_EQ(ProblemType(Verify(padded.dump()).status()), "malformed");
    Json standard = jws;
    standard[member] = absl::StrCat("+/", jws[member].get<std::string>());
    EXPECT_EQ(ProblemType(Verify(standard.dump()).status()), "malformed");
  }
  Json not_string = jws;
  not_string["payload"] = Json::object();
  EXPECT_EQ(ProblemType(Verify(not_string.dump()).status()), "malformed");
}

TEST_F(JwsVerifyTest, RefusesAnOversizedBody) {
  const std::string body = KidRequest(absl::StrCat(R"({"x":")", std::string(2000, 'a'), R"("})"));
  absl::Status status = Verify(body, kNewOrderUrl, JwsKeyForm::kKid, 1000).status();
  EXPECT_EQ(ProblemType(status), "malformed");
  EXPECT_EQ(GetServerProblem(status)->http_status, 413);
  EXPECT_TRUE(Verify(body, kNewOrderUrl, JwsKeyForm::kKid, body.size()).ok());
}

TEST_F(JwsVerifyTest, RefusesHeadersThatChangeHowTheJwsIsRead) {
  for (const char* member : {"crit", "b64", "jku", "x5c", "x5u"}) {
    SCOPED_TRACE(member);
    Json header = Header();
    header[member] = Json::array({"b64"});
    EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "malformed");
  }
}

// ---------------------------------------------------------------------------------------------
// Refusals: url and nonce

TEST_F(JwsVerifyTest, RefusesAUrlOtherThanTheEndpoints) {
  for (const std::string& url :
       {std::string("https://fd.test:8443/acme/new-account"),
        std::string("https://fd.test/acme/new-order"),
        std::string("https://FD.test:8443/acme/new-order"), std::string("")}) {
    SCOPED_TRACE(url);
    Json header = Header();
    header["url"] = url;
    EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "malformed");
  }
  Json header = Header();
  header.erase("url");
  EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "malformed");
}

TEST_F(JwsVerifyTest, RefusesAMissingUnknownOrReplayedNonce) {
  Json header = Header();
  header.erase("nonce");
  EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "badNonce");

  header = Header();
  header["nonce"] = Base64Url("never issued");
  EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "badNonce");

  header = Header();
  header["nonce"] = "not base64url!";
  EXPECT_EQ(ProblemType(Verify(RawJws(header, "{}", *account_)).status()), "badNonce");

  const std::string body = KidRequest();
  ASSERT_TRUE(Verify(body).ok());
  absl::Status replay = Verify(body).status();
  EXPECT_EQ(ProblemType(replay), "badNonce");
  EXPECT_EQ(GetServerProblem(replay)->http_status, 400);
}

// ---------------------------------------------------------------------------------------------
// External Account Binding (RFC 8555 §7.3.4)

class EabVerifyTest : public JwsVerifyTest {
 protected:
  EabVerifyTest() : new_key_(OpenSslJwsSigner::GenerateEs256()) {}

  EabKeyLookup EabLookup() {
    return [](absl::string_view kid) -> absl::StatusOr<Secret> {
      if (kid != kEabKid) return absl::NotFoundError("unknown");
      return Secret(kEabKey);
    };
  }

  // The outer newAccount request carrying `eab`, verified.
  VerifiedJws Outer(const Json& eab) {
    Json payload = {{"termsOfServiceAgreed", true}};
    if (!eab.is_null()) payload["externalAccountBinding"] = eab;
    absl::StatusOr<std::string> body =
        SignJws(*new_key_, kNewAccountUrl, Nonce(), "", payload.dump());
    EXPECT_TRUE(body.ok());
    absl::StatusOr<VerifiedJws> verified = Verify(*body, kNewAccountUrl, JwsKeyForm::kJwk);
    EXPECT_TRUE(verified.ok()) << verified.status();
    return verified.value_or(VerifiedJws{});
  }

  absl::StatusOr<VerifiedEab> VerifyEab(const Json& eab) {
    VerifiedJws outer = Outer(eab);
    absl::StatusOr<Json> payload = ParseJwsPayloadObject(outer.payload);
    EXPECT_TRUE(payload.ok());
    return VerifyExternalAccountBinding(payload.value_or(Json::object()), outer, EabLookup());
  }

  // An EAB JWS with this header and payload, MAC'd with `key`.
  static Json RawEab(const Json& header, absl::string_view payload, absl::string_view key) {
    const std::string protected_b64 = Base64Url(header.dump());
    const std::string payload_b64 = Base64Url(payload);
    const std::string alg = header.value("alg", "HS256");
    absl::StatusOr<std::string> mac = Hmac(alg == "HS384" || alg == "HS512" ? alg : "HS256", key,
                                           absl::StrCat(protected_b64, ".", payload_b64));
    EXPECT_TRUE(mac.ok());
    return {{"protected", protected_b64}, {"payload", payload_b64}, {"signature", Base64Url(*mac)}};
  }

  Json EabHeader(absl::string_view alg = "HS256") {
    return {{"alg", alg}, {"kid", kEabKid}, {"url", kNewAccountUrl}};
  }

  std::unique_ptr<OpenSslJwsSigner> new_key_;
};

TEST_F(EabVerifyTest, AcceptsTheBindingOurClientBuilds) {
  OpenSslMacSigner mac(kEabKey);
  absl::StatusOr<Json> eab =
      BuildExternalAccountBinding(mac, kEabKid, kNewAccountUrl, new_key_->PublicJwk());
  ASSERT_TRUE(eab.ok()) << eab.status();
  absl::StatusOr<VerifiedEab> verified = VerifyEab(*eab);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(verified->eab_kid, kEabKid);
  EXPECT_EQ(verified->alg, "HS256");
}

TEST_F(EabVerifyTest, AcceptsHs384AndHs512) {
  for (const char* alg : {"HS384", "HS512"}) {
    SCOPED_TRACE(alg);
    absl::StatusOr<VerifiedEab> verified =
        VerifyEab(RawEab(EabHeader(alg), new_key_->PublicJwk(), kEabKey));
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(verified->alg, alg);
  }
}

TEST_F(EabVerifyTest, RefusesAMissingBindingAsExternalAccountRequired) {
  EXPECT_EQ(ProblemType(VerifyEab(Json()).status()), "externalAccountRequired");
}

TEST_F(EabVerifyTest, RefusesAWrongMacAsUnauthorized) {
  absl::Status status =
      VerifyEab(RawEab(EabHeader(), new_key_->PublicJwk(), std::string(32, 'w'))).status();
  EXPECT_EQ(ProblemType(status), "unauthorized");
  // Neither key appears in what the client or the log sees.
  EXPECT_THAT(status.ToString(), Not(HasSubstr(kEabKey)));
  EXPECT_THAT(status.ToString(), Not(HasSubstr(Base64Url(kEabKey))));
}

TEST_F(EabVerifyTest, RefusesAnUnknownKeyIdAsUnauthorized) {
  Json header = EabHeader();
  header["kid"] = "kid-unknown";
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "unauthorized");
}

TEST_F(EabVerifyTest, RefusesAnInnerUrlOtherThanTheOuter) {
  Json header = EabHeader();
  header["url"] = kNewOrderUrl;
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "malformed");
}

TEST_F(EabVerifyTest, RefusesAPayloadOtherThanTheAccountKey) {
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(EabHeader(), account_->PublicJwk(), kEabKey)).status()),
            "malformed");
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(EabHeader(), "{}", kEabKey)).status()), "malformed");
  // The account key in another member order is the same key.
  Json reordered = Json::parse(new_key_->PublicJwk());
  const std::string reversed =
      absl::StrCat(R"({"y":")", reordered["y"].get<std::string>(), R"(","x":")",
                   reordered["x"].get<std::string>(), R"(","kty":"EC","crv":"P-256"})");
  EXPECT_TRUE(VerifyEab(RawEab(EabHeader(), reversed, kEabKey)).ok());
}

TEST_F(EabVerifyTest, RefusesANonceOrJwkInTheBinding) {
  Json header = EabHeader();
  header["nonce"] = Nonce();
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "malformed");
  header = EabHeader();
  header["jwk"] = Json::parse(new_key_->PublicJwk());
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "malformed");
}

TEST_F(EabVerifyTest, RefusesAnAsymmetricOrMissingAlg) {
  Json header = EabHeader("ES256");
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "malformed");
  header.erase("alg");
  EXPECT_EQ(ProblemType(VerifyEab(RawEab(header, new_key_->PublicJwk(), kEabKey)).status()),
            "malformed");
}

TEST_F(EabVerifyTest, RefusesABindingThatIsNotAFlattenedJws) {
  Json eab = RawEab(EabHeader(), new_key_->PublicJwk(), kEabKey);
  eab["header"] = Json::object();
  EXPECT_EQ(ProblemType(VerifyEab(eab).status()), "malformed");
  EXPECT_EQ(ProblemType(VerifyEab("a string").status()), "malformed");
}

TEST_F(EabVerifyTest, PassesTheKeyLookupsProblemOn) {
  VerifiedJws outer = Outer(RawEab(EabHeader(), new_key_->PublicJwk(), kEabKey));
  EabKeyLookup used = [](absl::string_view) -> absl::StatusOr<Secret> {
    return ServerProblemStatus(problem_type::kUnauthorized, "key id already bound");
  };
  absl::Status status =
      VerifyExternalAccountBinding(*ParseJwsPayloadObject(outer.payload), outer, used).status();
  EXPECT_EQ(ProblemType(status), "unauthorized");
  EXPECT_EQ(GetServerProblem(status)->detail, "key id already bound");
}

// ---------------------------------------------------------------------------------------------
// keyChange (RFC 8555 §7.3.5)

class KeyChangeTest : public JwsVerifyTest {
 protected:
  KeyChangeTest() : new_key_(OpenSslJwsSigner::GenerateEs384()) {}

  Json InnerHeader() {
    return {{"alg", new_key_->Algorithm()},
            {"url", kKeyChangeUrl},
            {"jwk", Json::parse(new_key_->PublicJwk())}};
  }
  Json InnerPayload() {
    return {{"account", kAccountUrl}, {"oldKey", Json::parse(account_->PublicJwk())}};
  }

  // The outer request (signed by the current key, kid) around `inner`, verified.
  absl::StatusOr<VerifiedKeyChange> Change(const std::string& inner) {
    absl::StatusOr<std::string> body =
        SignJws(*account_, kKeyChangeUrl, Nonce(), kAccountUrl, inner);
    EXPECT_TRUE(body.ok());
    absl::StatusOr<VerifiedJws> outer = Verify(*body, kKeyChangeUrl);
    EXPECT_TRUE(outer.ok()) << outer.status();
    if (!outer.ok()) return outer.status();
    return VerifyKeyChange(*outer);
  }

  std::unique_ptr<OpenSslJwsSigner> new_key_;
};

TEST_F(KeyChangeTest, AcceptsARolloverToANewKey) {
  absl::StatusOr<VerifiedKeyChange> change =
      Change(RawJws(InnerHeader(), InnerPayload().dump(), *new_key_));
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_EQ(change->alg, "ES384");
  EXPECT_EQ(change->new_jwk, *CanonicalJwk(new_key_->PublicJwk()));
  EXPECT_EQ(change->thumbprint, *JwkThumbprint(new_key_->PublicJwk()));
}

TEST_F(KeyChangeTest, AcceptsTheInnerJwsOurClientWouldBuild) {
  // acme::SignJws with an empty kid and no nonce is exactly the §7.3.5 inner JWS.
  absl::StatusOr<std::string> inner =
      SignJws(*new_key_, kKeyChangeUrl, std::nullopt, "", InnerPayload().dump());
  ASSERT_TRUE(inner.ok());
  EXPECT_TRUE(Change(*inner).ok());
}

TEST_F(KeyChangeTest, RefusesAnInnerUrlOtherThanTheOuter) {
  Json header = InnerHeader();
  header["url"] = kNewOrderUrl;
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *new_key_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesANonceOrKidInTheInnerHeader) {
  Json header = InnerHeader();
  header["nonce"] = Nonce();
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *new_key_)).status()),
            "malformed");
  header = InnerHeader();
  header["kid"] = kAccountUrl;
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *new_key_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesAnInnerJwsNotSignedByTheNewKey) {
  EXPECT_EQ(ProblemType(Change(RawJws(InnerHeader(), InnerPayload().dump(),
                                      *OpenSslJwsSigner::GenerateEs384()))
                            .status()),
            "unauthorized");
}

TEST_F(KeyChangeTest, RefusesAnotherAccount) {
  Json payload = InnerPayload();
  payload["account"] = absl::StrCat(kOrigin, "/acme/account/8");
  EXPECT_EQ(ProblemType(Change(RawJws(InnerHeader(), payload.dump(), *new_key_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesAnOldKeyOtherThanTheCurrentOne) {
  Json payload = InnerPayload();
  payload["oldKey"] = Json::parse(OpenSslJwsSigner::GenerateEs256()->PublicJwk());
  EXPECT_EQ(ProblemType(Change(RawJws(InnerHeader(), payload.dump(), *new_key_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesExtraOrMissingPayloadMembers) {
  Json payload = InnerPayload();
  payload["newKey"] = "x";
  EXPECT_EQ(ProblemType(Change(RawJws(InnerHeader(), payload.dump(), *new_key_)).status()),
            "malformed");
  payload = InnerPayload();
  payload.erase("oldKey");
  EXPECT_EQ(ProblemType(Change(RawJws(InnerHeader(), payload.dump(), *new_key_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesTheCurrentKeyAsTheNewOne) {
  Json header = {
      {"alg", "ES256"}, {"url", kKeyChangeUrl}, {"jwk", Json::parse(account_->PublicJwk())}};
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *account_)).status()),
            "malformed");
}

TEST_F(KeyChangeTest, RefusesANewKeyTheServerDoesNotAccept) {
  auto small = OpenSslJwsSigner::GenerateRs256(1024);
  Json header = {
      {"alg", "RS256"}, {"url", kKeyChangeUrl}, {"jwk", Json::parse(small->PublicJwk())}};
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *small)).status()),
            "badPublicKey");
  header = InnerHeader();
  header["alg"] = "HS256";
  EXPECT_EQ(ProblemType(Change(RawJws(header, InnerPayload().dump(), *new_key_)).status()),
            "badSignatureAlgorithm");
}

}  // namespace
}  // namespace acme_signer::acme
