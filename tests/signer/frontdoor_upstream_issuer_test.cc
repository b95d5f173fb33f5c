// UpstreamIssuer (signer/frontdoor/upstream_issuer.h) against a real Pebble (EAB required)
// with the signer's account key and EAB HMAC key in SoftHSM2: strict validation answered
// through a dns-01 hook script that sets TXT records in pebble-challtestsrv, Pebble's
// always-valid mode, and the failures (no hook, a failing or hanging hook, a CSR the CA
// refuses). Skips when Pebble or SoftHSM2 is missing, fails instead under CI=true.
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "acme/client.h"
#include "acme/key_authorization.h"
#include "acme/problem.h"
#include "common/secret.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "http/curl_http_client.h"
#include "signer/frontdoor/upstream_issuer.h"
#include "tests/acme/openssl_signers.h"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/pebble_env.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::signer::frontdoor {
namespace {

using ::acme_signer::acme::testing::MakeCsrDer;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::testing::PebbleEnv;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteExecutable(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ASSERT_EQ(::chmod(path.c_str(), 0700), 0) << path;
}

// What a FinalizeDone received; waits for it with a bound.
class DoneRecorder {
 public:
  UpstreamIssuer::FinalizeDone Callback() {
    return [this](absl::StatusOr<UpstreamCertificate> result) {
      absl::MutexLock lock(&mu_);
      ++calls_;
      result_ = std::move(result);
      if (!done_.HasBeenNotified()) done_.Notify();
    };
  }
  // The result, or a DeadlineExceeded status when done was not called within `timeout`.
  absl::StatusOr<UpstreamCertificate> Wait(absl::Duration timeout) {
    if (!done_.WaitForNotificationWithTimeout(timeout)) {
      return absl::DeadlineExceededError("done was not called in time");
    }
    absl::MutexLock lock(&mu_);
    return result_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Notification done_;
  absl::Mutex mu_;
  int calls_ = 0;
  absl::StatusOr<UpstreamCertificate> result_ = absl::UnknownError("not called");
};

class UpstreamIssuerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!acme_signer::testing::SoftHsmAvailable().ok()) return;
    auto info = acme_signer::testing::CreateSoftHsmToken("upstream-issuer");
    if (!info.ok()) return;
    auto module = hsm::Module::Load(acme_signer::testing::kSoftHsmModule);
    if (!module.ok()) return;
    auto token = hsm::Token::Open(*module, info->uri, info->pin_file);
    if (!token.ok()) return;
    token_ = new std::shared_ptr<hsm::Token>(*token);
  }
  static void TearDownTestSuite() {
    delete token_;
    token_ = nullptr;
  }

  void SetUp() override {
    ACME_SIGNER_REQUIRE_SOFTHSM();
    ACME_SIGNER_REQUIRE_PEBBLE_TOOLS();
    ASSERT_NE(token_, nullptr) << "could not open the SoftHSM2 token";
  }

  void TearDown() override {
    issuer_.reset();  // before the client and Pebble
    if (HasFailure() && env_ != nullptr) std::cerr << env_->LogTail();
  }

  // Pebble (strict unless `extra_env` says otherwise; no random nonce rejection) and an
  // AcmeClient registered with the HSM account key and EAB.
  void StartPebble(std::vector<std::pair<std::string, std::string>> extra_env = {}) {
    PebbleEnv::Options options;
    options.extra_env = {{"PEBBLE_WFE_NONCEREJECT", "0"}};
    for (auto& entry : extra_env) options.extra_env.push_back(std::move(entry));
    auto env = PebbleEnv::Start(options);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *std::move(env);
    http::CurlHttpClient::Options curl_options;
    curl_options.ca_bundle_path = env_->ca_bundle_path();
    auto curl = http::CurlHttpClient::Create(curl_options);
    ASSERT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    const int n = ++objects_;
    auto key = (*token_)->GenerateSigningKey(absl::StrCat("pkcs11:object=account-", n),
                                             hsm::KeyType::kEcP256);
    ASSERT_TRUE(key.ok()) << key.status();
    account_key_ = *std::move(key);
    auto mac = (*token_)->ImportHmacKey(absl::StrCat("pkcs11:object=eab-", n),
                                        Secret(env_->eab_hmac_key_b64url()));
    ASSERT_TRUE(mac.ok()) << mac.status();
    eab_mac_ = *std::move(mac);
    acme::AcmeClientOptions client_options;
    client_options.directory_url = env_->directory_url();
    auto client = acme::AcmeClient::Create(*curl_, *account_key_, client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    acme::NewAccountOptions account_options;
    account_options.terms_of_service_agreed = true;
    account_options.eab_kid = env_->eab_kid();
    account_options.eab_mac = eab_mac_.get();
    auto account = client_->RegisterAccount(account_options);
    ASSERT_TRUE(account.ok()) << account.status();
  }

  // Fast polling for the tests; the rest as given.
  static UpstreamIssuerOptions FastOptions() {
    UpstreamIssuerOptions options;
    options.min_poll_interval = absl::Milliseconds(100);
    options.poll_interval = absl::Milliseconds(200);
    options.max_poll_interval = absl::Seconds(2);
    options.authorization_timeout = absl::Minutes(1);
    options.order_timeout = absl::Minutes(1);
    options.hook_timeout = absl::Seconds(20);
    options.workers = 2;
    return options;
  }

  void MakeIssuer(UpstreamIssuerOptions options) {
    auto issuer = UpstreamIssuer::Create(client_.get(), std::move(options));
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = *std::move(issuer);
  }

  // A hook that logs its action, identifier, record name and value to hook.log, its
  // environment's variable names to env-<action>, and sets / clears the TXT record in
  // challtestsrv.
  std::string WriteDnsHook() {
    const std::string dir = env_->temp_dir();
    const std::string path = dir + "/dns01-hook";
    hook_log_ = dir + "/hook.log";
    const std::string mgmt = env_->challtestsrv_url();
    WriteExecutable(
        path,
        absl::StrCat("#!/bin/sh\n",
                     "echo \"$ACME_SIGNER_DNS01_ACTION $ACME_SIGNER_DNS01_IDENTIFIER "
                     "$ACME_SIGNER_DNS01_NAME $ACME_SIGNER_DNS01_VALUE\" >> ",
                     hook_log_, "\n", "env | cut -d= -f1 | sort > ", dir,
                     "/env-$ACME_SIGNER_DNS01_ACTION\n", "case \"$ACME_SIGNER_DNS01_ACTION\" in\n",
                     "  present) curl -sf -d '{\"host\":\"'$ACME_SIGNER_DNS01_NAME'\",\"value\":\"'"
                     "$ACME_SIGNER_DNS01_VALUE'\"}' ",
                     mgmt, "/set-txt ;;\n",
                     "  cleanup) curl -sf -d '{\"host\":\"'$ACME_SIGNER_DNS01_NAME'\"}' ", mgmt,
                     "/clear-txt ;;\n", "  *) exit 9 ;;\n", "esac\n"));
    return path;
  }

  struct Finalized {
    absl::StatusOr<UpstreamCertificate> result;
    std::unique_ptr<OpenSslJwsSigner> key;
    std::string order_url;
  };

  // CreateOrder for `order_names`, then Finalize with a CSR for `csr_names`; waits for done.
  Finalized OrderAndFinalize(const std::vector<std::string>& order_names,
                             const std::vector<std::string>& csr_names) {
    Finalized out;
    out.result = absl::UnknownError("not run");
    UpstreamOrderRequest request;
    for (const std::string& name : order_names) {
      request.identifiers.push_back(acme::Identifier::Dns(name));
    }
    auto order_url = issuer_->CreateOrder(request);
    EXPECT_TRUE(order_url.ok()) << order_url.status();
    if (!order_url.ok()) return out;
    out.order_url = *order_url;
    out.key = OpenSslJwsSigner::GenerateEs256();
    DoneRecorder recorder;
    absl::Status started =
        issuer_->Finalize(*order_url, MakeCsrDer(out.key->pkey(), csr_names), recorder.Callback());
    EXPECT_TRUE(started.ok()) << started;
    if (!started.ok()) return out;
    out.result = recorder.Wait(absl::Minutes(3));
    // done exactly once: no second call shortly after.
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_EQ(recorder.calls(), 1);
    return out;
  }

  // The chain verifies against Pebble's root and names exactly `names`.
  void ExpectIssued(const Finalized& finalized, std::vector<std::string> names) {
    ASSERT_TRUE(finalized.result.ok()) << finalized.result.status();
    const UpstreamCertificate& certificate = *finalized.result;
    EXPECT_EQ(certificate.order_url, finalized.order_url);
    EXPECT_THAT(certificate.certificate_url, ::testing::StartsWith("https://127.0.0.1:"));
    ASSERT_FALSE(certificate.chains.empty());
    auto root_pem = env_->FetchRootCertificatePem();
    ASSERT_TRUE(root_pem.ok()) << root_pem.status();
    std::vector<SslUniquePtr<X509>> roots = acme_signer::testing::ParseChain(*root_pem);
    ASSERT_EQ(roots.size(), 1u);
    std::vector<SslUniquePtr<X509>> chain = acme_signer::testing::ParseChain(certificate.chains[0]);
    ASSERT_GE(chain.size(), 2u);
    X509Stack intermediates(sk_X509_new_null());
    for (size_t i = 1; i < chain.size(); ++i) {
      X509_up_ref(chain[i].get());
      ASSERT_GT(sk_X509_push(intermediates.get(), chain[i].get()), 0);
    }
    SslUniquePtr<X509_STORE> store(X509_STORE_new());
    ASSERT_EQ(X509_STORE_add_cert(store.get(), roots[0].get()), 1);
    SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
    ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), intermediates.get()), 1);
    EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
        << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(chain[0].get()), finalized.key->pkey()), 1);
    std::vector<std::string> sans = acme_signer::testing::DnsSans(chain[0].get());
    std::sort(sans.begin(), sans.end());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(sans, names);
  }

  static std::shared_ptr<hsm::Token>* token_;
  static std::atomic<int> objects_;
  std::unique_ptr<PebbleEnv> env_;
  std::unique_ptr<http::CurlHttpClient> curl_;
  std::unique_ptr<hsm::JwsSigner> account_key_;
  std::unique_ptr<hsm::MacSigner> eab_mac_;
  std::unique_ptr<acme::AcmeClient> client_;
  std::unique_ptr<UpstreamIssuer> issuer_;
  std::string hook_log_;
};

