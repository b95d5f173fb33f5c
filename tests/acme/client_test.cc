#include "acme/client.h"

#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/acme/fake_http_client.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CertSpec;
using ::acme_signer::acme::testing::DecodeFlattenedJws;
using ::acme_signer::acme::testing::DerToPem;
using ::acme_signer::acme::testing::FakeHttpClient;
using ::acme_signer::acme::testing::HmacSha256;
using ::acme_signer::acme::testing::MakeCertificateDer;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::acme_signer::acme::testing::VerifyJwsSignature;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kAccountUrl[] = "https://ca.test/my-account/1";
constexpr char kOrderUrl[] = "https://ca.test/my-order/1";
constexpr char kPendingOrder[] =
    R"({"status":"pending","identifiers":[{"type":"dns","value":"a.test"}],
  "authorizations":["https://ca.test/authZ/1"],"finalize":"https://ca.test/finalize-order/1"})";
constexpr char kToken[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

struct Sent {
  Json header;
  Json payload;  // null for POST-as-GET
  std::string raw_payload;
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { key_ = OpenSslJwsSigner::GenerateEs256(); }

  std::unique_ptr<AcmeClient> MakeClient(std::string account_url = kAccountUrl) {
    AcmeClientOptions options;
    options.directory_url = testing::kDirectoryUrl;
    options.account_url = std::move(account_url);
    options.now = [] { return absl::FromUnixSeconds(1700000000); };
    auto client = AcmeClient::Create(http_, *key_, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // Decodes (and verifies with `key`) the JWS of request `index`.
  Sent Decode(size_t index, const hsm::JwsSigner* key = nullptr) {
    const auto requests = http_.requests();
    EXPECT_LT(index, requests.size());
    if (index >= requests.size()) return {};
    const http::HttpRequest& request = requests[index];
    EXPECT_EQ(request.method, http::HttpMethod::kPost);
    EXPECT_EQ(request.content_type, "application/jose+json");
    auto jws = DecodeFlattenedJws(request.body);
    EXPECT_TRUE(jws.ok()) << jws.status();
    if (!jws.ok()) return {};
    const hsm::JwsSigner& verify_with = key != nullptr ? *key : *key_;
    EXPECT_TRUE(VerifyJwsSignature(verify_with.Algorithm(), verify_with.PublicKeyDer(),
                                   jws->signing_input, jws->signature)
                    .ok());
    Sent sent;
    sent.header = Json::parse(jws->protected_json);
    sent.raw_payload = jws->payload_json;
    if (!jws->payload_json.empty()) sent.payload = Json::parse(jws->payload_json);
    EXPECT_EQ(sent.header["url"], request.url);
    return sent;
  }

  FakeHttpClient http_;
  std::unique_ptr<OpenSslJwsSigner> key_;
};

// --- Directory and nonces ---------------------------------------------------------------------

TEST_F(ClientTest, FetchesTheDirectoryOnceAndCachesIt) {
  http_.AddDirectory();
  auto client = MakeClient();
  ASSERT_TRUE(client->GetDirectory().ok());
  auto again = client->GetDirectory();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->new_order, "https://ca.test/order-plz");
  EXPECT_EQ(http_.requests().size(), 1u);
  EXPECT_EQ(http_.requests()[0].method, http::HttpMethod::kGet);
}

// The value of `series` in the process metrics (common/metrics.h), 0 when absent.
double ProcessMetricValue(absl::string_view series) {
  const std::string text = ProcessMetrics().Render();
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double value = 0;
    if (absl::SimpleAtod(line, &value)) return value;
  }
  return 0;
}

TEST_F(ClientTest, EveryRequestToTheCaIsTimedAndCountedByStatus) {
  const double ok = ProcessMetricValue("acme_signer_ca_responses_total{status=\"200\"}");
  const double transport =
      ProcessMetricValue("acme_signer_ca_responses_total{status=\"transport_error\"}");
  const double timed =
      ProcessMetricValue("acme_signer_ca_request_duration_seconds_count{method=\"GET\"}");
  http_.AddError(absl::UnavailableError("connection refused"));
  EXPECT_FALSE(MakeClient()->GetDirectory().ok());
  http_.AddDirectory();
  ASSERT_TRUE(MakeClient()->GetDirectory().ok());
  EXPECT_EQ(ProcessMetricValue("acme_signer_ca_responses_total{status=\"200\"}"), ok + 1);
  EXPECT_EQ(ProcessMetricValue("acme_signer_ca_responses_total{status=\"transport_error\"}"),
            transport + 1);
  EXPECT_EQ(ProcessMetricValue("acme_signer_ca_request_duration_seconds_count{method=\"GET\"}"),
            timed + 2);
}

TEST_F(ClientTest, DirectoryWithWrongContentTypeIsRefused) {
  http::HttpResponse response;
  response.status = 200;
  response.body = testing::DirectoryJson();
  response.headers = {{"content-type", "text/html"}};
  http_.Add(response, false);
  EXPECT_THAT(MakeClient()->GetDirectory(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("content type \"text/html\", expected application/json")));
}

TEST_F(ClientTest, DirectoryWithPlainHttpUrlIsRefusedNamingTheField) {
  http_.AddJson(200, R"({"newNonce":"http://ca.test/n","newAccount":"https://ca.test/a",
                         "newOrder":"https://ca.test/o"})");
  EXPECT_THAT(MakeClient()->GetDirectory(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("fetching the ACME directory https://ca.test/dir"),
                             HasSubstr("directory.newNonce is not an https URL"))));
}

