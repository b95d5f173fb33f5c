// End to end: the ACME front door (signer/frontdoor/acme_server.h) refuses what it must, with
// the right RFC 8555 problem document, exactly one audit deny record per refusal, and nothing
// issued. One lab (scripts/lab up: SoftHSM2, Pebble, acme-signer serve with [acme_server], web1
// with front_door = true and allowed_names **.lab.test) for the whole suite; Pebble pre-validates
// (PEBBLE_VA_ALWAYS_VALID=1) and never rejects nonces at random, to keep it fast and exact.
//
// The test is the ACME client: acme::AcmeClient with software account keys for the steps that
// must succeed (accounts registered with EAB credentials from `acme-signer enroll-client`, the
// front door's own http-01 validation answered by http::Http01Responder on the lab's
// HTTP01_PORT), and raw POSTs of hand-built flattened JWSs for the malformed requests.
//
// Uses this build tree's binaries and the repository's scripts/lab. Skips when Pebble or
// SoftHSM2 is missing on a dev machine; under CI=true that is a failure.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acme/client.h"
#include "acme/eab.h"
#include "acme/jwk.h"
#include "acme/jws.h"
#include "acme/key_authorization.h"
#include "acme/resources.h"
#include "acme/server_problem.h"
#include "common/base64url.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "http/http01_responder.h"
#include "http/http_client.h"
#include "nlohmann/json.hpp"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/child_process.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr absl::string_view kErrorPrefix = "urn:ietf:params:acme:error:";

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (::access(absl::StrCat(dir, "/", tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A name that no earlier run of the suite used (the lab is fresh, but keep names distinct
// across tests so that no two refusals are of the same kind).
std::string FreshName(absl::string_view label) {
  static int counter = 0;
  return absl::StrCat(label, "-", absl::ToUnixMicros(absl::Now()), "-", ++counter, ".lab.test");
}

// A flattened JWS from its parts, as an attacker or a broken client would make it.
std::string HandMadeJws(const Json& header, absl::string_view payload,
                        absl::string_view signature) {
  const std::string protected_b64 = Base64Url(header.dump());
  const std::string payload_b64 = Base64Url(payload);
  return Json{
      {"protected", protected_b64}, {"payload", payload_b64}, {"signature", Base64Url(signature)}}
      .dump();
}

std::string OrderPayload(const std::string& name) {
  return Json{{"identifiers", Json::array({Json{{"type", "dns"}, {"value", name}}})}}.dump();
}

// An EAB credential as `acme-signer enroll-client --json` prints it.
struct Credential {
  std::string kid;
  std::string hmac_key;  // raw bytes
};

// The state a test looks at before a request that must be refused.
struct Snapshot {
  size_t audit_records = 0;
  size_t inventory = 0;
};

class FrontDoorDenialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* tool : {"pebble", "pebble-challtestsrv", "softhsm2-util", "openssl", "curl"}) {
      if (!OnPath(tool)) {
        missing_ = absl::StrCat(tool, " is not installed (scripts/install-deps)");
        return;
      }
    }
    bin_dir_ = std::filesystem::path(ACME_AGENT_BIN).parent_path().string();
    for (const char* binary : {"acme-signer", "acme-agent"}) {
      if (::access(absl::StrCat(bin_dir_, "/", binary).c_str(), X_OK) != 0) {
        setup_error_ = absl::StrCat(bin_dir_, "/", binary,
                                    " is missing: build the acme-signer and acme-agent targets");
        return;
      }
    }
    char dir_template[] = "/tmp/front_door_denial_test.XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      setup_error_ = "cannot create a temp dir";
      return;
    }
    lab_ = dir_template;
    testing::ChildOptions options;
    options.scratch_dir = lab_;
    options.timeout = absl::Minutes(3);
    options.extra_env = {"ACME_SIGNER_BIN_DIR=" + bin_dir_, "PEBBLE_WFE_NONCEREJECT=0",
                         "PEBBLE_VA_ALWAYS_VALID=1"};
    testing::ChildResult up = testing::RunChild(
        {std::string(ACME_SIGNER_SOURCE_DIR) + "/scripts/lab", "up", lab_ + "/lab"}, options);
    lab_started_ = true;
    if (up.exit_code != 0) {
      setup_error_ = absl::StrCat("scripts/lab up failed (exit ", up.exit_code, "): ", up.err);
      return;
    }
    for (absl::string_view line : absl::StrSplit(ReadFile(lab_ + "/lab/env").value_or(""), '\n')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (!kv.first.empty() && kv.first[0] != '#') env_[kv.first] = kv.second;
    }
    for (const char* key : {"ACME_SERVER_DIRECTORY", "ACME_SERVER_CA", "HTTP01_PORT",
                            "SIGNER_CONFIG", "SOFTHSM2_CONF"}) {
      if (env_[key].empty()) {
        setup_error_ = absl::StrCat("the lab's env file lacks ", key);
        return;
      }
    }
    if (absl::Status prepared = Prepare(); !prepared.ok()) setup_error_ = prepared.ToString();
  }

  // The HTTP client, the http-01 responder and two accounts of web1, each with its own
  // credential.
  static absl::Status Prepare() {
    http::CurlHttpClient::Options http_options;
    http_options.ca_bundle_path = env_["ACME_SERVER_CA"];
    http_options.connect_timeout = absl::Seconds(5);
    http_options.total_timeout = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> http =
        http::CurlHttpClient::Create(http_options);
    if (!http.ok()) return http.status();
    http_ = std::move(*http);

    absl::StatusOr<http::HttpResponse> directory =
        http_->Do({http::HttpMethod::kGet, env_["ACME_SERVER_DIRECTORY"], "", "", {}});
    if (!directory.ok()) return directory.status();
    const Json parsed = Json::parse(directory->body, nullptr, /*allow_exceptions=*/false);
    if (directory->status != 200 || !parsed.is_object()) {
      return absl::InternalError(
          absl::StrCat("directory: HTTP ", directory->status, ": ", directory->body));
    }
    directory_ = parsed;
    for (const char* member : {"newNonce", "newAccount", "newOrder"}) {
      if (!directory_.contains(member) || !directory_[member].is_string()) {
        return absl::InternalError(absl::StrCat("the directory has no ", member));
      }
    }

    uint32_t port = 0;
    if (!absl::SimpleAtoi(env_["HTTP01_PORT"], &port) || port == 0 || port > 65535) {
      return absl::InternalError("HTTP01_PORT is not a port");
    }
    http::Http01Responder::Options responder_options;
    responder_options.address = "127.0.0.1";
    responder_options.port = static_cast<uint16_t>(port);
    responder_ = std::make_unique<http::Http01Responder>(responder_options);
    if (absl::Status started = responder_->Start(); !started.ok()) return started;

    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<Credential> credential = Enroll();
      if (!credential.ok()) return credential.status();
      credentials_.push_back(*std::move(credential));
    }
    key1_ = OpenSslJwsSigner::GenerateEs256();
    key2_ = OpenSslJwsSigner::GenerateEs256();
    mac1_ = std::make_unique<OpenSslMacSigner>(credentials_[0].hmac_key);
    mac2_ = std::make_unique<OpenSslMacSigner>(credentials_[1].hmac_key);
    for (auto [key, mac, credential, client] :
         {std::tuple{key1_.get(), mac1_.get(), &credentials_[0], &account1_},
          std::tuple{key2_.get(), mac2_.get(), &credentials_[1], &account2_}}) {
      acme::AcmeClientOptions client_options;
      client_options.directory_url = env_["ACME_SERVER_DIRECTORY"];
      absl::StatusOr<std::unique_ptr<acme::AcmeClient>> created =
          acme::AcmeClient::Create(*http_, *key, client_options);
      if (!created.ok()) return created.status();
      acme::NewAccountOptions account_options;
      account_options.eab_kid = credential->kid;
      account_options.eab_mac = mac;
      account_options.terms_of_service_agreed = true;
      absl::StatusOr<acme::Account> account = (*created)->RegisterAccount(account_options);
      if (!account.ok()) {
        return absl::Status(account.status().code(), absl::StrCat("registering a web1 account: ",
                                                                  account.status().message()));
      }
      *client = std::move(*created);
    }
    return absl::OkStatus();
  }

  static void TearDownTestSuite() {
    // In dependency order: the clients use the keys, MACs and HTTP client.
    account1_.reset();
    account2_.reset();
    mac1_.reset();
    mac2_.reset();
    key1_.reset();
    key2_.reset();
    responder_.reset();
    http_.reset();
    credentials_.clear();
    env_.clear();
    directory_ = Json();
    if (lab_started_) {
      testing::ChildOptions options;
      options.scratch_dir = lab_;
      options.timeout = absl::Minutes(1);
      testing::ChildResult down = testing::RunChild(
          {std::string(ACME_SIGNER_SOURCE_DIR) + "/scripts/lab", "down", lab_ + "/lab"}, options);
      if (down.exit_code != 0) ADD_FAILURE() << "scripts/lab down failed: " << down.err;
    }
    const char* keep = std::getenv("ACME_SIGNER_KEEP_TEST_DIRS");
    if (!lab_.empty() && (keep == nullptr || std::string(keep) != "1")) {
      std::error_code ec;
      std::filesystem::remove_all(lab_, ec);
    }
    // A repeated run (--gtest_repeat) starts from scratch.
    lab_.clear();
    lab_started_ = false;
    missing_.clear();
    setup_error_.clear();
  }

  void SetUp() override {
    if (!missing_.empty()) {
      if (testing::InCi()) FAIL() << missing_ << " (CI=true: a missing tool is a failure)";
      GTEST_SKIP() << missing_;
    }
    ASSERT_EQ(setup_error_, "");
  }

  // --- the signer's command line ------------------------------------------------------------

  static testing::ChildResult Signer(std::vector<std::string> args) {
    args.insert(args.begin(), bin_dir_ + "/acme-signer");
    testing::ChildOptions options;
    options.scratch_dir = lab_;
    options.timeout = absl::Seconds(60);
    options.extra_env = {"SOFTHSM2_CONF=" + env_["SOFTHSM2_CONF"]};
    return testing::RunChild(args, options);
  }

  static absl::StatusOr<Credential> Enroll() {
    testing::ChildResult run =
        Signer({"enroll-client", "--config", env_["SIGNER_CONFIG"], "--name", "web1", "--json"});
    if (run.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat("acme-signer enroll-client failed (exit ", run.exit_code, "): ", run.err));
    }
    const Json out = Json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    if (!out.is_object() || !out.contains("eab_kid") || !out.contains("eab_hmac_key") ||
        !out["eab_kid"].is_string() || !out["eab_hmac_key"].is_string()) {
      return absl::InternalError("acme-signer enroll-client --json printed no credential");
    }
    if (out.value("directory_url", "") != env_["ACME_SERVER_DIRECTORY"]) {
      return absl::InternalError(absl::StrCat("enroll-client's directory_url is \"",
                                              out.value("directory_url", ""), "\", the lab's \"",
                                              env_["ACME_SERVER_DIRECTORY"], "\""));
    }
    absl::StatusOr<std::string> key =
        DecodeBase64Url(out["eab_hmac_key"].get<std::string>(), "eab_hmac_key");
    if (!key.ok()) return key.status();
    return Credential{out["eab_kid"].get<std::string>(), *std::move(key)};
  }

  // Certificates in the signer's inventory; -1 (and a test failure) when it cannot be read.
  static long InventorySize() {
    testing::ChildResult run = Signer({"inventory", "--config", env_["SIGNER_CONFIG"], "--json"});
    const Json out = Json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    if (run.exit_code != 0 || !out.is_array()) {
      ADD_FAILURE() << "acme-signer inventory: " << run;
      return -1;
    }
    return static_cast<long>(out.size());
  }

  // --- the audit log ------------------------------------------------------------------------

  static std::vector<Json> AuditRecords() {
    std::vector<Json> records;
    const std::string path = lab_ + "/lab/signer/audit/audit.log";
    for (absl::string_view line : absl::StrSplit(ReadFile(path).value_or(""), '\n')) {
      if (line.empty()) continue;
      Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (record.is_object() && record.contains("rpc")) records.push_back(std::move(record));
    }
    return records;
  }

  static Snapshot Take() {
    Snapshot snapshot;
    snapshot.audit_records = AuditRecords().size();
    const long inventory = InventorySize();
    snapshot.inventory = inventory < 0 ? 0 : static_cast<size_t>(inventory);
    return snapshot;
  }

  // Since `before`: nothing issued, and exactly one new deny record (folded repeats of earlier
  // refusals, which carry "repeated", are not new refusals) for `rpc` with reason
  // "<type>: ...". `agent` and `thumbprint`, when given, must be the record's.
  static void ExpectOneRefusalAndNothingIssued(
      const Snapshot& before, absl::string_view rpc, absl::string_view type,
      std::optional<std::string> agent = std::nullopt,
      std::optional<std::string> thumbprint = std::nullopt) {
    EXPECT_EQ(InventorySize(), static_cast<long>(before.inventory)) << "a certificate was issued";
    const std::vector<Json> records = AuditRecords();
    std::vector<Json> denials;
    for (size_t i = before.audit_records; i < records.size(); ++i) {
      if (records[i].value("decision", "") == "deny" && !records[i].contains("repeated")) {
        denials.push_back(records[i]);
      }
    }
    ASSERT_EQ(denials.size(), 1u) << "new deny records: " << Json(denials).dump(1);
    const Json& record = denials[0];
    EXPECT_EQ(record.value("rpc", ""), rpc) << record.dump();
    EXPECT_TRUE(absl::StartsWith(record.value("reason", ""), absl::StrCat(type, ": ")))
        << record.dump();
    if (agent.has_value()) {
      EXPECT_EQ(record.value("agent", ""), *agent) << record.dump();
    }
    if (thumbprint.has_value()) {
      EXPECT_EQ(record.value("account_thumbprint", ""), *thumbprint) << record.dump();
    }
  }

  // --- raw requests -------------------------------------------------------------------------

  static std::string Endpoint(const char* member) { return directory_[member].get<std::string>(); }
  // The front door's base URL (the directory URL without "/directory").
  static std::string BaseUrl() {
    std::string url = env_["ACME_SERVER_DIRECTORY"];
    return url.substr(0, url.size() - std::string("/directory").size());
  }

  static std::string FreshNonce() {
    absl::StatusOr<http::HttpResponse> response =
        http_->Do({http::HttpMethod::kHead, Endpoint("newNonce"), "", "", {}});
    if (!response.ok() || response->status != 200 || response->Header("replay-nonce").empty()) {
      ADD_FAILURE() << "HEAD newNonce: "
                    << (response.ok() ? absl::StrCat("HTTP ", response->status)
                                      : response.status().ToString());
      return "no-nonce";
    }
    return response->Header("replay-nonce");
  }

  static http::HttpResponse Post(const std::string& url, std::string body,
                                 std::string content_type = "application/jose+json") {
    http::HttpRequest request;
    request.method = http::HttpMethod::kPost;
    request.url = url;
    request.body = std::move(body);
    request.content_type = std::move(content_type);
    absl::StatusOr<http::HttpResponse> response = http_->Do(request);
    if (!response.ok()) {
      ADD_FAILURE() << "POST " << url << ": " << response.status();
      return http::HttpResponse();
    }
    return *std::move(response);
  }

  // A correctly signed JWS: kid form when `kid` is set, jwk form otherwise.
  static std::string Signed(const OpenSslJwsSigner& key, const std::string& url,
                            const std::string& nonce, const std::string& kid,
                            const std::string& payload) {
    absl::StatusOr<std::string> jws = acme::SignJws(key, url, nonce, kid, payload);
    EXPECT_TRUE(jws.ok()) << jws.status();
    return jws.value_or("");
  }

  static std::string Thumbprint(const acme::AcmeClient& client) {
    absl::StatusOr<std::string> thumbprint = client.AccountThumbprint();
    EXPECT_TRUE(thumbprint.ok()) << thumbprint.status();
    return thumbprint.value_or("");
  }

  // A newAccount request with an EAB for `eab_kid` MAC'd with `hmac_key`.
  static std::string NewAccountJws(const OpenSslJwsSigner& key, const std::string& eab_kid,
                                   const std::string& hmac_key) {
    OpenSslMacSigner mac(hmac_key);
    absl::StatusOr<Json> eab =
        acme::BuildExternalAccountBinding(mac, eab_kid, Endpoint("newAccount"), key.PublicJwk());
    EXPECT_TRUE(eab.ok()) << eab.status();
    const Json payload = {{"termsOfServiceAgreed", true},
                          {"externalAccountBinding", eab.value_or(Json::object())}};
    return Signed(key, Endpoint("newAccount"), FreshNonce(), "", payload.dump());
  }

  // An order of account 1 for `name` whose authorization the front door validated (http-01,
  // answered by the responder): ready to finalize.
  static absl::StatusOr<acme::Order> ReadyOrder(const std::string& name) {
    acme::NewOrderOptions options;
    options.identifiers = {acme::Identifier{"dns", name}};
    absl::StatusOr<acme::Fetched<acme::Order>> order = account1_->CreateOrder(options);
    if (!order.ok()) return order.status();
    const std::string thumbprint = Thumbprint(*account1_);
    for (const std::string& authz_url : order->value.authorizations) {
      absl::StatusOr<acme::Fetched<acme::Authorization>> authz =
          account1_->GetAuthorization(authz_url);
      if (!authz.ok()) return authz.status();
      if (authz->value.status == acme::AuthorizationStatus::kValid) continue;
      const acme::Challenge* challenge = authz->value.Find(acme::kHttp01);
      if (challenge == nullptr) return absl::InternalError("no http-01 challenge offered");
      absl::StatusOr<std::string> key_authorization =
          acme::KeyAuthorization(challenge->token, thumbprint);
      if (!key_authorization.ok()) return key_authorization.status();
      if (absl::Status added = responder_->AddToken(challenge->token, *key_authorization);
          !added.ok()) {
        return added;
      }
      absl::StatusOr<acme::Fetched<acme::Challenge>> answered =
          account1_->AnswerChallenge(challenge->url);
      if (!answered.ok()) return answered.status();
      // The front door validates in the background (the challenge answers processing): poll
      // the authorization, bounded, as a client does.
      acme::Authorization polled = authz->value;
      for (int i = 0; i < 150 && polled.status == acme::AuthorizationStatus::kPending; ++i) {
        absl::SleepFor(absl::Milliseconds(200));
        absl::StatusOr<acme::Fetched<acme::Authorization>> again =
            account1_->GetAuthorization(authz_url);
        if (!again.ok()) return again.status();
        polled = again->value;
      }
      if (polled.status != acme::AuthorizationStatus::kValid) {
        const acme::Challenge* result = polled.Find(acme::kHttp01);
        return absl::InternalError(absl::StrCat(
            "the front door did not validate http-01 for ", name, " within 30 s: authorization ",
            acme::ToString(polled.status), ", ",
            result != nullptr && result->error.has_value() ? result->error->detail : "no error"));
      }
    }
    absl::StatusOr<acme::Fetched<acme::Order>> ready = account1_->GetOrder(order->value.url);
    if (!ready.ok()) return ready.status();
    if (ready->value.status != acme::OrderStatus::kReady) {
      return absl::InternalError(absl::StrCat("the order for ", name, " is ",
                                              acme::ToString(ready->value.status), ", not ready"));
    }
    return ready->value;
  }

  static std::string CsrDer(const std::vector<std::string>& names) {
    std::unique_ptr<OpenSslJwsSigner> key = OpenSslJwsSigner::GenerateEs256();
    return acme::testing::MakeCsrDer(key->pkey(), names);
  }

  static inline std::string missing_;
  static inline std::string setup_error_;
  static inline std::string bin_dir_;
  static inline std::string lab_;
  static inline bool lab_started_ = false;
  static inline std::map<std::string, std::string> env_;
  static inline Json directory_;
  static inline std::vector<Credential> credentials_;
  // The suite's (SetUpTestSuite/TearDownTestSuite, which releases them in order).
  static inline std::unique_ptr<http::CurlHttpClient> http_;
  static inline std::unique_ptr<http::Http01Responder> responder_;
  static inline std::unique_ptr<OpenSslJwsSigner> key1_;
  static inline std::unique_ptr<OpenSslJwsSigner> key2_;
  static inline std::unique_ptr<OpenSslMacSigner> mac1_;
  static inline std::unique_ptr<OpenSslMacSigner> mac2_;
  static inline std::unique_ptr<acme::AcmeClient> account1_;
  static inline std::unique_ptr<acme::AcmeClient> account2_;
};

