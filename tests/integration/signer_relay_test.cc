// End to end: the real acme-signer binary (init, enroll-agent, serve, inventory, audit verify)
// as child processes, agents talking gRPC over mutual TLS, keys in SoftHSM2, certificates from
// Pebble. One SignerLab (tests/testing/signer_lab.h) is shared by the whole suite; tests that
// stop, reload or reconfigure the signer put it back as they found it (TearDown checks).
//
// Not covered here: a CSR carrying the ACME account's public key. A CSR must be signed by the
// private key whose public key it carries, and the account key is non-extractable in the HSM,
// so no agent can build one; the refusal is covered at unit level in
// tests/signer/csr_checks_test.cc.
#include <grpcpp/grpcpp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/relay_issuer.h"
#include "agent/signer_client.h"
#include "agent/standalone_solver.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/certificate_reading.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/test_identities.h"

namespace acme_signer {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

// The agents of this suite: the lab's web1/web2, and web3 with a tiny order budget.
std::vector<testing::LabAgentPolicy> SuiteAgents() {
  std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
  testing::LabAgentPolicy web3;
  web3.name = "web3";
  web3.allowed_names = {"web3.example.test"};
  web3.orders_per_hour = 2;
  agents.push_back(web3);
  return agents;
}

// A certificate obtained through the signer by web1.
struct Issued {
  std::string order_url;
  std::string pem_chain;
  std::string serial;
  std::string key_pem;
};

using testing::DnsSans;
using testing::ParseChain;

// X509_verify_cert of the leaf against `root_pem` with the rest of the chain as untrusted
// intermediates; "" on success, else OpenSSL's reason.
std::string VerifyChain(const std::vector<SslUniquePtr<X509>>& chain, absl::string_view root_pem) {
  std::vector<SslUniquePtr<X509>> roots = ParseChain(root_pem);
  if (roots.empty()) return "root PEM holds no certificate";
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), roots[0].get());
  // The stack borrows the certificates (sk_X509_free, not pop_free).
  struct StackFree {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
  };
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), untrusted.get());
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

// A client identity from a CA the signer never saw, with the URI SAN a real agent has:
// the key is P-256, the CA is self-signed (and named like the real agent CA), the leaf has
// clientAuth.
std::optional<testing::TestIdentity> MakeForeignIdentity(absl::string_view uri) {
  return testing::MakeIdentityFromTestCa(uri, "acme-signer agent CA dept.example", -3600,
                                         24 * 3600);
}

using testing::RawGetAccount;

// The audit records with this rpc, agent and decision whose reason contains `reason_part`.
std::vector<nlohmann::json> Matching(const std::vector<nlohmann::json>& records,
                                     absl::string_view rpc, absl::string_view agent,
                                     absl::string_view decision, absl::string_view reason_part) {
  std::vector<nlohmann::json> out;
  for (const nlohmann::json& r : records) {
    if (r.value("kind", "") != "event") continue;
    if (r.value("rpc", "") != rpc || r.value("agent", "") != agent) continue;
    if (r.value("decision", "") != decision) continue;
    if (!absl::StrContains(r.value("reason", ""), reason_part)) continue;
    out.push_back(r);
  }
  return out;
}