TEST_F(ClientTest, DirectoryRedirectIsNotFollowed) {
  http::HttpResponse response;
  response.status = 301;
  response.headers = {{"location", "https://elsewhere.test/dir"}};
  http_.Add(response, false);
  EXPECT_THAT(MakeClient()->GetDirectory(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("redirects are not followed")));
  EXPECT_EQ(http_.requests().size(), 1u);
}

TEST_F(ClientTest, FetchesANonceOnlyWhenThePoolIsEmpty) {
  http_.AddDirectory();
  http_.AddNonce();                   // HEAD newNonce → nonce-1
  http_.AddJson(200, kPendingOrder);  // GetOrder → nonce-2
  http_.AddJson(200, kPendingOrder);  // GetOrder uses nonce-2, no HEAD
  auto client = MakeClient();
  ASSERT_TRUE(client->GetOrder(kOrderUrl).ok());
  ASSERT_TRUE(client->GetOrder(kOrderUrl).ok());
  const auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[1].method, http::HttpMethod::kHead);
  EXPECT_EQ(requests[1].url, "https://ca.test/nonce-plz");
  EXPECT_EQ(Decode(2).header["nonce"], "nonce-1");
  EXPECT_EQ(Decode(3).header["nonce"], "nonce-2");
}

TEST_F(ClientTest, RetriesBadNonceWithTheNonceFromTheRejection) {
  http_.AddDirectory();
  http_.AddNonce();                                                           // nonce-1
  http_.AddProblem(400, "badNonce", "JWS has an invalid anti-replay nonce");  // nonce-2
  http_.AddJson(200, kPendingOrder);                                          // nonce-3
  auto order = MakeClient()->GetOrder(kOrderUrl);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(http_.requests().size(), 4u);
  EXPECT_EQ(Decode(2).header["nonce"], "nonce-1");
  EXPECT_EQ(Decode(3).header["nonce"], "nonce-2");
}

TEST_F(ClientTest, GivesUpAfterBoundedBadNonceRetries) {
  http_.AddDirectory();
  http_.AddNonce();
  const int attempts = AcmeClientOptions().max_bad_nonce_retries + 1;
  for (int i = 0; i < attempts; ++i) http_.AddProblem(400, "badNonce", "bad nonce");
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("badNonce")));
  EXPECT_EQ(http_.requests().size(), 2u + static_cast<size_t>(attempts));
  EXPECT_EQ(http_.remaining(), 0u);
}

TEST_F(ClientTest, NewNonceWithoutReplayNonceHeaderIsAClearError) {
  http_.AddDirectory();
  http::HttpResponse response;
  response.status = 200;
  http_.Add(response, false);
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no Replay-Nonce header")));
}

TEST_F(ClientTest, TransportErrorsKeepTheirCodeAndSayWhatWasBeingDone) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddError(absl::UnavailableError("connect to ca.test failed"));
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("fetching order https://ca.test/my-order/1"),
                             HasSubstr("connect to ca.test failed"))));
}

TEST_F(ClientTest, ConcurrentRequestsNeverReuseANonce) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  http_.AddDirectory();
  // Every response (HEAD newNonce or POST) is an order carrying a fresh nonce.
  for (int i = 0; i < kThreads * kPerThread * 2; ++i) http_.AddJson(200, kPendingOrder);
  auto client = MakeClient();
  ASSERT_TRUE(client->GetDirectory().ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!client->GetOrder(kOrderUrl).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> nonces;
  int posts = 0;
  const auto requests = http_.requests();
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].method != http::HttpMethod::kPost) continue;
    ++posts;
    nonces.insert(Decode(i).header["nonce"].get<std::string>());
  }
  EXPECT_EQ(posts, kThreads * kPerThread);
  EXPECT_EQ(nonces.size(), static_cast<size_t>(posts));
}