std::shared_ptr<hsm::Token>* UpstreamIssuerTest::token_ = nullptr;
std::atomic<int> UpstreamIssuerTest::objects_{0};

TEST_F(UpstreamIssuerTest, StrictCaIsAnsweredThroughTheDnsHook) {
  StartPebble();
  UpstreamIssuerOptions options = FastOptions();
  options.dns01_hook = WriteDnsHook();
  MakeIssuer(options);
  auto thumbprint = client_->AccountThumbprint();
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();

  Finalized finalized = OrderAndFinalize({"www.upstream.test"}, {"www.upstream.test"});
  ExpectIssued(finalized, {"www.upstream.test"});

  // The hook published the value of the order's dns-01 challenge, then cleaned up.
  auto order = client_->GetOrder(finalized.order_url);
  ASSERT_TRUE(order.ok()) << order.status();
  ASSERT_EQ(order->value.authorizations.size(), 1u);
  auto authz = client_->GetAuthorization(order->value.authorizations[0]);
  ASSERT_TRUE(authz.ok()) << authz.status();
  const acme::Challenge* challenge = authz->value.Find(acme::kDns01);
  ASSERT_NE(challenge, nullptr);
  EXPECT_EQ(challenge->status, acme::ChallengeStatus::kValid);
  auto key_authorization = acme::KeyAuthorization(challenge->token, *thumbprint);
  ASSERT_TRUE(key_authorization.ok());
  auto value = acme::Dns01TxtValue(*key_authorization);
  ASSERT_TRUE(value.ok());
  const std::string line =
      absl::StrCat("www.upstream.test _acme-challenge.www.upstream.test. ", *value);
  EXPECT_EQ(ReadFile(hook_log_), absl::StrCat("present ", line, "\ncleanup ", line, "\n"));

  // Exactly the documented environment (plus what /bin/sh itself sets).
  for (const char* action : {"present", "cleanup"}) {
    std::vector<std::string> names = absl::StrSplit(
        ReadFile(absl::StrCat(env_->temp_dir(), "/env-", action)), '\n', absl::SkipEmpty());
    std::erase_if(names, [](const std::string& name) {
      return name == "PWD" || name == "SHLVL" || name == "_" || name == "OLDPWD";
    });
    EXPECT_THAT(names,
                ::testing::ElementsAre("ACME_SIGNER_DNS01_ACTION", "ACME_SIGNER_DNS01_IDENTIFIER",
                                       "ACME_SIGNER_DNS01_NAME", "ACME_SIGNER_DNS01_VALUE", "PATH"))
        << action;
  }
}

