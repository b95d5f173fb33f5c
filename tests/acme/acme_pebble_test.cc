// The ACME engine against a real Pebble (EAB required) with the account key and the EAB HMAC
// key inside SoftHSM2; issuance runs the agent's order flow (agent/order_flow.h) over the
// direct-mode backend with the key local. Skips when Pebble or SoftHSM2 is missing, fails
// instead under CI=true.
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "acme/client.h"
#include "acme/key_authorization.h"
#include "agent/challenge_solver.h"
#include "agent/direct_issuer.h"
#include "agent/order_flow.h"
#include "common/secret.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "http/curl_http_client.h"
#include "http/http01_responder.h"
#include "tests/acme/counting_http_client.h"
#include "tests/acme/openssl_signers.h"
#include "tests/acme/status_matchers.h"
#include "tests/testing/pebble_env.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::acme {
namespace {

using ::acme_signer::acme::testing::CountingHttpClient;
using ::acme_signer::acme::testing::MakeCsrDer;
using ::acme_signer::acme::testing::OpenSslJwsSigner;
using ::acme_signer::acme::testing::OpenSslMacSigner;
using ::acme_signer::acme::testing::StatusIs;
using ::acme_signer::testing::PebbleEnv;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Serves http-01 responses from an Http01Responder that Pebble's httpPort points at.
class Http01Solver : public agent::ChallengeSolver {
 public:
  explicit Http01Solver(http::Http01Responder& responder) : responder_(responder) {}
  absl::string_view ChallengeType() const override { return "http-01"; }
  absl::Status Present(const agent::ChallengeTask& task) override {
    tokens_.push_back(task.token);
    return responder_.AddToken(task.token, task.key_authorization);
  }
  void CleanUp() override {
    for (const std::string& token : tokens_) responder_.RemoveToken(token);
    tokens_.clear();
  }

 private:
  http::Http01Responder& responder_;
  std::vector<std::string> tokens_;
};

// Publishes dns-01 TXT records in challtestsrv, Pebble's DNS.
class Dns01Solver : public agent::ChallengeSolver {
 public:
  explicit Dns01Solver(const PebbleEnv& env) : env_(env) {}
  absl::string_view ChallengeType() const override { return "dns-01"; }
  absl::Status Present(const agent::ChallengeTask& task) override {
    names_.push_back(Dns01RecordName(task.domain));
    return env_.SetTxtRecord(names_.back(), task.dns01_txt_value);
  }
  void CleanUp() override {
    // Two authorizations (a.test and *.a.test) share one record name; clearing twice is fine.
    for (const std::string& name : names_) EXPECT_TRUE(env_.ClearTxtRecord(name).ok());
    names_.clear();
  }