class SignerRelayTest : public testing::SignerLabSuite<SignerRelayTest> {
 public:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = SuiteAgents();
    options.enroll = {"web1", "web2", "web3", "stranger"};
    return options;
  }

 protected:
  static void TearDownTestSuite() {
    SignerLabSuite::TearDownTestSuite();
    delete issued_;
    issued_ = nullptr;
  }

  // Every test leaves the signer running with the suite's policies.
  void TearDown() override {
    if (!lab_started()) return;
    ASSERT_TRUE(lab().RewriteConfig(SuiteAgents()).ok());
    if (!lab().signer_running()) {
      absl::Status started = lab().StartSigner();
      ASSERT_TRUE(started.ok()) << started;
    } else if (reconfigured_) {
      absl::Status reloaded = lab().ReloadSigner();
      ASSERT_TRUE(reloaded.ok()) << reloaded;
    }
  }

  // Issues `names` for `agent_name` through the signer, answering http-01 on Pebble's port.
  static absl::StatusOr<Issued> Issue(absl::string_view agent_name,
                                      const std::vector<std::string>& names) {
    absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client(agent_name);
    if (!client.ok()) return client.status();
    absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, names);
    if (!csr.ok()) return csr.status();
    agent::StandaloneSolver solver("127.0.0.1", lab().http_port());
    agent::RelayIssueOptions options;
    options.domains = names;
    options.csr_der = *csr;
    options.validation_timeout = absl::Minutes(2);
    options.processing_timeout = absl::Minutes(2);
    options.min_poll = absl::Milliseconds(200);
    options.max_poll = absl::Seconds(2);
    absl::StatusOr<agent::IssuedChain> chain = agent::IssueThroughSigner(**client, solver, options);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<Secret> key_pem = key->ToPem();
    if (!key_pem.ok()) return key_pem.status();
    return Issued{chain->order_url, chain->pem_chain, chain->serial,
                  std::string(key_pem->reveal())};
  }

  // web1's certificate for web1.example.test, issued once per suite (the first test that
  // needs it pays for it).
  static const Issued* Web1Certificate() {
    if (issued_ == nullptr) {
      absl::StatusOr<Issued> issued = Issue("web1", {"web1.example.test"});
      EXPECT_TRUE(issued.ok()) << issued.status() << "\nsigner log:\n"
                               << lab().SignerLogTail() << "\n"
                               << lab().pebble().LogTail();
      if (!issued.ok()) return nullptr;
      issued_ = new Issued(*std::move(issued));
    }
    return issued_;
  }

  bool reconfigured_ = false;

  static inline Issued* issued_ = nullptr;
};

TEST_F(SignerRelayTest, IssuesACertificateThatChainsToPebblesRootAndMatchesTheAgentsKey) {
  const Issued* issued = Web1Certificate();
  ASSERT_NE(issued, nullptr);

  std::vector<SslUniquePtr<X509>> chain = ParseChain(issued->pem_chain);
  ASSERT_GE(chain.size(), 2u) << "expected leaf and intermediate:\n" << issued->pem_chain;
  absl::StatusOr<std::string> root = lab().PebbleRootPem();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(VerifyChain(chain, *root), "");
  EXPECT_THAT(DnsSans(chain[0].get()), ElementsAre("web1.example.test"));

  absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::FromPem(Secret(issued->key_pem));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->MatchesCertificate(chain[0].get()));

  // The audit log shows the allowed finalize and the download with the serial.
  std::vector<nlohmann::json> records = AuditRecords();
  EXPECT_FALSE(Matching(records, "FinalizeOrder", "web1", "allow", "").empty());
  bool downloaded = false;
  for (const nlohmann::json& r : Matching(records, "GetCertificate", "web1", "allow", "")) {
    downloaded |= r["outcome"].value("serial", "") == issued->serial;
  }
  EXPECT_TRUE(downloaded) << "no GetCertificate record with serial " << issued->serial;
}

TEST_F(SignerRelayTest, InventoryListsTheIssuedCertificateWithItsAgent) {
  const Issued* issued = Web1Certificate();
  ASSERT_NE(issued, nullptr);
  testing::CommandResult inventory = Run({"inventory", "--config", lab().config_path(), "--json"});
  ASSERT_EQ(inventory.exit_code, 0) << inventory.err;
  nlohmann::json list = nlohmann::json::parse(inventory.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << inventory.out;
  bool found = false;
  for (const nlohmann::json& entry : list) {
    if (entry.value("serial", "") != issued->serial) continue;
    found = true;
    EXPECT_EQ(entry.value("agent", ""), "web1");
    EXPECT_EQ(entry["names"], nlohmann::json::array({"web1.example.test"}));
    EXPECT_EQ(entry.value("order_url", ""), issued->order_url);
    EXPECT_FALSE(entry.value("revoked", true));
  }
  EXPECT_TRUE(found) << "serial " << issued->serial << " not in:\n" << inventory.out;
}

TEST_F(SignerRelayTest, AuditVerifyAcceptsTheLiveLogAndCountsItsRecords) {
  ASSERT_NE(Web1Certificate(), nullptr);
  testing::CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("OK: "));
  // "OK: <n> records in ..." with n = what the log holds.
  std::vector<std::string> words = absl::StrSplit(verify.out, ' ');
  ASSERT_GE(words.size(), 3u);
  uint64_t count = 0;
  ASSERT_TRUE(absl::SimpleAtoi(words[1], &count)) << verify.out;
  EXPECT_EQ(words[2], "records");
  EXPECT_GT(count, 0u);
  // Nothing else talks to the signer meanwhile: the verifier saw every record in the file.
  EXPECT_EQ(count, AuditRecords().size());
}