// --- Accounts ---------------------------------------------------------------------------------

TEST_F(ClientTest, RefusesNewAccountWithoutEabWhenTheDirectoryRequiresIt) {
  http_.AddDirectory(/*external_account_required=*/true);
  NewAccountOptions options;
  options.terms_of_service_agreed = true;
  EXPECT_THAT(MakeClient("")->CreateAccount(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("this CA requires External Account Binding; run `acme-signer "
                                 "init` with --eab-kid and --eab-hmac-key-file")));
  EXPECT_EQ(http_.requests().size(), 1u);  // the directory only
}

TEST_F(ClientTest, NewAccountCarriesJwkContactTermsAndExternalAccountBinding) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(201, R"({"status":"valid","contact":["mailto:ops@a.test"]})",
                {{"location", kAccountUrl}});
  const std::string hmac_key(32, 'h');
  OpenSslMacSigner mac(hmac_key);
  NewAccountOptions options;
  options.contact = {"mailto:ops@a.test"};
  options.terms_of_service_agreed = true;
  options.eab_kid = "kid-1";
  options.eab_mac = &mac;
  auto client = MakeClient("");
  auto account = client->CreateAccount(options);
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->url, kAccountUrl);
  EXPECT_EQ(client->account_url(), kAccountUrl);

  Sent sent = Decode(2);
  EXPECT_EQ(http_.requests()[2].url, "https://ca.test/sign-me-up");
  EXPECT_EQ(sent.header["jwk"], Json::parse(key_->PublicJwk()));
  EXPECT_FALSE(sent.header.contains("kid"));
  EXPECT_EQ(sent.payload["contact"], Json::parse(R"(["mailto:ops@a.test"])"));
  EXPECT_EQ(sent.payload["termsOfServiceAgreed"], true);
  auto eab = DecodeFlattenedJws(sent.payload["externalAccountBinding"].dump());
  ASSERT_TRUE(eab.ok());
  EXPECT_EQ(Json::parse(eab->protected_json),
            Json::parse(R"({"alg":"HS256","kid":"kid-1","url":"https://ca.test/sign-me-up"})"));
  EXPECT_EQ(Json::parse(eab->payload_json), Json::parse(key_->PublicJwk()));
  EXPECT_EQ(eab->signature, HmacSha256(hmac_key, eab->signing_input));
}

TEST_F(ClientTest, RegisterFindsTheExistingAccountWithoutCreatingAnother) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"valid"})", {{"location", kAccountUrl}});
  OpenSslMacSigner mac(std::string(32, 'h'));
  auto account = MakeClient("")->RegisterAccount({{}, true, "kid-1", &mac});
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->url, kAccountUrl);
  EXPECT_EQ(http_.requests().size(), 3u);
  EXPECT_EQ(Decode(2).payload, Json::parse(R"({"onlyReturnExisting":true})"));
}

TEST_F(ClientTest, RegisterCreatesTheAccountWhenTheLookupFindsNone) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(400, "accountDoesNotExist", "No existing account for signature key");
  http_.AddJson(201, R"({"status":"valid"})", {{"location", kAccountUrl}});
  OpenSslMacSigner mac(std::string(32, 'h'));
  auto account = MakeClient("")->RegisterAccount({{}, true, "kid-1", &mac});
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(http_.requests().size(), 4u);
  EXPECT_TRUE(Decode(3).payload.contains("externalAccountBinding"));
}

TEST_F(ClientTest, LookupOfAMissingAccountIsNotFound) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(400, "accountDoesNotExist", "No existing account");
  EXPECT_THAT(MakeClient("")->FindAccount(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("register it first")));
}

TEST_F(ClientTest, AccountLocationOnAnotherOriginIsRefused) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"valid"})", {{"location", "https://evil.test/acct/1"}});
  auto client = MakeClient("");
  EXPECT_THAT(client->FindAccount(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("https://evil.test/acct/1"),
                             HasSubstr("is not on the directory's origin https://ca.test:443"))));
  EXPECT_EQ(client->account_url(), "");
}