 private:
  const PebbleEnv& env_;
  std::vector<std::string> names_;
};

SslUniquePtr<X509> FromDer(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  return SslUniquePtr<X509>(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

SslUniquePtr<X509> FromPem(const std::string& pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return SslUniquePtr<X509>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::vector<std::string> DnsSans(X509* cert) {
  std::vector<std::string> names;
  GENERAL_NAMES* raw =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  SslUniquePtr<GENERAL_NAMES> sans(raw);
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
    if (name->type != GEN_DNS) continue;
    const ASN1_STRING* s = name->d.dNSName;
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       ASN1_STRING_length(s));
  }
  std::sort(names.begin(), names.end());
  return names;
}

const char* MethodName(http::HttpMethod method) {
  switch (method) {
    case http::HttpMethod::kGet:
      return "GET";
    case http::HttpMethod::kHead:
      return "HEAD";
    case http::HttpMethod::kPost:
      return "POST";
  }
  return "?";
}

class AcmePebbleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!acme_signer::testing::SoftHsmAvailable().ok()) return;
    auto info = acme_signer::testing::CreateSoftHsmToken("acme-pebble");
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
    ready_ = true;
  }

  void TearDown() override {
    if (HasFailure() && env_ != nullptr) std::cerr << env_->LogTail();
  }

  // Starts the http-01 responder and Pebble (pointing its httpPort at the responder), and
  // makes an account key and the EAB HMAC key in the token.
  void StartPebble(std::vector<std::pair<std::string, std::string>> extra_env = {
                       {"PEBBLE_WFE_NONCEREJECT", "0"}}) {
    responder_ = std::make_unique<http::Http01Responder>(http::Http01Responder::Options());
    ASSERT_TRUE(responder_->Start().ok());
    PebbleEnv::Options options;
    options.http_port = responder_->port();
    options.extra_env = std::move(extra_env);
    auto env = PebbleEnv::Start(options);
    ASSERT_TRUE(env.ok()) << env.status();
    env_ = *std::move(env);
    http::CurlHttpClient::Options curl_options;
    curl_options.ca_bundle_path = env_->ca_bundle_path();
    auto curl = http::CurlHttpClient::Create(curl_options);
    ASSERT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    counting_ = std::make_unique<CountingHttpClient>(*curl_);
    account_key_ = NewAccountKey();
    ASSERT_NE(account_key_, nullptr);
    const int n = ++objects_;
    auto mac = (*token_)->ImportHmacKey(absl::StrCat("pkcs11:object=eab-", n),
                                        Secret(env_->eab_hmac_key_b64url()));
    ASSERT_TRUE(mac.ok()) << mac.status();
    eab_mac_ = *std::move(mac);
  }

  std::unique_ptr<hsm::JwsSigner> NewAccountKey() {
    auto key = (*token_)->GenerateSigningKey(absl::StrCat("pkcs11:object=account-", ++objects_),
                                             hsm::KeyType::kEcP256);
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *std::move(key) : nullptr;
  }

  std::unique_ptr<AcmeClient> NewClient(const hsm::JwsSigner& key) {
    AcmeClientOptions options;
    options.directory_url = env_->directory_url();
    auto client = AcmeClient::Create(*counting_, key, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  NewAccountOptions EabOptions() {
    NewAccountOptions options;
    options.contact = {"mailto:ops@acme-signer.test"};
    options.terms_of_service_agreed = true;
    options.eab_kid = env_->eab_kid();
    options.eab_mac = eab_mac_.get();
    return options;
  }

  // A registered client for account_key_.
  std::unique_ptr<AcmeClient> RegisteredClient() {
    auto client = NewClient(*account_key_);
    if (client == nullptr) return nullptr;
    auto account = client->RegisterAccount(EabOptions());
    EXPECT_TRUE(account.ok()) << account.status();
    return account.ok() ? std::move(client) : nullptr;
  }

  agent::RelayIssueOptions FastPolling() {
    agent::RelayIssueOptions options;
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    return options;
  }

  // The order flow's backend for `client`, with the account key local.
  std::unique_ptr<agent::DirectOrderBackend> Backend(AcmeClient& client) {
    auto thumbprint = client.AccountThumbprint();
    EXPECT_TRUE(thumbprint.ok()) << thumbprint.status();
    agent::DirectOrderBackend::Options options;
    options.directory_url = env_->directory_url();
    return std::make_unique<agent::DirectOrderBackend>(client, thumbprint.value_or(""),
                                                       std::move(options));
  }

  struct Issued {
    agent::IssuedChain certificate;
    std::string leaf_der;
    std::unique_ptr<OpenSslJwsSigner> key;  // the certificate's key
  };

  absl::StatusOr<Issued> Issue(AcmeClient& client, const std::vector<std::string>& names,
                               agent::ChallengeSolver& solver) {
    Issued issued;
    issued.key = OpenSslJwsSigner::GenerateEs256();
    agent::RelayIssueOptions options = FastPolling();
    options.domains = names;
    options.csr_der = MakeCsrDer(issued.key->pkey(), names);
    auto certificate = agent::RunOrderFlow(*Backend(client), solver, options);
    if (!certificate.ok()) return certificate.status();
    issued.certificate = *std::move(certificate);
    auto ders = PemChainToDer(issued.certificate.pem_chain);
    if (!ders.ok()) return ders.status();
    issued.leaf_der = ders->front();
    return issued;
  }

  // Verifies the chain up to Pebble's root, the key and the SANs.
  void ExpectValidCertificate(const Issued& issued, std::vector<std::string> names) {
    auto root_pem = env_->FetchRootCertificatePem();
    ASSERT_TRUE(root_pem.ok()) << root_pem.status();
    SslUniquePtr<X509> root = FromPem(*root_pem);
    ASSERT_NE(root, nullptr);
    auto ders = PemChainToDer(issued.certificate.pem_chain);
    ASSERT_TRUE(ders.ok()) << ders.status();
    ASSERT_GE(ders->size(), 2u);
    SslUniquePtr<X509> leaf = FromDer(ders->front());
    ASSERT_NE(leaf, nullptr);
    X509Stack intermediates(sk_X509_new_null());
    for (size_t i = 1; i < ders->size(); ++i)
      sk_X509_push(intermediates.get(), FromDer((*ders)[i]).release());
    SslUniquePtr<X509_STORE> store(X509_STORE_new());
    ASSERT_EQ(X509_STORE_add_cert(store.get(), root.get()), 1);
    SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
    ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), intermediates.get()), 1);
    EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
        << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), issued.key->pkey()), 1);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(DnsSans(leaf.get()), names);
    EXPECT_EQ(issued.leaf_der, ders->front());
  }

  static std::shared_ptr<hsm::Token>* token_;
  static std::atomic<int> objects_;
  bool ready_ = false;
  std::unique_ptr<http::Http01Responder> responder_;
  std::unique_ptr<PebbleEnv> env_;
  std::unique_ptr<http::CurlHttpClient> curl_;
  std::unique_ptr<CountingHttpClient> counting_;
  std::unique_ptr<hsm::JwsSigner> account_key_;
  std::unique_ptr<hsm::MacSigner> eab_mac_;
};

