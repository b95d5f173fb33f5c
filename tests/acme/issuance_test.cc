#include "acme/issuance.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/acme/fake_http_client.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CertSpec;
using ::acme_signer::acme::testing::DerToPem;
using ::acme_signer::acme::testing::FakeHttpClient;
using ::acme_signer::acme::testing::MakeCertificateDer;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAccountUrl[] = "https://ca.test/my-account/1";
constexpr char kOrderUrl[] = "https://ca.test/my-order/1";
constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

std::string Order(const std::string& status,
                  const std::string& authzs = R"("https://ca.test/authZ/1")",
                  const std::string& extra = "") {
  return absl::StrCat(R"({"status":")", status,
                      R"(","identifiers":[{"type":"dns","value":"a.test"}],"authorizations":[)",
                      authzs, R"(],"finalize":"https://ca.test/finalize-order/1")",
                      status == "valid" ? R"(,"certificate":"https://ca.test/cert/1")" : "", extra,
                      "}");
}

std::string Authz(const std::string& status, const std::string& challenges,
                  const std::string& name = "a.test") {
  return absl::StrCat(R"({"identifier":{"type":"dns","value":")", name, R"("},"status":")", status,
                      R"(","challenges":[)", challenges, "]}");
}

std::string Http01(const std::string& status, const std::string& extra = "") {
  return absl::StrCat(R"({"type":"http-01","url":"https://ca.test/chal/h","status":")", status,
                      R"(","token":")", kToken, R"(")", extra, "}");
}

constexpr char kEmailChallenge[] =
    R"({"type":"sectigo-email-01","url":"https://ca.test/chal/e","status":"pending"})";

class RecordingSolver : public ChallengeSolver {
 public:
  std::vector<std::string> SupportedTypes() const override { return types; }
  absl::Status Present(const Authorization& authz, const Challenge& challenge,
                       absl::string_view key_authorization) override {
    presented.push_back(
        absl::StrCat(authz.identifier.value, " ", challenge.type, " ", key_authorization));
    return present_status;
  }
  void CleanUp(const Authorization& authz, const Challenge& challenge, absl::string_view) override {
    cleaned.push_back(absl::StrCat(authz.identifier.value, " ", challenge.type));
  }
  std::vector<std::string> types = {"http-01"};
  absl::Status present_status;
  std::vector<std::string> presented;
  std::vector<std::string> cleaned;
};

class IssuanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = OpenSslJwsSigner::GenerateEs256();
    AcmeClientOptions options;
    options.directory_url = testing::kDirectoryUrl;
    options.account_url = kAccountUrl;
    auto client = AcmeClient::Create(http_, *key_, options);
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
    options_.poll.jitter = 0;
    options_.poll.timeout = absl::Minutes(10);
    options_.poll.now = [this] { return now_; };
    options_.poll.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      now_ += d;
    };
    http_.AddDirectory();
    http_.AddNonce();
  }

  void AddCertificate() {
    http::HttpResponse response;
    response.status = 200;
    CertSpec spec;
    spec.dns_names = {"a.test"};
    response.body = DerToPem(MakeCertificateDer(spec));
    response.headers = {{"content-type", "application/pem-certificate-chain"}};
    http_.Add(response);
  }

  std::vector<std::string> RequestUrls() {
    std::vector<std::string> urls;
    for (const auto& request : http_.requests()) urls.push_back(request.url);
    return urls;
  }

  FakeHttpClient http_;
  std::unique_ptr<OpenSslJwsSigner> key_;
  std::unique_ptr<AcmeClient> client_;
  IssueOptions options_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<absl::Duration> sleeps_;
  RecordingSolver solver_;
  NewOrderOptions order_{{Identifier::Dns("a.test")}, std::nullopt, std::nullopt, ""};
  const std::string csr_ = "csr-der-bytes";
};