// A refusal's response: `status`, a problem document of `type` whose detail has
// `detail_part`, and (RFC 8555 §6.5) a fresh Replay-Nonce.
::testing::AssertionResult IsProblem(const http::HttpResponse& response, int status,
                                     absl::string_view type, absl::string_view detail_part = "") {
  const Json body = Json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string what = absl::StrCat("HTTP ", response.status, " ", response.body);
  if (response.status != status) {
    return ::testing::AssertionFailure() << "want HTTP " << status << ", got " << what;
  }
  if (!absl::StartsWith(response.Header("content-type"), acme::kProblemContentType)) {
    return ::testing::AssertionFailure() << "Content-Type \"" << response.Header("content-type")
                                         << "\", not " << acme::kProblemContentType << ": " << what;
  }
  if (response.Header("replay-nonce").empty()) {
    return ::testing::AssertionFailure() << "no Replay-Nonce: " << what;
  }
  if (!body.is_object() || body.value("type", "") != absl::StrCat(kErrorPrefix, type)) {
    return ::testing::AssertionFailure() << "want type " << kErrorPrefix << type << ": " << what;
  }
  if (!absl::StrContains(body.value("detail", ""), detail_part)) {
    return ::testing::AssertionFailure() << "detail lacks \"" << detail_part << "\": " << what;
  }
  if (body.contains("status") && body["status"] != status) {
    return ::testing::AssertionFailure() << "the document's status differs: " << what;
  }
  return ::testing::AssertionSuccess();
}