std::shared_ptr<hsm::Token>* AcmePebbleTest::token_ = nullptr;
std::atomic<int> AcmePebbleTest::objects_{0};

TEST_F(AcmePebbleTest, RegistersWithEabAndReRegistrationFindsTheSameAccount) {
  StartPebble();
  auto first = NewClient(*account_key_);
  auto account = first->RegisterAccount(EabOptions());
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_THAT(account->url, ::testing::StartsWith("https://127.0.0.1:"));
  EXPECT_EQ(account->status, AccountStatus::kValid);

  counting_->Reset();
  auto second = NewClient(*account_key_);
  auto again = second->RegisterAccount(EabOptions());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->url, account->url);
  // directory, newNonce, the onlyReturnExisting lookup: no second newAccount with EAB.
  EXPECT_EQ(counting_->log().size(), 3u);
}

TEST_F(AcmePebbleTest, WrongHmacKeyIsRefusedWithAClearError) {
  StartPebble();
  OpenSslMacSigner wrong(std::string(32, 'w'));
  NewAccountOptions options = EabOptions();
  options.eab_mac = &wrong;
  auto account = NewClient(*account_key_)->CreateAccount(options);
  EXPECT_THAT(account, StatusIs(absl::StatusCode::kPermissionDenied,
                                AllOf(HasSubstr("registering the ACME account"),
                                      HasSubstr("unauthorized"), HasSubstr("HMAC key"))));
  ASSERT_TRUE(GetProblem(account.status()).has_value());
  std::cout << "wrong HMAC key: " << account.status().message() << "\n";
}

TEST_F(AcmePebbleTest, UnknownEabKeyIdIsRefusedWithAClearError) {
  StartPebble();
  NewAccountOptions options = EabOptions();
  options.eab_kid = "no-such-kid";
  auto account = NewClient(*account_key_)->CreateAccount(options);
  EXPECT_THAT(account, StatusIs(absl::StatusCode::kPermissionDenied,
                                AllOf(HasSubstr("unauthorized"), HasSubstr("no-such-kid"))));
}

TEST_F(AcmePebbleTest, RegistrationWithoutEabIsRefusedBecauseTheCaRequiresIt) {
  StartPebble();
  NewAccountOptions options;
  options.terms_of_service_agreed = true;
  EXPECT_THAT(NewClient(*account_key_)->RegisterAccount(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("this CA requires External Account Binding; run `acme-signer "
                                 "init` with --eab-kid and --eab-hmac-key-file")));
}