TEST_F(IssuanceTest, PollsFromPendingThroughProcessingToValidHonouringRetryAfter) {
  http_.AddJson(201, Order("pending"), {{"location", kOrderUrl}});
  http_.AddJson(200, Authz("pending", Http01("pending")));
  http_.AddJson(200, Http01("processing"));
  http_.AddJson(200, Authz("pending", Http01("processing")), {{"retry-after", "2"}});
  http_.AddJson(200, Authz("valid", Http01("valid")));
  http_.AddJson(200, Order("ready"));
  http_.AddJson(200, Order("processing"), {{"retry-after", "5"}});
  http_.AddJson(200, Order("processing"), {{"retry-after", "5"}});
  http_.AddJson(200, Order("valid"));
  AddCertificate();

  auto issued = IssueCertificate(*client_, order_, csr_, solver_, options_);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->order.status, OrderStatus::kValid);
  EXPECT_EQ(issued->challenges_answered, 1);
  EXPECT_EQ(issued->authorizations_already_valid, 0);
  EXPECT_EQ(issued->all_chains.size(), 1u);
  auto thumbprint = client_->AccountThumbprint();
  ASSERT_TRUE(thumbprint.ok());
  EXPECT_THAT(solver_.presented,
              ElementsAre(absl::StrCat("a.test http-01 ", kToken, ".", *thumbprint)));
  EXPECT_THAT(solver_.cleaned, ElementsAre("a.test http-01"));
  // Own back-off before the first authz poll, then the CA's Retry-After values.
  EXPECT_THAT(sleeps_,
              ElementsAre(absl::Seconds(1), absl::Seconds(2), absl::Seconds(5), absl::Seconds(5)));
  EXPECT_THAT(
      RequestUrls(),
      ElementsAre(testing::kDirectoryUrl, "https://ca.test/nonce-plz", "https://ca.test/order-plz",
                  "https://ca.test/authZ/1", "https://ca.test/chal/h", "https://ca.test/authZ/1",
                  "https://ca.test/authZ/1", kOrderUrl, "https://ca.test/finalize-order/1",
                  kOrderUrl, kOrderUrl, "https://ca.test/cert/1"));
}

TEST_F(IssuanceTest, AnOrderThatIsReadyAtCreationGoesStraightToFinalize) {
  http_.AddJson(201, Order("ready"), {{"location", kOrderUrl}});
  http_.AddJson(200, Order("valid"));
  AddCertificate();
  auto issued = IssueCertificate(*client_, order_, csr_, solver_, options_);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(solver_.presented.empty());
  EXPECT_EQ(issued->authorizations_already_valid, 1);
  EXPECT_THAT(
      RequestUrls(),
      ElementsAre(testing::kDirectoryUrl, "https://ca.test/nonce-plz", "https://ca.test/order-plz",
                  "https://ca.test/finalize-order/1", "https://ca.test/cert/1"));
}

TEST_F(IssuanceTest, SkipsValidAuthorizationsAndIgnoresUnknownChallengeTypes) {
  // Sectigo style: one name pre-validated (no challenges at all), the other offering an
  // e-mail challenge next to http-01.
  http_.AddJson(201, Order("pending", R"("https://ca.test/authZ/1","https://ca.test/authZ/2")"),
                {{"location", kOrderUrl}});
  http_.AddJson(200, R"({"identifier":{"type":"dns","value":"a.test"},"status":"valid"})");
  http_.AddJson(200,
                Authz("pending", absl::StrCat(kEmailChallenge, ",", Http01("pending")), "b.test"));
  http_.AddJson(200, Http01("valid"));
  http_.AddJson(200, Authz("valid", Http01("valid"), "b.test"));
  http_.AddJson(200, Order("ready"));
  http_.AddJson(200, Order("valid"));
  AddCertificate();
  auto issued = IssueCertificate(*client_, order_, csr_, solver_, options_);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->authorizations_already_valid, 1);
  EXPECT_EQ(issued->challenges_answered, 1);
  ASSERT_EQ(solver_.presented.size(), 1u);
  EXPECT_THAT(solver_.presented[0], HasSubstr("b.test http-01"));
}