// 1. A name outside web1's allowed_names (**.lab.test) at newOrder.
TEST_F(FrontDoorDenialTest, NameOutsideTheHostsPolicyIsRejectedAtNewOrder) {
  const std::string name =
      absl::StrCat("outside-", absl::ToUnixMicros(absl::Now()), ".example.org");
  const Snapshot before = Take();
  http::HttpResponse response =
      Post(Endpoint("newOrder"), Signed(*key1_, Endpoint("newOrder"), FreshNonce(),
                                        account1_->account_url(), OrderPayload(name)));
  EXPECT_TRUE(IsProblem(response, 400, "rejectedIdentifier", name));
  EXPECT_TRUE(response.Header("location").empty()) << "an order was created";
  ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "rejectedIdentifier", "web1",
                                   Thumbprint(*account1_));
}

// 2. External Account Binding: a wrong HMAC, an unknown key id, a key id already bound.
TEST_F(FrontDoorDenialTest, WrongUnknownOrReusedEabIsUnauthorized) {
  absl::StatusOr<Credential> enrolled = Enroll();
  ASSERT_TRUE(enrolled.ok()) << enrolled.status();
  const Credential& unused = *enrolled;
  std::unique_ptr<OpenSslJwsSigner> key = OpenSslJwsSigner::GenerateEs256();
  absl::StatusOr<std::string> thumbprint = acme::JwkThumbprint(key->PublicJwk());
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
  {
    SCOPED_TRACE("wrong HMAC key");
    const Snapshot before = Take();
    std::string wrong = unused.hmac_key;
    wrong[0] = static_cast<char>(wrong[0] ^ 0x5a);
    http::HttpResponse response =
        Post(Endpoint("newAccount"), NewAccountJws(*key, unused.kid, wrong));
    EXPECT_TRUE(IsProblem(response, 403, "unauthorized", "MAC does not verify"));
    EXPECT_TRUE(response.Header("location").empty());
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-account", "unauthorized", "web1",
                                     *thumbprint);
  }
  {
    SCOPED_TRACE("unknown key id");
    const Snapshot before = Take();
    const std::string kid = absl::StrCat("no-such-kid-", absl::ToUnixMicros(absl::Now()));
    http::HttpResponse response =
        Post(Endpoint("newAccount"), NewAccountJws(*key, kid, unused.hmac_key));
    EXPECT_TRUE(IsProblem(response, 403, "unauthorized", "not known"));
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-account", "unauthorized", "",
                                     *thumbprint);
  }
  {
    SCOPED_TRACE("key id already bound to account 1, with its right HMAC, another account key");
    const Snapshot before = Take();
    http::HttpResponse response = Post(
        Endpoint("newAccount"), NewAccountJws(*key, credentials_[0].kid, credentials_[0].hmac_key));
    EXPECT_TRUE(IsProblem(response, 403, "unauthorized", "already bound"));
    EXPECT_TRUE(response.Header("location").empty());
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-account", "unauthorized", "web1",
                                     *thumbprint);
  }
  {
    SCOPED_TRACE("the credential the wrong HMAC named is still usable");
    http::HttpResponse response =
        Post(Endpoint("newAccount"), NewAccountJws(*key, unused.kid, unused.hmac_key));
    EXPECT_EQ(response.status, 201) << response.body;
    EXPECT_THAT(response.Header("location"), HasSubstr("/acct/"));
  }
}