TEST_F(ClientTest, KidRequestsNeedAKnownAccount) {
  EXPECT_THAT(
      MakeClient("")->GetOrder(kOrderUrl),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("register the account first")));
  EXPECT_TRUE(http_.requests().empty());
}

TEST_F(ClientTest, KeyChangeNestsAJwsSignedByTheNewKeyAndSwitchesKeys) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"valid"})");
  http_.AddJson(200, kPendingOrder);
  auto new_key = OpenSslJwsSigner::GenerateEs256();
  auto client = MakeClient();
  ASSERT_TRUE(client->ChangeAccountKey(*new_key).ok());
  Sent outer = Decode(2, key_.get());
  EXPECT_EQ(outer.header["kid"], kAccountUrl);
  EXPECT_EQ(http_.requests()[2].url, "https://ca.test/rollover-account-key");
  auto inner = DecodeFlattenedJws(outer.raw_payload);
  ASSERT_TRUE(inner.ok());
  Json inner_header = Json::parse(inner->protected_json);
  EXPECT_EQ(inner_header["jwk"], Json::parse(new_key->PublicJwk()));
  EXPECT_EQ(inner_header["url"], "https://ca.test/rollover-account-key");
  EXPECT_FALSE(inner_header.contains("nonce"));
  EXPECT_TRUE(
      VerifyJwsSignature("ES256", new_key->PublicKeyDer(), inner->signing_input, inner->signature)
          .ok());
  EXPECT_EQ(Json::parse(inner->payload_json)["account"], kAccountUrl);
  EXPECT_EQ(Json::parse(inner->payload_json)["oldKey"], Json::parse(key_->PublicJwk()));
  // From now on the new key signs.
  ASSERT_TRUE(client->GetOrder(kOrderUrl).ok());
  Decode(3, new_key.get());
  EXPECT_EQ(client->local_account_key(), new_key.get());
}

TEST_F(ClientTest, DeactivateAccountPostsDeactivatedStatusToTheAccountUrl) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"deactivated","contact":["mailto:a@example.test"]})");
  auto account = MakeClient()->DeactivateAccount();
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->status, AccountStatus::kDeactivated);
  EXPECT_EQ(account->url, kAccountUrl);
  EXPECT_EQ(http_.requests()[2].url, kAccountUrl);
  Sent sent = Decode(2);
  EXPECT_EQ(sent.header["kid"], kAccountUrl);
  EXPECT_FALSE(sent.header.contains("jwk"));
  EXPECT_EQ(sent.payload, Json::parse(R"({"status":"deactivated"})"));
}

TEST_F(ClientTest, DeactivateAccountRefusesAnAnswerThatIsStillValid) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"valid"})");
  EXPECT_THAT(MakeClient()->DeactivateAccount(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("instead of \"deactivated\"")));
}

TEST_F(ClientTest, DeactivateAccountNeedsAKnownAccountAndPassesTheCaProblemOn) {
  EXPECT_THAT(MakeClient("")->DeactivateAccount(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("register the account")));
  EXPECT_TRUE(http_.requests().empty());
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(403, "unauthorized", "account is deactivated");
  EXPECT_THAT(MakeClient()->DeactivateAccount(),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("account is deactivated")));
}

// An HttpClient that runs `before` once, just before the next request reaches `inner` (the
// request is already signed): a key switch while a request is under way.
class SwitchDuringRequest : public http::HttpClient {
 public:
  explicit SwitchDuringRequest(http::HttpClient& inner) : inner_(inner) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request) override {
    if (before && request.method == http::HttpMethod::kPost) {
      std::function<void()> run = std::move(before);
      before = nullptr;
      run();
    }
    return inner_.Do(request);
  }
  std::function<void()> before;

 private:
  http::HttpClient& inner_;
};

TEST_F(ClientTest, RequestRefusedAfterAKeySwitchIsRetriedOnceWithTheNewKey) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(403, "unauthorized", "key mismatch");
  http_.AddJson(200, kPendingOrder);
  SwitchDuringRequest http(http_);
  AcmeClientOptions options;
  options.directory_url = testing::kDirectoryUrl;
  options.account_url = kAccountUrl;
  auto client = AcmeClient::Create(http, *key_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  auto new_key = OpenSslJwsSigner::GenerateEs256();
  http.before = [&] { ASSERT_TRUE((*client)->UseAccountKey(*new_key).ok()); };
  auto order = (*client)->GetOrder(kOrderUrl);
  ASSERT_TRUE(order.ok()) << order.status();
  Decode(2, key_.get());      // signed before the switch, refused
  Decode(3, new_key.get());   // the one retry, with the new key
  EXPECT_EQ(http_.requests().size(), 4u);
}