TEST_F(UpstreamIssuerTest, WildcardAndBaseNameShareTheRecordAndBothAreValidated) {
  StartPebble();
  UpstreamIssuerOptions options = FastOptions();
  options.dns01_hook = WriteDnsHook();
  MakeIssuer(options);
  Finalized finalized = OrderAndFinalize({"wild.upstream.test", "*.wild.upstream.test"},
                                         {"wild.upstream.test", "*.wild.upstream.test"});
  ExpectIssued(finalized, {"wild.upstream.test", "*.wild.upstream.test"});
  std::vector<std::string> lines = absl::StrSplit(ReadFile(hook_log_), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << ReadFile(hook_log_);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_THAT(lines[i], ::testing::StartsWith(absl::StrCat(
                              i < 2 ? "present" : "cleanup",
                              " wild.upstream.test _acme-challenge.wild.upstream.test. ")));
  }
}

// Pebble's always-valid mode still starts authorizations `pending`: the challenge is answered
// with nothing published.
TEST_F(UpstreamIssuerTest, AlwaysValidCaNeedsNoHook) {
  StartPebble({{"PEBBLE_VA_ALWAYS_VALID", "1"}, {"PEBBLE_AUTHZREUSE", "0"}});
  UpstreamIssuerOptions options = FastOptions();
  options.answer_challenges_without_hook = true;
  MakeIssuer(options);
  Finalized finalized = OrderAndFinalize({"valid.upstream.test"}, {"valid.upstream.test"});
  ExpectIssued(finalized, {"valid.upstream.test"});
}

