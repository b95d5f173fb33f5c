#include "tests/testing/pebble_env.h"

#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/curl_http_client.h"
#include "nlohmann/json.hpp"

namespace acme_signer::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<nlohmann::json> GetDirectory(const PebbleEnv& env) {
  http::CurlHttpClient::Options options;
  options.ca_bundle_path = env.ca_bundle_path();
  auto client = http::CurlHttpClient::Create(options);
  if (!client.ok()) return client.status();
  http::HttpRequest request;
  request.url = env.directory_url();
  auto response = (*client)->Do(request);
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::UnavailableError("directory status " + std::to_string(response->status));
  }
  return nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
}

class PebbleEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
    auto env = PebbleEnv::Start();
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = std::move(env).value();
  }
  void TearDown() override {
    if (HasFailure() && env_ != nullptr) std::cerr << env_->LogTail();
  }
  std::unique_ptr<PebbleEnv> env_;
};

TEST_F(PebbleEnvTest, ServesDirectoryThatRequiresExternalAccountBinding) {
  EXPECT_THAT(env_->directory_url(), StartsWith("https://127.0.0.1:"));
  auto directory = GetDirectory(*env_);
  ASSERT_TRUE(directory.ok()) << directory.status();
  ASSERT_FALSE(directory->is_discarded());
  EXPECT_TRUE((*directory)["newAccount"].is_string());
  EXPECT_EQ((*directory)["meta"]["externalAccountRequired"], true);
}

TEST_F(PebbleEnvTest, GeneratesAnEabKeyAndKeepsItInAPrivateConfigFile) {
  EXPECT_EQ(env_->eab_kid(), "kid-1");
  EXPECT_EQ(env_->eab_hmac_key_bytes().size(), 32u);
  std::string round_trip;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(env_->eab_hmac_key_b64url(), &round_trip));
  EXPECT_EQ(round_trip, env_->eab_hmac_key_bytes());
  struct stat st {};
  ASSERT_EQ(::stat((env_->temp_dir() + "/pebble-config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PebbleEnvTest, FetchesTheIssuingRoot) {
  auto root = env_->FetchRootCertificatePem();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_THAT(*root, HasSubstr("-----BEGIN CERTIFICATE-----"));
}

TEST_F(PebbleEnvTest, SetsAndClearsTxtRecords) {
  EXPECT_TRUE(env_->SetTxtRecord("_acme-challenge.example.com", "abc").ok());
  EXPECT_TRUE(env_->ClearTxtRecord("_acme-challenge.example.com.").ok());
}

TEST_F(PebbleEnvTest, RestartsWithANewRootOnTheSamePorts) {
  const std::string directory_url = env_->directory_url();
  auto before = env_->FetchRootCertificatePem();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(env_->Restart().ok());
  EXPECT_EQ(env_->directory_url(), directory_url);
  auto after = env_->FetchRootCertificatePem();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(*after, *before);
}

TEST_F(PebbleEnvTest, StopMakesTheDirectoryUnreachable) {
  env_->Stop();
  auto directory = GetDirectory(*env_);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(directory.status().message(), HasSubstr(env_->directory_url()));
  env_->Stop();  // Idempotent.
}

TEST(PebbleEnvOptionsTest, RejectsAnEabKeyThatIsNotBase64Url) {
  ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
  PebbleEnv::Options options;
  options.eab_hmac_key_b64url = "not base64!";
  auto env = PebbleEnv::Start(options);
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(env.status().message(), HasSubstr("base64url"));
}

TEST(PebbleEnvOptionsTest, PassesExtraEnvironmentAndHttpPort) {
  ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
  PebbleEnv::Options options;
  options.http_port = 5555;
  options.eab_kid = "kid-custom";
  options.extra_env = {{"PEBBLE_WFE_NONCEREJECT", "0"}};
  auto env = PebbleEnv::Start(options);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ((*env)->http_port(), 5555);
  EXPECT_EQ((*env)->eab_kid(), "kid-custom");
  auto config = ReadFile((*env)->temp_dir() + "/pebble-config.json");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(*config, HasSubstr("\"httpPort\": 5555"));
  EXPECT_THAT(*config, HasSubstr("\"kid-custom\""));
}

}  // namespace
}  // namespace acme_signer::testing