TEST_F(ClientTest, RefusalWithoutAKeySwitchIsNotRetried) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(403, "unauthorized", "no");
  auto order = MakeClient()->GetOrder(kOrderUrl);
  EXPECT_EQ(order.status().code(), absl::StatusCode::kPermissionDenied) << order.status();
  EXPECT_EQ(http_.requests().size(), 3u);
}

// --- Orders -----------------------------------------------------------------------------------

TEST_F(ClientTest, CreateOrderSendsIdentifiersValidityAndReplaces) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(201, kPendingOrder, {{"location", kOrderUrl}, {"retry-after", "7"}});
  NewOrderOptions options;
  options.identifiers = {Identifier::Dns("a.test"), Identifier::Dns("b.test")};
  options.not_before = absl::FromUnixSeconds(1700000000);
  options.not_after = absl::FromUnixSeconds(1700086400);
  options.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
  auto order = MakeClient()->CreateOrder(options);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->value.url, kOrderUrl);
  EXPECT_EQ(order->retry_after, absl::Seconds(7));
  Sent sent = Decode(2);
  EXPECT_EQ(sent.header["kid"], kAccountUrl);
  EXPECT_FALSE(sent.header.contains("jwk"));
  EXPECT_EQ(sent.payload, Json::parse(R"({"identifiers":[{"type":"dns","value":"a.test"},
      {"type":"dns","value":"b.test"}],"notBefore":"2023-11-14T22:13:20Z",
      "notAfter":"2023-11-15T22:13:20Z","replaces":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"})"));
}

TEST_F(ClientTest, OrderLocationOnAnotherOriginOrMissingIsRefused) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(201, kPendingOrder, {{"location", "https://ca.test:8443/order/1"}});
  http_.AddJson(201, kPendingOrder);
  http_.AddJson(201, kPendingOrder, {{"location", "http://ca.test/order/1"}});
  auto client = MakeClient();
  NewOrderOptions options;
  options.identifiers = {Identifier::Dns("a.test")};
  EXPECT_THAT(client->CreateOrder(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not on the directory's origin")));
  EXPECT_THAT(client->CreateOrder(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no Location header")));
  EXPECT_THAT(client->CreateOrder(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("is not an https URL")));
}

TEST_F(ClientTest, RefusesOrdersWithoutIdentifiersOrWithInvertedValidity) {
  NewOrderOptions options;
  EXPECT_THAT(MakeClient()->CreateOrder(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one identifier")));
  options.identifiers = {Identifier::Dns("a.test")};
  options.not_before = absl::FromUnixSeconds(2000);
  options.not_after = absl::FromUnixSeconds(1000);
  EXPECT_THAT(MakeClient()->CreateOrder(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("notAfter")));
}

TEST_F(ClientTest, MalformedResponsesBecomeErrorsNamingTheProblem) {
  struct Case {
    std::string body;
    std::string content_type;
    std::string expected;
  } cases[] = {
      {"{not json", "application/json", "order is not valid JSON"},
      {"[]", "application/json", "order is not a JSON object"},
      {R"({"status":5,"authorizations":[],"finalize":"https://ca.test/f"})", "application/json",
       "order.status in the server's response is not a string"},
      {R"({"status":"pending","authorizations":"https://ca.test/a","finalize":"https://ca.test/f"})",
       "application/json", "order.authorizations in the server's response is not an array"},
      {R"({"status":"pending","authorizations":[]})", "application/json",
       "order.finalize is missing"},
      {R"({"status":"pending","authorizations":[],"finalize":"http://ca.test/f"})",
       "application/json", "order.finalize is not an https URL"},
      {kPendingOrder, "text/html", "content type \"text/html\", expected application/json"},
  };
  for (const Case& c : cases) {
    FakeHttpClient http;
    http.AddDirectory();
    http.AddNonce();
    http::HttpResponse response;
    response.status = 200;
    response.body = c.body;
    response.headers = {{"content-type", c.content_type}};
    http.Add(response);
    AcmeClientOptions options;
    options.directory_url = testing::kDirectoryUrl;
    options.account_url = kAccountUrl;
    auto client = AcmeClient::Create(http, *key_, options);
    ASSERT_TRUE(client.ok());
    EXPECT_THAT((*client)->GetOrder(kOrderUrl),
                StatusIs(absl::StatusCode::kUnavailable,
                         AllOf(HasSubstr("fetching order https://ca.test/my-order/1"),
                               HasSubstr(c.expected))))
        << c.body;
  }
}

TEST_F(ClientTest, ARedirectAnswerIsNeverFollowed) {
  http_.AddDirectory();
  http_.AddNonce();
  http::HttpResponse response;
  response.status = 302;
  response.headers = {{"location", "https://evil.test/order"}};
  http_.Add(response);
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("HTTP 302"), HasSubstr("never followed"))));
  EXPECT_EQ(http_.requests().size(), 3u);
}

TEST_F(ClientTest, ProblemDocumentsReachTheCallerIntactWithRetryAfter) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(429, "rateLimited", "too many new orders recently", {{"retry-after", "120"}});
  NewOrderOptions options;
  options.identifiers = {Identifier::Dns("a.test")};
  auto order = MakeClient()->CreateOrder(options);
  EXPECT_THAT(order, StatusIs(absl::StatusCode::kResourceExhausted,
                              AllOf(HasSubstr("creating an order for a.test"),
                                    HasSubstr("too many new orders recently"),
                                    HasSubstr("retry after 2m"))));
  std::optional<Problem> problem = GetProblem(order.status());
  ASSERT_TRUE(problem.has_value());
  EXPECT_TRUE(problem->Is("rateLimited"));
  EXPECT_EQ(problem->status, 429);
  EXPECT_EQ(problem->retry_after, absl::Seconds(120));
}

TEST_F(ClientTest, RetryAfterAsAnHttpDateIsHonoured) {
  http_.AddDirectory();
  http_.AddNonce();
  // The injected clock says 2023-11-14T22:13:20Z; the date is 100 s later.
  http_.AddJson(200, kPendingOrder, {{"retry-after", "Tue, 14 Nov 2023 22:15:00 GMT"}});
  auto order = MakeClient()->GetOrder(kOrderUrl);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->retry_after, absl::Seconds(100));
}