// An authorization already valid at the CA (authorization reuse, pre-validated domains) needs
// neither a hook nor a challenge.
TEST_F(UpstreamIssuerTest, AlreadyValidAuthorizationsNeedNothing) {
  StartPebble({{"PEBBLE_AUTHZREUSE", "100"}});
  // A first order validated through TXT records set by the test itself.
  acme::NewOrderOptions request;
  request.identifiers = {acme::Identifier::Dns("reuse.upstream.test")};
  auto first = client_->CreateOrder(request);
  ASSERT_TRUE(first.ok()) << first.status();
  auto thumbprint = client_->AccountThumbprint();
  ASSERT_TRUE(thumbprint.ok());
  auto authz = client_->GetAuthorization(first->value.authorizations.at(0));
  ASSERT_TRUE(authz.ok()) << authz.status();
  const acme::Challenge* challenge = authz->value.Find(acme::kDns01);
  ASSERT_NE(challenge, nullptr);
  auto value = acme::Dns01TxtValue(*acme::KeyAuthorization(challenge->token, *thumbprint));
  ASSERT_TRUE(value.ok());
  ASSERT_TRUE(env_->SetTxtRecord("_acme-challenge.reuse.upstream.test", *value).ok());
  ASSERT_TRUE(client_->AnswerChallenge(challenge->url).ok());
  for (int i = 0; i < 100 && authz->value.status == acme::AuthorizationStatus::kPending; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    authz = client_->GetAuthorization(first->value.authorizations.at(0));
    ASSERT_TRUE(authz.ok()) << authz.status();
  }
  ASSERT_EQ(authz->value.status, acme::AuthorizationStatus::kValid);
  ASSERT_TRUE(env_->ClearTxtRecord("_acme-challenge.reuse.upstream.test").ok());

  MakeIssuer(FastOptions());  // no hook
  Finalized finalized = OrderAndFinalize({"reuse.upstream.test"}, {"reuse.upstream.test"});
  ExpectIssued(finalized, {"reuse.upstream.test"});
}