// 3. Another account's order, authorization, finalize and certificate URLs: 404, exactly like
// URLs that do not exist (no probing of other hosts' objects).
TEST_F(FrontDoorDenialTest, AnotherAccountsOrderAuthzAndCertificateAreNotFound) {
  const std::string name = FreshName("owned");
  absl::StatusOr<acme::Order> order = ReadyOrder(name);
  ASSERT_TRUE(order.ok()) << order.status();
  const long inventory_before = InventorySize();
  absl::StatusOr<acme::Fetched<acme::Order>> finalized =
      account1_->FinalizeOrder(order->url, order->finalize, CsrDer({name}));
  ASSERT_TRUE(finalized.ok()) << finalized.status();
  acme::Order issued = finalized->value;
  for (int i = 0; i < 120 && issued.status != acme::OrderStatus::kValid &&
                  issued.status != acme::OrderStatus::kInvalid;
       ++i) {
    absl::SleepFor(absl::Milliseconds(500));
    absl::StatusOr<acme::Fetched<acme::Order>> polled = account1_->GetOrder(order->url);
    ASSERT_TRUE(polled.ok()) << polled.status();
    issued = polled->value;
  }
  ASSERT_EQ(issued.status, acme::OrderStatus::kValid)
      << (issued.error.has_value() ? issued.error->detail : "still not valid after 60 s");
  ASSERT_FALSE(issued.certificate.empty());
  EXPECT_EQ(InventorySize(), inventory_before + 1);

  const std::string kid2 = account2_->account_url();
  const std::string thumbprint2 = Thumbprint(*account2_);
  struct Probe {
    std::string url;
    std::string payload;
    std::string rpc;
    std::string detail;
  };
  const std::vector<Probe> probes = {
      {order->url, "", "FrontDoor/order", "no such order for this account"},
      {order->authorizations.at(0), "", "FrontDoor/authz", "no such authz for this account"},
      {order->finalize, Json{{"csr", Base64Url(CsrDer({name}))}}.dump(), "FrontDoor/finalize",
       "no such order for this account"},
      {issued.certificate, "", "FrontDoor/cert", "no such cert for this account"},
  };
  for (const Probe& probe : probes) {
    SCOPED_TRACE(probe.url);
    const Snapshot before = Take();
    http::HttpResponse response =
        Post(probe.url, Signed(*key2_, probe.url, FreshNonce(), kid2, probe.payload));
    EXPECT_TRUE(IsProblem(response, 404, "malformed", probe.detail));
    EXPECT_THAT(response.body, ::testing::Not(HasSubstr("BEGIN CERTIFICATE")));
    ExpectOneRefusalAndNothingIssued(before, probe.rpc, "malformed", "web1", thumbprint2);
  }
  // The owner still reads them.
  absl::StatusOr<acme::Fetched<acme::Order>> mine = account1_->GetOrder(order->url);
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(mine->value.status, acme::OrderStatus::kValid);
  absl::StatusOr<acme::CertificateDownload> certificate =
      account1_->GetCertificate(issued.certificate, /*with_alternates=*/false);
  EXPECT_TRUE(certificate.ok()) << certificate.status();
}