TEST_F(SignerRelayTest, RawChannelWithTheEnrolledCertificateWorks) {
  // The control for the two handshake tests below: the same channel set-up succeeds with the
  // agent's real identity, so their failures come from the client certificate alone.
  absl::StatusOr<agent::SignerConnection> web1 = lab().Connection("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  absl::StatusOr<std::string> cert = ReadFile(web1->client_cert);
  absl::StatusOr<Secret> key = ReadSecretFile(web1->client_key);
  ASSERT_TRUE(cert.ok() && key.ok());
  grpc::Status status = RawGetAccount(lab(), *cert, std::string(key->reveal()));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
}

// The TlsHandshake deny records after `before` whose reason contains `needle`.
int HandshakeDenials(const std::vector<nlohmann::json>& records, size_t before,
                     absl::string_view needle) {
  int n = 0;
  for (size_t i = before; i < records.size(); ++i) {
    n += records[i].value("rpc", "") == "TlsHandshake" &&
         records[i].value("decision", "") == "deny" &&
         absl::StrContains(records[i].value("reason", ""), needle);
  }
  return n;
}

TEST_F(SignerRelayTest, ClientWithoutCertificateFailsTheHandshakeAndIsAudited) {
  const size_t before = AuditRecords().size();
  grpc::Status status = RawGetAccount(lab(), "", "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // The TLS layer refuses the peer before any handler runs; the signer learns of it from
  // gRPC's log line and audits it (folded; docs/signer.md, "Audit log").
  EXPECT_GE(HandshakeDenials(AuditRecords(), before, "the client sent no certificate"), 1);
}

TEST_F(SignerRelayTest, CertificateFromAnotherCaWithTheRightAgentUriFailsTheHandshake) {
  std::optional<testing::TestIdentity> foreign =
      MakeForeignIdentity(absl::StrCat("spiffe://", lab().trust_domain(), "/agent/web1"));
  ASSERT_TRUE(foreign.has_value());
  const size_t before = AuditRecords().size();
  grpc::Status status = RawGetAccount(lab(), foreign->cert_pem, foreign->key_pem);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // Refused by the signer's verifier and audited, the certificate in the reason.
  EXPECT_GE(HandshakeDenials(AuditRecords(), before, "client certificate verify failed"), 1);
}

TEST_F(SignerRelayTest, EnrolledAgentWithoutPolicyIsDeniedAndAudited) {
  std::unique_ptr<agent::SignerClient> stranger = Client("stranger");
  ASSERT_NE(stranger, nullptr);
  absl::StatusOr<pb::GetAccountResponse> account = stranger->GetAccount();
  EXPECT_EQ(account.status().code(), absl::StatusCode::kPermissionDenied) << account.status();
  EXPECT_THAT(account.status().message(), HasSubstr("stranger is not configured"));
  EXPECT_FALSE(
      Matching(AuditRecords(), "GetAccount", "stranger", "deny", "not configured").empty());
}

TEST_F(SignerRelayTest, NameOutsideThePolicyIsDeniedAndAudited) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::Order> order = web1->CreateOrder({"evil.example.test"}, "");
  EXPECT_EQ(order.status().code(), absl::StatusCode::kPermissionDenied) << order.status();
  EXPECT_THAT(order.status().message(),
              AllOf(HasSubstr("evil.example.test"), HasSubstr("not in its allowed names")));
  std::vector<nlohmann::json> denies =
      Matching(AuditRecords(), "CreateOrder", "web1", "deny", "evil.example.test");
  ASSERT_FALSE(denies.empty());
  EXPECT_EQ(denies.back()["request"]["identifiers"],
            nlohmann::json::array({"dns:evil.example.test"}));
}

TEST_F(SignerRelayTest, WildcardIsDeniedWhenTheAgentMayNotHaveWildcards) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  // "*.web1.example.test" is in web1's allowed_names, but allow_wildcard_certificates is off.
  absl::StatusOr<pb::Order> order = web1->CreateOrder({"*.web1.example.test"}, "");
  EXPECT_EQ(order.status().code(), absl::StatusCode::kPermissionDenied) << order.status();
  EXPECT_THAT(order.status().message(), HasSubstr("wildcard certificates are not allowed"));
  EXPECT_FALSE(Matching(AuditRecords(), "CreateOrder", "web1", "deny",
                        "wildcard certificates are not allowed")
                   .empty());
}