TEST_F(AcmePebbleTest, IssuesWithHttp01AndTheChainVerifiesAgainstPebblesRoot) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  counting_->Reset();
  auto issued = Issue(*client, {"http01.acme-signer.test", "www.http01.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectValidCertificate(*issued, {"http01.acme-signer.test", "www.http01.acme-signer.test"});
  EXPECT_EQ(issued->certificate.challenges_answered, 2);
  EXPECT_GE(responder_->challenge_responses_served(), 2);
}

// Prints the exact request sequence of registration plus one single-name issuance from a cold
// client (the numbers in docs/acme.md come from here).
TEST_F(AcmePebbleTest, CountsTheRequestsOfOneIssuance) {
  StartPebble();
  auto client = NewClient(*account_key_);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RegisterAccount(EabOptions()).ok());
  const size_t registration = counting_->log().size();
  Http01Solver solver(*responder_);
  auto issued = Issue(*client, {"count.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectValidCertificate(*issued, {"count.acme-signer.test"});
  const auto log = counting_->log();
  std::cout << "HTTP requests: registration " << registration << ", one 1-name http-01 issuance "
            << log.size() - registration << ", total " << log.size() << "\n";
  for (const auto& entry : log) {
    std::cout << "  " << MethodName(entry.method) << " " << entry.url << " -> " << entry.status
              << "\n";
  }
  // directory, newNonce, lookup, newAccount; then at least newOrder, authz, challenge, authz
  // poll, order, finalize, certificate. Never a second newNonce: every response refills the
  // pool.
  EXPECT_EQ(registration, 4u);
  EXPECT_GE(log.size() - registration, 7u);
  size_t heads = 0;
  for (const auto& entry : log) heads += entry.method == http::HttpMethod::kHead;
  EXPECT_EQ(heads, 1u);
}

TEST_F(AcmePebbleTest, IssuesAWildcardWithDns01ThroughChalltestsrv) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Dns01Solver solver(*env_);
  auto issued = Issue(*client, {"dns01.acme-signer.test", "*.dns01.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectValidCertificate(*issued, {"dns01.acme-signer.test", "*.dns01.acme-signer.test"});
}

TEST_F(AcmePebbleTest, IssuanceSucceedsWhenHalfOfAllNoncesAreRejected) {
  StartPebble({{"PEBBLE_WFE_NONCEREJECT", "50"}});
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  auto issued = Issue(*client, {"nonces.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectValidCertificate(*issued, {"nonces.acme-signer.test"});
}

TEST_F(AcmePebbleTest, ReusedValidAuthorizationsAreSkipped) {
  StartPebble({{"PEBBLE_WFE_NONCEREJECT", "0"}, {"PEBBLE_AUTHZREUSE", "100"}});
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  auto first = Issue(*client, {"reuse.acme-signer.test"}, solver);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->certificate.challenges_answered, 1);
  auto second = Issue(*client, {"reuse.acme-signer.test"}, solver);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->certificate.authorizations_already_valid, 1);
  EXPECT_EQ(second->certificate.challenges_answered, 0);
  ExpectValidCertificate(*second, {"reuse.acme-signer.test"});
}

TEST_F(AcmePebbleTest, RevokesByAccountAndByCertificateKey) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  auto first = Issue(*client, {"revoke1.acme-signer.test"}, solver);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Issue(*client, {"revoke2.acme-signer.test"}, solver);
  ASSERT_TRUE(second.ok()) << second.status();

  const std::string& first_der = first->leaf_der;
  EXPECT_TRUE(client->Revoke(first_der, RevocationReason::kSuperseded).ok());
  EXPECT_THAT(client->Revoke(first_der, RevocationReason::kSuperseded),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("alreadyRevoked")));

  // Revocation signed by the certificate's own key (jwk form), as after a key compromise.
  auto stranger = NewClient(*NewAccountKey());
  ASSERT_NE(stranger, nullptr);
  absl::Status by_key = stranger->RevokeWithCertificateKey(
      second->leaf_der, RevocationReason::kKeyCompromise, *second->key);
  EXPECT_TRUE(by_key.ok()) << by_key;
}

TEST_F(AcmePebbleTest, ARefusedNameReachesTheCallerAsTheCasProblemDocument) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  NewOrderOptions order;
  order.identifiers = {Identifier::Dns("bad!name.acme-signer.test")};
  auto created = client->CreateOrder(order);
  ASSERT_FALSE(created.ok());
  std::cout << "refused name: " << created.status().message() << "\n";
  EXPECT_THAT(created, StatusIs(absl::StatusCode::kInvalidArgument,
                                AllOf(HasSubstr("creating an order for bad!name.acme-signer.test"),
                                      HasSubstr("illegal character"))));
  std::optional<Problem> problem = GetProblem(created.status());
  ASSERT_TRUE(problem.has_value());
  EXPECT_THAT(problem->type, ::testing::StartsWith("urn:ietf:params:acme:error:"));
  EXPECT_EQ(problem->status, 400);
  EXPECT_THAT(problem->raw_json, HasSubstr("illegal character"));
}