TEST_F(ClientTest, AnErrorWithoutAProblemDocumentShowsStatusAndBody) {
  http_.AddDirectory();
  http_.AddNonce();
  http::HttpResponse response;
  response.status = 502;
  response.body = "<html>Bad Gateway</html>";
  response.headers = {{"content-type", "text/html"}};
  http_.Add(response);
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("HTTP 502"), HasSubstr("Bad Gateway"))));
}

// A CA that is briefly unavailable (503 + a short Retry-After) costs a short wait, not an
// issuance: the request is signed again with a fresh nonce and retried.
TEST_F(ClientTest, A503WithAShortRetryAfterIsRetriedAfterTheWaitWithAFreshNonce) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(503, "serverInternal", "down for maintenance", {{"retry-after", "1"}});
  http_.AddJson(201, kPendingOrder, {{"location", kOrderUrl}});
  std::vector<absl::Duration> waits;
  AcmeClientOptions options;
  options.directory_url = testing::kDirectoryUrl;
  options.account_url = kAccountUrl;
  options.sleep = [&waits](absl::Duration d) { waits.push_back(d); };
  auto client = AcmeClient::Create(http_, *key_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  NewOrderOptions order_options;
  order_options.identifiers = {Identifier::Dns("a.test")};
  auto order = (*client)->CreateOrder(order_options);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->value.url, kOrderUrl);
  EXPECT_THAT(waits, ::testing::ElementsAre(absl::Seconds(1)));
  ASSERT_EQ(http_.requests().size(), 4u);
  EXPECT_NE(Decode(2).header["nonce"], Decode(3).header["nonce"]);
}

TEST_F(ClientTest, A503AskingForALongWaitGoesBackToTheCallerWithTheRetryTime) {
  http_.AddDirectory();
  http_.AddNonce();
  http::HttpResponse response;
  response.status = 503;
  response.headers = {{"retry-after", "3600"}};
  http_.Add(response);
  int waits = 0;
  AcmeClientOptions options;
  options.directory_url = testing::kDirectoryUrl;
  options.account_url = kAccountUrl;
  options.sleep = [&waits](absl::Duration) { ++waits; };
  auto client = AcmeClient::Create(http_, *key_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_THAT((*client)->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("HTTP 503"), HasSubstr("retry after 1h"))));
  EXPECT_EQ(waits, 0);
  EXPECT_EQ(http_.requests().size(), 3u);
}