TEST_F(SignerRelayTest, CsrWithANameBeyondTheOrderIsRefusedAtFinalizeAndAudited) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::Order> order = web1->CreateOrder({"web1.example.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status();
  absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
  ASSERT_TRUE(key.ok()) << key.status();
  // Both names are within web1's policy; the second is just not in this order.
  absl::StatusOr<std::string> csr =
      agent::BuildCsrDer(*key, {"web1.example.test", "www.web1.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.status();
  absl::StatusOr<pb::Order> finalized = web1->FinalizeOrder(order->url(), *csr);
  EXPECT_EQ(finalized.status().code(), absl::StatusCode::kPermissionDenied) << finalized.status();
  EXPECT_THAT(finalized.status().message(), AllOf(HasSubstr("www.web1.example.test"),
                                                  HasSubstr("not an identifier of the order")));
  std::vector<nlohmann::json> denies =
      Matching(AuditRecords(), "FinalizeOrder", "web1", "deny", "www.web1.example.test");
  ASSERT_FALSE(denies.empty());
  EXPECT_EQ(denies.back()["request"].value("order_url", ""), order->url());
}

TEST_F(SignerRelayTest, AnotherAgentCannotTouchAnOrderItDidNotCreate) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  std::unique_ptr<agent::SignerClient> web2 = Client("web2");
  ASSERT_NE(web1, nullptr);
  ASSERT_NE(web2, nullptr);
  absl::StatusOr<pb::Order> order = web1->CreateOrder({"web1.example.test"}, "");
  ASSERT_TRUE(order.ok()) << order.status();
  const std::string& url = order->url();

  absl::StatusOr<pb::Order> got = web2->GetOrder(url);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kPermissionDenied) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr("was not created by agent web2"));

  absl::StatusOr<agent::PrivateKey> key = agent::PrivateKey::Generate(agent::KeySpec());
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> csr = agent::BuildCsrDer(*key, {"web1.example.test"});
  ASSERT_TRUE(csr.ok());
  absl::StatusOr<pb::Order> finalized = web2->FinalizeOrder(url, *csr);
  EXPECT_EQ(finalized.status().code(), absl::StatusCode::kPermissionDenied) << finalized.status();

  absl::StatusOr<pb::GetCertificateResponse> cert = web2->GetCertificate(url, "");
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kPermissionDenied) << cert.status();

  if (!order->authorizations().empty() && !order->authorizations(0).challenges().empty()) {
    const std::string challenge = order->authorizations(0).challenges(0).url();
    absl::StatusOr<pb::Challenge> answered = web2->AnswerChallenge(challenge);
    EXPECT_EQ(answered.status().code(), absl::StatusCode::kPermissionDenied) << answered.status();
    EXPECT_FALSE(Matching(AuditRecords(), "AnswerChallenge", "web2", "deny",
                          "does not belong to an order of agent web2")
                     .empty());
  }

  std::vector<nlohmann::json> records = AuditRecords();
  for (absl::string_view rpc : {"GetOrder", "FinalizeOrder", "GetCertificate"}) {
    std::vector<nlohmann::json> denies = Matching(records, rpc, "web2", "deny", url);
    ASSERT_FALSE(denies.empty()) << "no deny record for web2 " << rpc;
    EXPECT_EQ(denies.back()["request"].value("order_url", ""), url);
  }
  // web1 itself may still read its order.
  EXPECT_TRUE(web1->GetOrder(url).ok());
}

TEST_F(SignerRelayTest, OrdersBeyondTheHourlyBudgetAreRefusedAndAudited) {
  std::unique_ptr<agent::SignerClient> web3 = Client("web3");
  ASSERT_NE(web3, nullptr);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<pb::Order> order = web3->CreateOrder({"web3.example.test"}, "");
    ASSERT_TRUE(order.ok()) << "order " << i + 1 << " of 2: " << order.status();
  }
  absl::StatusOr<pb::Order> third = web3->CreateOrder({"web3.example.test"}, "");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_THAT(third.status().message(), HasSubstr("web3"));
  EXPECT_EQ(Matching(AuditRecords(), "CreateOrder", "web3", "allow", "").size(), 2u);
  EXPECT_EQ(Matching(AuditRecords(), "CreateOrder", "web3", "deny", "").size(), 1u);
}