// Answering without publishing at a CA that really validates: the CA's problem is kept.
TEST_F(UpstreamIssuerTest, AnsweringWithoutAHookAtAStrictCaKeepsTheCaProblem) {
  StartPebble({{"PEBBLE_AUTHZREUSE", "0"}});
  UpstreamIssuerOptions options = FastOptions();
  options.answer_challenges_without_hook = true;
  MakeIssuer(options);
  Finalized finalized = OrderAndFinalize({"strict.upstream.test"}, {"strict.upstream.test"});
  ASSERT_FALSE(finalized.result.ok());
  std::optional<acme::Problem> problem = acme::GetProblem(finalized.result.status());
  ASSERT_TRUE(problem.has_value()) << finalized.result.status();
  EXPECT_THAT(finalized.result.status().message(), HasSubstr("strict.upstream.test"));
  std::cout << "strict CA, no record: " << finalized.result.status().message() << "\n";
}

TEST_F(UpstreamIssuerTest, StrictCaWithoutAHookFailsSayingAHookIsNeeded) {
  StartPebble();
  MakeIssuer(FastOptions());
  Finalized finalized = OrderAndFinalize({"nohook.upstream.test"}, {"nohook.upstream.test"});
  ASSERT_FALSE(finalized.result.ok());
  EXPECT_EQ(finalized.result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(finalized.result.status().message(),
              AllOf(HasSubstr("dns-01"), HasSubstr("nohook.upstream.test"),
                    HasSubstr("upstream_dns01_hook")));
  std::cout << "no hook: " << finalized.result.status().message() << "\n";
}

TEST_F(UpstreamIssuerTest, FailingHookNamesTheHookAndItsExitStatus) {
  StartPebble();
  const std::string hook = env_->temp_dir() + "/failing-hook";
  WriteExecutable(hook, "#!/bin/sh\necho 'no zone for\tthis name' >&2\nexit 3\n");
  UpstreamIssuerOptions options = FastOptions();
  options.dns01_hook = hook;
  MakeIssuer(options);
  Finalized finalized = OrderAndFinalize({"fail.upstream.test"}, {"fail.upstream.test"});
  ASSERT_FALSE(finalized.result.ok());
  EXPECT_THAT(finalized.result.status().message(),
              AllOf(HasSubstr(hook), HasSubstr("present"), HasSubstr("exited with status 3"),
                    HasSubstr("no zone for\\tthis name")));
  std::cout << "failing hook: " << finalized.result.status().message() << "\n";
}

TEST_F(UpstreamIssuerTest, HangingHookIsKilledAtItsTimeout) {
  StartPebble();
  const std::string hook = env_->temp_dir() + "/hanging-hook";
  WriteExecutable(hook, "#!/bin/sh\nsleep 60\n");
  UpstreamIssuerOptions options = FastOptions();
  options.dns01_hook = hook;
  options.hook_timeout = absl::Seconds(1);
  MakeIssuer(options);
  const absl::Time start = absl::Now();
  Finalized finalized = OrderAndFinalize({"hang.upstream.test"}, {"hang.upstream.test"});
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(finalized.result.ok());
  EXPECT_EQ(finalized.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(finalized.result.status().message(), AllOf(HasSubstr(hook), HasSubstr("timed out")));
  // present and cleanup each killed after 1 s; far below the script's 60 s.
  EXPECT_LT(took, absl::Seconds(20));
  std::cout << "hanging hook: " << finalized.result.status().message() << "\n";
}

TEST_F(UpstreamIssuerTest, CsrWithANameOutsideTheOrderKeepsTheCaProblem) {
  StartPebble({{"PEBBLE_VA_ALWAYS_VALID", "1"}});
  UpstreamIssuerOptions options = FastOptions();
  options.answer_challenges_without_hook = true;
  MakeIssuer(options);
  Finalized finalized =
      OrderAndFinalize({"csr.upstream.test"}, {"csr.upstream.test", "other.upstream.test"});
  ASSERT_FALSE(finalized.result.ok());
  std::optional<acme::Problem> problem = acme::GetProblem(finalized.result.status());
  ASSERT_TRUE(problem.has_value()) << finalized.result.status();
  EXPECT_TRUE(problem->Is("badCSR") || problem->Is("unauthorized") || problem->Is("malformed"))
      << problem->type;
  std::cout << "bad CSR: " << finalized.result.status().message() << "\n";
}

TEST_F(UpstreamIssuerTest, CreateRefusesARelativeHookWorkersZeroAndNonPositiveDurations) {
  StartPebble();
  UpstreamIssuerOptions relative = FastOptions();
  relative.dns01_hook = "hooks/dns01";
  auto issuer = UpstreamIssuer::Create(client_.get(), relative);
  EXPECT_EQ(issuer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(issuer.status().message(), HasSubstr("absolute"));

  UpstreamIssuerOptions no_workers = FastOptions();
  no_workers.workers = 0;
  issuer = UpstreamIssuer::Create(client_.get(), no_workers);
  EXPECT_EQ(issuer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(issuer.status().message(), HasSubstr("workers"));

  UpstreamIssuerOptions zero_timeout = FastOptions();
  zero_timeout.hook_timeout = absl::ZeroDuration();
  issuer = UpstreamIssuer::Create(client_.get(), zero_timeout);
  EXPECT_EQ(issuer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(issuer.status().message(), HasSubstr("hook_timeout"));

  EXPECT_EQ(UpstreamIssuer::Create(nullptr, FastOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(UpstreamIssuerTest, DestroyingTheIssuerCancelsQueuedWorkAndCallsDoneOnce) {
  StartPebble();
  const std::string hook = env_->temp_dir() + "/slow-hook";
  WriteExecutable(hook, "#!/bin/sh\nsleep 2\n");
  UpstreamIssuerOptions options = FastOptions();
  options.dns01_hook = hook;
  options.workers = 1;
  MakeIssuer(options);
  UpstreamOrderRequest request;
  request.identifiers = {acme::Identifier::Dns("slow.upstream.test")};
  auto first = issuer_->CreateOrder(request);
  ASSERT_TRUE(first.ok()) << first.status();
  // The one worker is busy preparing; this Finalize is queued when the issuer goes away.
  DoneRecorder recorder;
  ASSERT_TRUE(issuer_->Finalize(*first, "csr", recorder.Callback()).ok());
  const absl::Time start = absl::Now();
  issuer_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  auto result = recorder.Wait(absl::Seconds(1));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled) << result.status();
  EXPECT_EQ(recorder.calls(), 1);
}

}  // namespace
}  // namespace acme_signer::signer::frontdoor