// 4. A CSR whose names are not the order's, at finalize.
TEST_F(FrontDoorDenialTest, CsrWithOtherNamesIsBadCsrAtFinalize) {
  const std::string name = FreshName("csr");
  absl::StatusOr<acme::Order> order = ReadyOrder(name);
  ASSERT_TRUE(order.ok()) << order.status();
  const std::string extra = FreshName("extra");
  const std::string other = FreshName("other");
  for (const std::vector<std::string>& names :
       {std::vector<std::string>{name, extra}, std::vector<std::string>{other}}) {
    SCOPED_TRACE(names.back());
    const Snapshot before = Take();
    http::HttpResponse response = Post(
        order->finalize, Signed(*key1_, order->finalize, FreshNonce(), account1_->account_url(),
                                Json{{"csr", Base64Url(CsrDer(names))}}.dump()));
    EXPECT_TRUE(IsProblem(response, 400, "badCSR", names.back()));
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/finalize", "badCSR", "web1",
                                     Thumbprint(*account1_));
  }
  // The order did not move on: still ready, nothing sent to the CA.
  absl::StatusOr<acme::Fetched<acme::Order>> after = account1_->GetOrder(order->url);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->value.status, acme::OrderStatus::kReady);
  EXPECT_TRUE(after->value.certificate.empty());
}