TEST_F(SignerRelayTest, AuditVerifyNamesTheRecordEditedInACopyOfTheLog) {
  ASSERT_NE(Web1Certificate(), nullptr);
  absl::StatusOr<std::string> log = ReadFile(lab().audit_log_path(), 256 << 20);
  ASSERT_TRUE(log.ok()) << log.status();
  // Only whole lines (the signer may be appending).
  std::string text = log->substr(0, log->rfind('\n') + 1);
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  // Edit the reason of the first event record after the first line.
  size_t edited = 0;
  uint64_t edited_seq = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    nlohmann::json record = nlohmann::json::parse(lines[i], nullptr, false);
    if (record.is_discarded() || record.value("kind", "") != "event") continue;
    const std::string reason = record.value("reason", "");
    ASSERT_FALSE(reason.empty());
    std::string replaced = absl::StrReplaceAll(
        lines[i], {{absl::StrCat("\"reason\":", nlohmann::json(reason).dump()),
                    absl::StrCat("\"reason\":", nlohmann::json(reason + " (edited)").dump())}});
    ASSERT_NE(replaced, lines[i]) << "the reason field was not found verbatim: " << lines[i];
    lines[i] = replaced;
    edited = i + 1;  // 1-based line number
    edited_seq = record.value("seq", uint64_t{0});
    break;
  }
  ASSERT_NE(edited, 0u) << "no event record to edit";
  const std::string copy = absl::StrCat(lab().dir(), "/tampered-audit.log");
  ASSERT_TRUE(WriteFileAtomically(copy, absl::StrCat(absl::StrJoin(lines, "\n"), "\n"), 0600).ok());

  testing::CommandResult verify =
      Run({"audit", "verify", "--config", lab().config_path(), "--log", copy});
  EXPECT_EQ(verify.exit_code, 3) << verify.out << verify.err;
  EXPECT_THAT(verify.out, AllOf(HasSubstr("FAILED"), HasSubstr(absl::StrCat("line ", edited)),
                                HasSubstr(absl::StrCat("seq ", edited_seq))));
}

TEST_F(SignerRelayTest, RestartKeepsTheAccountOrderOwnershipAndInventory) {
  const Issued* issued = Web1Certificate();
  ASSERT_NE(issued, nullptr);
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::GetAccountResponse> before = web1->GetAccount();
  ASSERT_TRUE(before.ok()) << before.status();
  // An idle gRPC client reads the server's GOAWAY only at its next backup poll (5 s); close it
  // so the signer's graceful shutdown does not wait for it.
  web1.reset();

  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << lab().SignerLogTail();
  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;

  web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::GetAccountResponse> after = web1->GetAccount();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->account_url(), before->account_url());
  EXPECT_EQ(after->jwk_thumbprint(), before->jwk_thumbprint());

  absl::StatusOr<pb::Order> order = web1->GetOrder(issued->order_url);
  ASSERT_TRUE(order.ok()) << order.status();
  EXPECT_EQ(order->status(), pb::ORDER_STATUS_VALID);
  std::unique_ptr<agent::SignerClient> web2 = Client("web2");
  ASSERT_NE(web2, nullptr);
  EXPECT_EQ(web2->GetOrder(issued->order_url).status().code(), absl::StatusCode::kPermissionDenied);

  testing::CommandResult inventory =
      Run({"inventory", "--config", lab().config_path(), "--agent", "web1"});
  EXPECT_EQ(inventory.exit_code, 0) << inventory.err;
  EXPECT_THAT(inventory.out, HasSubstr(issued->serial));
}