TEST_F(ClientTest, A503KeepsFailingAfterTheBoundedRetriesAndA500IsNotRetried) {
  http_.AddDirectory();
  http_.AddNonce();
  for (int i = 0; i < 3; ++i) {
    http_.AddProblem(503, "serverInternal", "still down", {{"retry-after", "1"}});
  }
  http_.AddProblem(500, "serverInternal", "boom", {{"retry-after", "1"}});
  int waits = 0;
  AcmeClientOptions options;
  options.directory_url = testing::kDirectoryUrl;
  options.account_url = kAccountUrl;
  options.sleep = [&waits](absl::Duration) { ++waits; };
  auto client = AcmeClient::Create(http_, *key_, options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_THAT((*client)->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("still down"), HasSubstr("retry after 1s"))));
  EXPECT_EQ(waits, 2);  // max_unavailable_retries
  EXPECT_THAT((*client)->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("boom"), HasSubstr("retry after 1s"))));
  EXPECT_EQ(waits, 2);
  EXPECT_EQ(http_.remaining(), 0u);
}

TEST_F(ClientTest, AnOrderThatIsNotJsonIsAMalformedResponseFromTheCa) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, "{\"status\": \"valid\", [\x01\xfe<html>");
  EXPECT_THAT(MakeClient()->GetOrder(kOrderUrl),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("fetching order https://ca.test/my-order/1"),
                             HasSubstr("malformed response from the CA"),
                             HasSubstr("order is not valid JSON"))));
}

TEST_F(ClientTest, AnswerChallengePostsAnEmptyObject) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200,
                std::string(R"({"type":"http-01","url":"https://ca.test/chal/1",)") +
                    R"("status":"processing","token":")" + kToken + R"("})",
                {{"link", "<https://ca.test/authZ/1>;rel=\"up\""}});
  auto challenge = MakeClient()->AnswerChallenge("https://ca.test/chal/1");
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  EXPECT_EQ(challenge->value.status, ChallengeStatus::kProcessing);
  EXPECT_EQ(Decode(2).raw_payload, "{}");
}

TEST_F(ClientTest, FinalizeSendsTheCsrAsBase64Url) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"status":"processing","authorizations":[],
                         "finalize":"https://ca.test/finalize-order/1"})",
                {{"retry-after", "3"}});
  auto order = MakeClient()->FinalizeOrder(kOrderUrl, "https://ca.test/finalize-order/1",
                                           std::string("\x30\x82\xff\xfe", 4));
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->value.url, kOrderUrl);
  EXPECT_EQ(order->value.status, OrderStatus::kProcessing);
  EXPECT_EQ(order->retry_after, absl::Seconds(3));
  EXPECT_EQ(Decode(2).payload["csr"], "MIL__g");
}

// --- Certificates -----------------------------------------------------------------------------

std::string ChainPem(const std::string& root_cn) {
  CertSpec leaf;
  leaf.issuer_cn = "Intermediate";
  CertSpec intermediate;
  intermediate.subject_cn = "Intermediate";
  intermediate.issuer_cn = root_cn;
  return DerToPem(MakeCertificateDer(leaf)) + DerToPem(MakeCertificateDer(intermediate));
}

http::HttpResponse PemResponse(const std::string& pem, Headers extra = {}) {
  http::HttpResponse response;
  response.status = 200;
  response.body = pem;
  response.headers = std::move(extra);
  response.headers.emplace_back("content-type", "application/pem-certificate-chain");
  return response;
}

TEST_F(ClientTest, DownloadsTheChainAndItsAlternates) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.Add(
      PemResponse(ChainPem("Root X"), {{"link", "<https://ca.test/cert/1/1>;rel=\"alternate\""},
                                       {"link", "<https://ca.test/dir>;rel=\"index\""}}));
  http_.Add(PemResponse(ChainPem("Root Y")));
  auto download = MakeClient()->GetCertificate("https://ca.test/cert/1");
  ASSERT_TRUE(download.ok()) << download.status();
  ASSERT_EQ(download->chains.size(), 2u);
  EXPECT_EQ(download->chains[0].issuer_common_name, "Root X");
  EXPECT_EQ(download->chains[1].issuer_common_name, "Root Y");
  EXPECT_EQ(download->chains[1].url, "https://ca.test/cert/1/1");
  EXPECT_EQ(SelectChain(download->chains, "Root Y"), 1u);
  const auto requests = http_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_THAT(requests[2].headers, ::testing::Contains(std::pair<std::string, std::string>(
                                       "Accept", "application/pem-certificate-chain")));
  EXPECT_TRUE(Decode(2).payload.is_null());  // POST-as-GET
}