// 5. alg "none", and HS256 outside an EAB.
TEST_F(FrontDoorDenialTest, AlgNoneAndHmacOutsideEabAreBadSignatureAlgorithm) {
  for (const char* alg : {"none", "HS256"}) {
    SCOPED_TRACE(alg);
    const Snapshot before = Take();
    const std::string name = FreshName(absl::StrCat("alg-", absl::AsciiStrToLower(alg)));
    const Json header = {{"alg", alg},
                         {"kid", account1_->account_url()},
                         {"nonce", FreshNonce()},
                         {"url", Endpoint("newOrder")}};
    const std::string payload = OrderPayload(name);
    const std::string signing_input =
        absl::StrCat(Base64Url(header.dump()), ".", Base64Url(payload));
    // "none" carries some bytes anyway (an empty signature is refused earlier as malformed);
    // HS256 a real HMAC, with the one secret an attacker might know: the EAB key.
    const std::string signature =
        std::string(alg) == "none"
            ? std::string("not a signature")
            : acme::testing::HmacSha256(credentials_[0].hmac_key, signing_input);
    http::HttpResponse response =
        Post(Endpoint("newOrder"), HandMadeJws(header, payload, signature));
    EXPECT_TRUE(IsProblem(response, 400, "badSignatureAlgorithm", alg));
    const Json body = Json::parse(response.body, nullptr, false);
    EXPECT_TRUE(body.is_object() && body.contains("algorithms")) << response.body;
    EXPECT_TRUE(response.Header("location").empty()) << "an order was created";
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "badSignatureAlgorithm");
  }
}

// 6. A nonce used twice.
TEST_F(FrontDoorDenialTest, ReplayedNonceIsBadNonce) {
  const std::string url = account1_->account_url();
  const std::string jws = Signed(*key1_, url, FreshNonce(), url, "");
  http::HttpResponse first = Post(url, jws);
  ASSERT_EQ(first.status, 200) << first.body;
  const Snapshot before = Take();
  http::HttpResponse replay = Post(url, jws);
  EXPECT_TRUE(IsProblem(replay, 400, "badNonce"));
  EXPECT_NE(replay.Header("replay-nonce"), first.Header("replay-nonce"));
  // Not checked: whom a replay is attributed to (the signature verifies, but anyone holding
  // a copy of the request can replay it; the server attributes it to no account).
  ExpectOneRefusalAndNothingIssued(before, "FrontDoor/acct", "badNonce");
  // The fresh nonce of the refusal works (what a client's badNonce retry does).
  http::HttpResponse retry = Post(url, Signed(*key1_, url, replay.Header("replay-nonce"), url, ""));
  EXPECT_EQ(retry.status, 200) << retry.body;
}

