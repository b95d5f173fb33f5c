// FaultProxy (tests/testing/fault_proxy.h) in front of a real Pebble: the body-rewriting fault
// (Fault::Rewrite) and rules armed for a duration (InjectFor). The other faults are exercised
// through the signer in tests/integration/ca_fault_test.cc.
#include "tests/testing/fault_proxy.h"

#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "tests/testing/pebble_env.h"

namespace acme_signer::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
    absl::StatusOr<std::unique_ptr<PebbleEnv>> pebble = PebbleEnv::Start();
    ASSERT_TRUE(pebble.ok()) << pebble.status();
    pebble_ = *std::move(pebble);
    FaultProxy::Options options;
    options.upstream_origin = pebble_->directory_url();
    options.upstream_origin.resize(options.upstream_origin.size() - std::string("/dir").size());
    options.upstream_ca_bundle = pebble_->ca_bundle_path();
    options.upstream_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<FaultProxy>> proxy = FaultProxy::Start(options);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
    http::CurlHttpClientOptions client_options;
    client_options.ca_bundle_path = proxy_->ca_bundle_path();
    client_options.total_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> client =
        http::CurlHttpClient::Create(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override {
    if (HasFailure() && pebble_ != nullptr) std::cerr << pebble_->LogTail();
    proxy_.reset();
  }

  absl::StatusOr<http::HttpResponse> Request(http::HttpMethod method, absl::string_view path) {
    http::HttpRequest request;
    request.method = method;
    request.url = absl::StrCat(proxy_->origin(), path);
    return client_->Do(request);
  }

  std::unique_ptr<PebbleEnv> pebble_;
  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<http::CurlHttpClient> client_;
};

// Pebble 2.4's directory names "/nonce-plz" and "/order-plz": two occurrences of "-plz".
TEST_F(FaultProxyTest, RewriteReplacesEveryOccurrenceAndKeepsStatusAndHeaders) {
  absl::StatusOr<http::HttpResponse> plain = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_THAT(plain->body, HasSubstr("/nonce-plz"));
  ASSERT_THAT(plain->body, HasSubstr("/order-plz"));

  proxy_->Inject("/dir", Fault::Rewrite("-plz", "-please"), /*times=*/1);
  absl::StatusOr<http::HttpResponse> rewritten = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(rewritten.ok()) << rewritten.status();
  EXPECT_EQ(rewritten->status, plain->status);
  EXPECT_EQ(rewritten->Header("content-type"), plain->Header("content-type"));
  // The same headers (names; Date may tick), Content-Length recomputed.
  auto names = [](const http::HttpResponse& r) {
    std::vector<std::string> out;
    for (const auto& [name, value] : r.headers) out.push_back(name);
    return out;
  };
  EXPECT_EQ(names(*rewritten), names(*plain));
  EXPECT_EQ(rewritten->Header("content-length"), absl::StrCat(rewritten->body.size()));
  EXPECT_THAT(rewritten->body, Not(HasSubstr("-plz")));
  EXPECT_THAT(rewritten->body, HasSubstr(absl::StrCat(proxy_->origin(), "/nonce-please")));
  EXPECT_THAT(rewritten->body, HasSubstr(absl::StrCat(proxy_->origin(), "/order-please")));
  // Only the occurrences changed: the rest of the body is the upstream's.
  std::string expected = plain->body;
  for (size_t at = 0; (at = expected.find("-plz", at)) != std::string::npos; at += 7) {
    expected.replace(at, 4, "-please");
  }
  EXPECT_EQ(rewritten->body, expected);

  // The rule is used up: the next answer is Pebble's own.
  absl::StatusOr<http::HttpResponse> after = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(after->body, HasSubstr("/nonce-plz"));
  EXPECT_EQ(proxy_->CountRewritten("/dir"), 1);
  EXPECT_EQ(proxy_->CountFaulted("/dir"), 1);
  EXPECT_EQ(proxy_->CountRequests("/dir", "GET"), 3);
}

TEST_F(FaultProxyTest, RewriteThatMatchesNothingPassesTheAnswerOnAndCountsNoRewrite) {
  absl::StatusOr<http::HttpResponse> plain = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(plain.ok()) << plain.status();
  proxy_->Inject("/dir", Fault::Rewrite("\"status\": \"valid\"", "\"status\": \"processing\""));
  absl::StatusOr<http::HttpResponse> answer = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, plain->body);
  EXPECT_EQ(proxy_->CountFaulted("/dir"), 1);
  EXPECT_EQ(proxy_->CountRewritten("/dir"), 0);
}

// A HEAD answer (newNonce) has no body to rewrite; its status and headers come through.
TEST_F(FaultProxyTest, RewriteOfAHeadAnswerKeepsItsHeaders) {
  proxy_->Inject("/nonce-plz", Fault::Rewrite("a", "b"));
  absl::StatusOr<http::HttpResponse> nonce = Request(http::HttpMethod::kHead, "/nonce-plz");
  ASSERT_TRUE(nonce.ok()) << nonce.status();
  EXPECT_EQ(nonce->status, 200);
  EXPECT_FALSE(nonce->Header("replay-nonce").empty());
  EXPECT_EQ(nonce->body, "");
  EXPECT_EQ(proxy_->CountFaulted("/nonce-plz"), 1);
}

// InjectFor applies to every matching request until the duration passes, then lapses; a
// request on another path is never touched.
TEST_F(FaultProxyTest, InjectForAppliesToEveryMatchingRequestUntilItLapses) {
  constexpr absl::Duration kDuration = absl::Seconds(4);
  const absl::Time armed = absl::Now();
  proxy_->InjectFor("/dir", Fault::Rewrite("-plz", "-please"), kDuration);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<http::HttpResponse> answer = Request(http::HttpMethod::kGet, "/dir");
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_THAT(answer->body, HasSubstr("/order-please")) << "request " << i;
  }
  absl::StatusOr<http::HttpResponse> other = Request(http::HttpMethod::kHead, "/nonce-plz");
  ASSERT_TRUE(other.ok()) << other.status();
  // The three requests above take milliseconds; the assertion is only meaningful if they all
  // came before the rule lapsed.
  ASSERT_LT(absl::Now() - armed, kDuration) << "the machine is too slow for this test";
  EXPECT_EQ(proxy_->CountRewritten("/dir"), 3);

  absl::SleepFor(armed + kDuration + absl::Milliseconds(200) - absl::Now());
  absl::StatusOr<http::HttpResponse> after = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(after->body, HasSubstr("/order-plz"));
  EXPECT_EQ(proxy_->CountRewritten("/dir"), 3);
  EXPECT_EQ(proxy_->CountFaulted("/dir"), 3);
  EXPECT_EQ(proxy_->CountFaulted("/nonce-plz"), 0);
}

// ClearFaults ends a timed rule early.
TEST_F(FaultProxyTest, ClearFaultsEndsATimedRule) {
  proxy_->InjectFor("/dir", Fault::Rewrite("-plz", "-please"), absl::Minutes(5));
  absl::StatusOr<http::HttpResponse> during = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_THAT(during->body, HasSubstr("/order-please"));
  proxy_->ClearFaults();
  absl::StatusOr<http::HttpResponse> after = Request(http::HttpMethod::kGet, "/dir");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(after->body, HasSubstr("/order-plz"));
  EXPECT_THAT(after->body, StartsWith("{"));
}

}  // namespace
}  // namespace acme_signer::testing