TEST_F(ClientTest, CertificateWithWrongContentTypeOrGarbageIsRefused) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddJson(200, R"({"certificate":"nope"})");
  http_.Add(PemResponse("not a certificate"));
  auto client = MakeClient();
  EXPECT_THAT(client->GetCertificate("https://ca.test/cert/1"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("expected application/pem-certificate-chain")));
  EXPECT_THAT(client->GetCertificate("https://ca.test/cert/1"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not a PEM CERTIFICATE")));
}

TEST_F(ClientTest, RevokesByAccountAndByCertificateKey) {
  http_.AddDirectory();
  http_.AddNonce();
  http::HttpResponse ok;
  ok.status = 200;
  http_.Add(ok);
  http_.Add(ok);
  const std::string der = MakeCertificateDer(CertSpec());
  auto cert_key = OpenSslJwsSigner::GenerateEs256();
  auto client = MakeClient();
  ASSERT_TRUE(client->Revoke(der, RevocationReason::kSuperseded).ok());
  ASSERT_TRUE(
      client->RevokeWithCertificateKey(der, RevocationReason::kKeyCompromise, *cert_key).ok());
  Sent by_account = Decode(2);
  EXPECT_EQ(http_.requests()[2].url, "https://ca.test/revoke-cert");
  EXPECT_EQ(by_account.header["kid"], kAccountUrl);
  EXPECT_EQ(by_account.payload["certificate"], absl::WebSafeBase64Escape(der));
  EXPECT_EQ(by_account.payload["reason"], 4);
  Sent by_key = Decode(3, cert_key.get());
  EXPECT_EQ(by_key.header["jwk"], Json::parse(cert_key->PublicJwk()));
  EXPECT_FALSE(by_key.header.contains("kid"));
  EXPECT_EQ(by_key.payload["reason"], 1);
}

TEST_F(ClientTest, AlreadyRevokedIsAlreadyExists) {
  http_.AddDirectory();
  http_.AddNonce();
  http_.AddProblem(400, "alreadyRevoked", "Certificate already revoked");
  EXPECT_THAT(MakeClient()->Revoke(MakeCertificateDer(CertSpec()), RevocationReason::kUnspecified),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already revoked")));
}

// --- ARI --------------------------------------------------------------------------------------

TEST_F(ClientTest, FetchesRenewalInfoFromARecordedResponse) {
  http_.AddDirectory(true, R"("renewalInfo":"https://ca.test/renewal-info")");
  // RFC 9773 §4.2's example response.
  http_.AddJson(200, R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z",
      "end":"2025-01-03T04:00:00Z"},"explanationURL":"https://acme.example.com/docs/ari"})",
                {{"retry-after", "21600"}});
  CertSpec spec;
  spec.aki_hex = "69885b6b87464041e1b37b847ba0ae2cde01c8d4";
  spec.serial_hex = "87654321";
  auto info = MakeClient()->GetRenewalInfo(MakeCertificateDer(spec));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(http_.requests()[1].method, http::HttpMethod::kGet);
  EXPECT_EQ(http_.requests()[1].url,
            "https://ca.test/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_EQ(info->certificate_id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_EQ(info->window_start, absl::FromUnixSeconds(1735790400));
  EXPECT_EQ(info->retry_after, absl::Hours(6));
  EXPECT_EQ(info->explanation_url, "https://acme.example.com/docs/ari");
}

TEST_F(ClientTest, RenewalInfoErrorsCarryTheCasProblem) {
  http_.AddDirectory(true, R"("renewalInfo":"https://ca.test/renewal-info/")");
  http_.AddProblem(404, "malformed", "Certificate not found");
  CertSpec spec;
  spec.aki_hex = "0102";
  auto info = MakeClient()->GetRenewalInfo(MakeCertificateDer(spec));
  EXPECT_THAT(info, StatusIs(absl::StatusCode::kInvalidArgument,
                             AllOf(HasSubstr("https://ca.test/renewal-info/AQI."),
                                   HasSubstr("Certificate not found"))));
  EXPECT_TRUE(GetProblem(info.status()).has_value());
}

TEST_F(ClientTest, RenewalInfoIsAFailedPreconditionWhenTheCaHasNoAri) {
  http_.AddDirectory();
  EXPECT_THAT(MakeClient()->GetRenewalInfo(MakeCertificateDer(CertSpec())),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("renewalInfo")));
}

}  // namespace
}  // namespace acme_signer::acme