// 7. The JWS "url" is not the endpoint's configured URL: another endpoint, or the right path
// under another spelling of the host (the front door never trusts Host).
TEST_F(FrontDoorDenialTest, UrlMismatchIsMalformed) {
  const std::string base = BaseUrl();
  ASSERT_TRUE(absl::StartsWith(base, "https://127.0.0.1:")) << base;
  const std::string other_host = absl::StrCat(
      "https://localhost", base.substr(std::string("https://127.0.0.1").size()), "/new-order");
  for (const std::string& signed_url : {Endpoint("newAccount"), other_host}) {
    SCOPED_TRACE(signed_url);
    const Snapshot before = Take();
    http::HttpResponse response = Post(
        Endpoint("newOrder"), Signed(*key1_, signed_url, FreshNonce(), account1_->account_url(),
                                     OrderPayload(FreshName("url"))));
    EXPECT_TRUE(IsProblem(response, 400, "malformed", "\"url\""));
    EXPECT_TRUE(response.Header("location").empty()) << "an order was created";
    ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "malformed");
  }
}

// 8. A body over the listener's cap (64 KiB).
TEST_F(FrontDoorDenialTest, OversizedBodyIsMalformed413) {
  const Json payload = {
      {"identifiers", Json::array({Json{{"type", "dns"}, {"value", FreshName("big")}}})},
      {"padding", std::string(70 * 1024, 'a')}};
  const std::string jws =
      Signed(*key1_, Endpoint("newOrder"), FreshNonce(), account1_->account_url(), payload.dump());
  ASSERT_GT(jws.size(), 64u * 1024);
  const Snapshot before = Take();
  http::HttpResponse response = Post(Endpoint("newOrder"), jws);
  EXPECT_TRUE(IsProblem(response, 413, "malformed"));
  ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "malformed");
}

// 9. Content-Type application/json instead of application/jose+json.
TEST_F(FrontDoorDenialTest, JsonContentTypeIsMalformed415) {
  const Snapshot before = Take();
  http::HttpResponse response =
      Post(Endpoint("newOrder"),
           Signed(*key1_, Endpoint("newOrder"), FreshNonce(), account1_->account_url(),
                  OrderPayload(FreshName("ctype"))),
           "application/json");
  EXPECT_TRUE(IsProblem(response, 415, "malformed", "application/jose+json"));
  EXPECT_TRUE(response.Header("location").empty()) << "an order was created";
  ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "malformed");
}

// 10. jwk on an endpoint that takes kid only (newOrder).
TEST_F(FrontDoorDenialTest, JwkOnKidOnlyEndpointIsMalformed) {
  const Snapshot before = Take();
  http::HttpResponse response =
      Post(Endpoint("newOrder"),
           Signed(*key1_, Endpoint("newOrder"), FreshNonce(), "", OrderPayload(FreshName("jwk"))));
  EXPECT_TRUE(IsProblem(response, 400, "malformed", "\"kid\""));
  EXPECT_TRUE(response.Header("location").empty()) << "an order was created";
  ExpectOneRefusalAndNothingIssued(before, "FrontDoor/new-order", "malformed");
}