TEST_F(AcmePebbleTest, AccountKeyRolloverKeepsTheAccount) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  const std::string url = client->account_url();
  std::unique_ptr<hsm::JwsSigner> new_key = NewAccountKey();
  ASSERT_NE(new_key, nullptr);
  ASSERT_TRUE(client->ChangeAccountKey(*new_key).ok());
  // The new key finds the same account; the old one no longer does.
  auto found = NewClient(*new_key)->FindAccount();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->url, url);
  EXPECT_THAT(NewClient(*account_key_)->FindAccount(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("accountDoesNotExist")));
  // And orders keep working with the client that rolled over.
  NewOrderOptions order;
  order.identifiers = {Identifier::Dns("rollover.acme-signer.test")};
  EXPECT_TRUE(client->CreateOrder(order).ok());
}

TEST_F(AcmePebbleTest, DownloadsAlternateChainsAndSelectsThePreferredIssuer) {
  StartPebble({{"PEBBLE_WFE_NONCEREJECT", "0"}, {"PEBBLE_ALTERNATE_ROOTS", "1"}});
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  auto issued = Issue(*client, {"chains.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  auto order = client->GetOrder(issued->certificate.order_url);
  ASSERT_TRUE(order.ok()) << order.status();
  auto download = client->GetCertificate(order->value.certificate);
  ASSERT_TRUE(download.ok()) << download.status();
  const auto& chains = download->chains;
  ASSERT_EQ(chains.size(), 2u);
  EXPECT_NE(chains[0].issuer_common_name, chains[1].issuer_common_name);
  EXPECT_EQ(chains[0].leaf_der, chains[1].leaf_der);
  EXPECT_EQ(SelectChain(chains, chains[1].issuer_common_name), 1u);
  // Without a preference the flow keeps the default chain, which verifies against root 0
  // (ExpectValidCertificate fetches /roots/0).
  EXPECT_EQ(issued->certificate.pem_chain, chains[0].pem_chain);
  ExpectValidCertificate(*issued, {"chains.acme-signer.test"});
  // With one, the backend downloads the alternates and picks the preferred issuer's.
  auto preferred = Backend(*client)->Download(
      agent::OrderView{issued->certificate.order_url, OrderStatus::kValid, std::nullopt, 1},
      chains[1].issuer_common_name);
  ASSERT_TRUE(preferred.ok()) << preferred.status();
  EXPECT_EQ(preferred->pem_chain, chains[1].pem_chain);
}

TEST_F(AcmePebbleTest, RenewalInfoIsUnavailableBecausePebbleHasNoAri) {
  StartPebble();
  auto client = RegisteredClient();
  ASSERT_NE(client, nullptr);
  Http01Solver solver(*responder_);
  auto issued = Issue(*client, {"ari.acme-signer.test"}, solver);
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_THAT(
      client->GetRenewalInfo(issued->leaf_der),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not offer renewalInfo")));
}

}  // namespace
}  // namespace acme_signer::acme