TEST_F(SignerRelayTest, ReloadWithABrokenConfigIsRefusedAndTheSignerKeepsServing) {
  reconfigured_ = true;
  ASSERT_TRUE(lab().WriteRawConfig("[server]\nlisten = 12\n").ok());
  absl::Status reloaded = lab().ReloadSigner();
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kFailedPrecondition) << reloaded;
  EXPECT_THAT(reloaded.message(), AllOf(HasSubstr("reload refused"), HasSubstr("server.listen")));
  ASSERT_TRUE(lab().signer_running());

  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  absl::StatusOr<pb::GetAccountResponse> account = web1->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();
  // The running policy is unchanged: web2 is still not allowed web1's names.
  std::unique_ptr<agent::SignerClient> web2 = Client("web2");
  ASSERT_NE(web2, nullptr);
  EXPECT_EQ(web2->CreateOrder({"web1.example.test"}, "").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(SignerRelayTest, ReloadThatChangesAStartupSettingIsRefused) {
  reconfigured_ = true;
  // Same file, but another listen address: only a restart could apply that.
  std::string text = lab().ConfigText(SuiteAgents());
  constexpr absl::string_view kListen = "listen = \"127.0.0.1:0\"";
  ASSERT_THAT(text, HasSubstr(kListen));
  text = absl::StrReplaceAll(text, {{kListen, "listen = \"127.0.0.1:1\""}});
  ASSERT_TRUE(lab().WriteRawConfig(text).ok());
  absl::Status reloaded = lab().ReloadSigner();
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kFailedPrecondition) << reloaded;
  EXPECT_THAT(reloaded.message(), HasSubstr("server.listen changed"));
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_TRUE(web1->GetAccount().ok());
}

TEST_F(SignerRelayTest, ReloadWithAChangedPolicyAllowsTheNewName) {
  reconfigured_ = true;
  std::unique_ptr<agent::SignerClient> web2 = Client("web2");
  ASSERT_NE(web2, nullptr);
  absl::StatusOr<pb::Order> denied = web2->CreateOrder({"new.web2.example.test"}, "");
  ASSERT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();

  std::vector<testing::LabAgentPolicy> agents = SuiteAgents();
  for (testing::LabAgentPolicy& agent : agents) {
    if (agent.name == "web2") agent.allowed_names.push_back("new.web2.example.test");
  }
  ASSERT_TRUE(lab().RewriteConfig(agents).ok());
  absl::Status reloaded = lab().ReloadSigner();
  ASSERT_TRUE(reloaded.ok()) << reloaded;

  absl::StatusOr<pb::Order> allowed = web2->CreateOrder({"new.web2.example.test"}, "");
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->status(), pb::ORDER_STATUS_PENDING);
  EXPECT_FALSE(Matching(AuditRecords(), "CreateOrder", "web2", "allow", "").empty());
}

TEST_F(SignerRelayTest, SigtermDrainsExitsZeroAndLeavesASignedCheckpointLast) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  ASSERT_TRUE(web1->GetAccount().ok());  // at least one event since the last checkpoint
  web1.reset();                          // see RestartKeepsTheAccountOrderOwnershipAndInventory

  absl::StatusOr<int> stopped = lab().StopSigner();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 0) << lab().SignerLogTail();
  EXPECT_THAT(lab().SignerLogTail(), HasSubstr("SIGTERM: draining in-flight calls"));

  std::vector<nlohmann::json> records = AuditRecords();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().value("kind", ""), "checkpoint") << records.back().dump();
  EXPECT_TRUE(records.back().contains("signature")) << records.back().dump();

  testing::CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("0 records after the last checkpoint"));
  // TearDown starts the signer again.
}

TEST_F(SignerRelayTest, SignerKilledMidRunRestartsAndItsAuditLogStillVerifies) {
  std::unique_ptr<agent::SignerClient> web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  ASSERT_TRUE(web1->GetAccount().ok());  // an event after the last checkpoint
  web1.reset();
  absl::StatusOr<int> killed = lab().StopSigner(/*kill=*/true);
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 128 + SIGKILL);
  // No shutdown checkpoint was written: the log ends with the unsigned event.
  std::vector<nlohmann::json> records = AuditRecords();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().value("kind", ""), "event");

  absl::Status started = lab().StartSigner();
  ASSERT_TRUE(started.ok()) << started;
  // The new run first seals what the killed one left unsigned.
  std::vector<nlohmann::json> after = AuditRecords();
  ASSERT_GT(after.size(), records.size());
  EXPECT_EQ(after[records.size()].value("kind", ""), "checkpoint") << after[records.size()].dump();
  web1 = Client("web1");
  ASSERT_NE(web1, nullptr);
  EXPECT_TRUE(web1->GetAccount().ok());
  testing::CommandResult verify = Run({"audit", "verify", "--config", lab().config_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace acme_signer