// The other checks production ACME servers make (issue 13, "Protocol checks"): the JWS shape,
// the key forms, the algorithm fitting the key, the signature, the account, the EAB binding
// and keyChange to a key already in use.
TEST_F(FrontDoorDenialTest, OtherProtocolChecksRefuseWithTheirProblemTypes) {
  const std::string new_order = Endpoint("newOrder");
  const std::string kid1 = account1_->account_url();
  const std::string thumbprint1 = Thumbprint(*account1_);
  absl::StatusOr<Credential> credential = Enroll();
  ASSERT_TRUE(credential.ok()) << credential.status();
  std::unique_ptr<OpenSslJwsSigner> fresh = OpenSslJwsSigner::GenerateEs256();
  absl::StatusOr<std::string> fresh_thumbprint = acme::JwkThumbprint(fresh->PublicJwk());
  ASSERT_TRUE(fresh_thumbprint.ok()) << fresh_thumbprint.status();

  // A well-formed newOrder JWS of account 1, taken apart to be reshaped.
  auto order_jws = [&] {
    return Json::parse(
        Signed(*key1_, new_order, FreshNonce(), kid1, OrderPayload(FreshName("shape"))));
  };
  // A newOrder JWS of account 1 with `header` (nonce and url added) signed by `key`.
  auto signed_by = [&](Json header, const OpenSslJwsSigner& key) {
    header["nonce"] = FreshNonce();
    header["url"] = new_order;
    const std::string payload = OrderPayload(FreshName("hand"));
    absl::StatusOr<std::string> signature =
        key.Sign(absl::StrCat(Base64Url(header.dump()), ".", Base64Url(payload)));
    EXPECT_TRUE(signature.ok()) << signature.status();
    return HandMadeJws(header, payload, signature.value_or("x"));
  };
  // A newAccount request of `fresh` with `eab` (or none).
  auto new_account = [&](std::optional<Json> eab) {
    Json payload = {{"termsOfServiceAgreed", true}};
    if (eab.has_value()) payload["externalAccountBinding"] = *eab;
    return Signed(*fresh, Endpoint("newAccount"), FreshNonce(), "", payload.dump());
  };
  auto eab = [&](const std::string& url, const std::string& jwk) {
    OpenSslMacSigner mac(credential->hmac_key);
    absl::StatusOr<Json> binding =
        acme::BuildExternalAccountBinding(mac, credential->kid, url, jwk);
    EXPECT_TRUE(binding.ok()) << binding.status();
    return binding.value_or(Json::object());
  };

  struct Case {
    std::string what;
    std::string url;
    std::string body;
    int status;
    std::string type;
    std::string detail;
    std::string rpc;
    std::optional<std::string> agent;
    std::optional<std::string> thumbprint;
  };
  std::vector<Case> cases;
  {
    Json jws = order_jws();
    Json general = {
        {"payload", jws["payload"]},
        {"signatures",
         Json::array({Json{{"protected", jws["protected"]}, {"signature", jws["signature"]}}})}};
    cases.push_back({"general serialization", new_order, general.dump(), 400, "malformed",
                     "general JWS serialization", "FrontDoor/new-order", "", ""});
  }
  {
    Json jws = order_jws();
    jws["header"] = {{"kid", kid1}};
    cases.push_back({"unprotected header", new_order, jws.dump(), 400, "malformed",
                     "unprotected header", "FrontDoor/new-order", "", ""});
  }
  cases.push_back(
      {"jwk and kid", new_order,
       signed_by({{"alg", "ES256"}, {"kid", kid1}, {"jwk", Json::parse(key1_->PublicJwk())}},
                 *key1_),
       400, "malformed", "exactly one of", "FrontDoor/new-order", "", ""});
  // A kid whose signature did not verify names nobody: no host, no thumbprint in the record.
  cases.push_back({"alg does not fit the account key", new_order,
                   signed_by({{"alg", "ES384"}, {"kid", kid1}}, *key1_), 400,
                   "badSignatureAlgorithm", "does not fit", "FrontDoor/new-order", "", ""});
  cases.push_back({"signed by another key", new_order,
                   signed_by({{"alg", "ES256"}, {"kid", kid1}}, *key2_), 403, "unauthorized",
                   "does not verify", "FrontDoor/new-order", "", ""});
  cases.push_back(
      {"unknown account", new_order,
       signed_by({{"alg", "ES256"}, {"kid", BaseUrl() + "/acct/no-such-account"}}, *key1_), 400,
       "accountDoesNotExist", "no-such-account", "FrontDoor/new-order", "", ""});
  cases.push_back({"newAccount without EAB", Endpoint("newAccount"), new_account(std::nullopt), 400,
                   "externalAccountRequired", "enroll-client", "FrontDoor/new-account", "",
                   *fresh_thumbprint});
  cases.push_back({"EAB url is not newAccount", Endpoint("newAccount"),
                   new_account(eab(new_order, fresh->PublicJwk())), 400, "malformed",
                   "must be the newAccount URL", "FrontDoor/new-account", "", *fresh_thumbprint});
  cases.push_back({"EAB binds another key", Endpoint("newAccount"),
                   new_account(eab(Endpoint("newAccount"), key2_->PublicJwk())), 400, "malformed",
                   "not the account key", "FrontDoor/new-account", "", *fresh_thumbprint});
  {
    // keyChange of account 1 to account 2's key: 409 with account 2's URL (RFC 8555 §7.3.5).
    ASSERT_TRUE(directory_.contains("keyChange"));
    const std::string key_change = Endpoint("keyChange");
    const Json inner_payload = {{"account", kid1}, {"oldKey", Json::parse(key1_->PublicJwk())}};
    absl::StatusOr<std::string> inner =
        acme::SignJws(*key2_, key_change, std::nullopt, "", inner_payload.dump());
    ASSERT_TRUE(inner.ok()) << inner.status();
    cases.push_back({"keyChange to a key in use", key_change,
                     Signed(*key1_, key_change, FreshNonce(), kid1, *inner), 409, "malformed",
                     "already the key of another account", "FrontDoor/key-change", "web1",
                     thumbprint1});
  }

  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Snapshot before = Take();
    http::HttpResponse response = Post(c.url, c.body);
    EXPECT_TRUE(IsProblem(response, c.status, c.type, c.detail));
    if (c.status == 409) {
      EXPECT_EQ(response.Header("location"), account2_->account_url());
    } else {
      EXPECT_TRUE(response.Header("location").empty()) << "something was created";
    }
    ExpectOneRefusalAndNothingIssued(before, c.rpc, c.type, c.agent, c.thumbprint);
  }
  // Account 1 still signs with its own key; the refused newAccount requests created nothing.
  http::HttpResponse still = Post(kid1, Signed(*key1_, kid1, FreshNonce(), kid1, ""));
  EXPECT_EQ(still.status, 200) << still.body;
  const Json only_existing = {{"onlyReturnExisting", true}};
  http::HttpResponse none =
      Post(Endpoint("newAccount"),
           Signed(*fresh, Endpoint("newAccount"), FreshNonce(), "", only_existing.dump()));
  EXPECT_TRUE(IsProblem(none, 400, "accountDoesNotExist"));
}

}  // namespace
}  // namespace acme_signer