TEST_F(IssuanceTest, ReportsOfferedTypesWhenNoChallengeIsSolvable) {
  http_.AddJson(201, Order("pending"), {{"location", kOrderUrl}});
  http_.AddJson(200, Authz("pending", kEmailChallenge));
  EXPECT_THAT(IssueCertificate(*client_, order_, csr_, solver_, options_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("dns:a.test"),
                             HasSubstr("the CA offered [sectigo-email-01 (pending)]"),
                             HasSubstr("the solver supports [http-01]"))));
  EXPECT_TRUE(solver_.presented.empty());
}

TEST_F(IssuanceTest, AFailedChallengeReturnsTheCasProblemAndCleansUp) {
  http_.AddJson(201, Order("pending"), {{"location", kOrderUrl}});
  http_.AddJson(200, Authz("pending", Http01("pending")));
  http_.AddJson(200, Http01("processing"));
  http_.AddJson(200, Authz("invalid", Http01("invalid", R"(,"error":{
      "type":"urn:ietf:params:acme:error:connection","status":400,
      "detail":"Connection refused to a.test:80"})")));
  auto issued = IssueCertificate(*client_, order_, csr_, solver_, options_);
  EXPECT_THAT(issued, StatusIs(absl::StatusCode::kFailedPrecondition,
                               AllOf(HasSubstr("authorization for dns:a.test is invalid"),
                                     HasSubstr("Connection refused to a.test:80"))));
  auto problem = GetProblem(issued.status());
  ASSERT_TRUE(problem.has_value());
  EXPECT_TRUE(problem->Is("connection"));
  EXPECT_THAT(solver_.cleaned, ElementsAre("a.test http-01"));
}

TEST_F(IssuanceTest, SolverFailureStopsBeforeAnsweringTheChallenge) {
  solver_.present_status = absl::PermissionDeniedError("cannot write webroot");
  http_.AddJson(201, Order("pending"), {{"location", kOrderUrl}});
  http_.AddJson(200, Authz("pending", Http01("pending")));
  EXPECT_THAT(IssueCertificate(*client_, order_, csr_, solver_, options_),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("publishing the http-01 response for dns:a.test"),
                             HasSubstr("cannot write webroot"))));
  EXPECT_TRUE(solver_.cleaned.empty());
  EXPECT_EQ(http_.remaining(), 0u);
}

TEST_F(IssuanceTest, AnOrderThatTurnsInvalidCarriesItsError) {
  http_.AddJson(201, Order("ready"), {{"location", kOrderUrl}});
  http_.AddJson(200, Order("invalid", R"("https://ca.test/authZ/1")", R"(,"error":{
      "type":"urn:ietf:params:acme:error:badCSR","detail":"CSR names do not match"})"));
  EXPECT_THAT(IssueCertificate(*client_, order_, csr_, solver_, options_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("is invalid"), HasSubstr("CSR names do not match"))));
}

TEST_F(IssuanceTest, GivesUpWhenProcessingOutlastsTheTimeout) {
  options_.poll.timeout = absl::Seconds(20);
  http_.AddJson(201, Order("ready"), {{"location", kOrderUrl}});
  http_.AddJson(200, Order("processing"), {{"retry-after", "8"}});
  http_.AddJson(200, Order("processing"), {{"retry-after", "8"}});
  http_.AddJson(200, Order("processing"), {{"retry-after", "8"}});
  EXPECT_THAT(IssueCertificate(*client_, order_, csr_, solver_, options_),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       AllOf(HasSubstr(kOrderUrl), HasSubstr("poll it again later"))));
  EXPECT_THAT(sleeps_, ElementsAre(absl::Seconds(8), absl::Seconds(8)));
}

}  // namespace
}  // namespace acme_signer::acme
