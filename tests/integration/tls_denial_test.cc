// End to end: who the real acme-signer refuses at the TLS layer and by its certificate deny
// list. One SignerLab (real SoftHSM2, Pebble and `acme-signer serve`) for the suite.
//
// The expired certificate of the REAL agent CA is issued by this test process with the agent
// CA key in the lab's SoftHSM2 token (signer/agent_ca.h with an explicit validity window;
// `acme-signer enroll-agent` cannot backdate), so the only thing wrong with it is its dates
// (checked offline: expired under the lab's CA, valid when time is ignored). The signer fails
// the handshake in certificate verification, and the same identity with a current certificate
// from the same CA is served. The expired certificate from another CA is kept as well: it is
// refused for either reason.
//
// Every refused handshake is logged by the signer once per client and minute, naming the
// certificate's subject and identity when one was sent, and audited (rpc "TlsHandshake",
// folded); no raw gRPC log line reaches its stderr (signer/handshake_failures.h).
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "acmesigner/v1/signer.grpc.pb.h"
#include "agent/csr.h"
#include "agent/private_key.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "common/secret.h"
#include "common/sigpipe_guard.h"
#include "common/ssl_unique_ptr.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hsm/module.h"
#include "hsm/token.h"
#include "nlohmann/json.hpp"
#include "signer/agent_ca.h"
#include "signer/config.h"
#include "tests/testing/signer_lab.h"
#include "tests/testing/signer_lab_suite.h"
#include "tests/testing/test_identities.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::SignerLab;

namespace pb = ::acmesigner::v1;

std::vector<testing::LabAgentPolicy> SuiteAgents() {
  std::vector<testing::LabAgentPolicy> agents = testing::DefaultLabAgents();
  testing::LabAgentPolicy web3;
  web3.name = "web3";
  web3.allowed_names = {"web3.example.test"};
  agents.push_back(web3);
  return agents;
}

using testing::MakeSelfSignedIdentity;
using testing::RawGetAccount;
using Identity = testing::TestIdentity;

// A leaf carrying the agent URI whose validity ended a day ago, from another (test) CA.
std::optional<Identity> MakeExpiredIdentity(absl::string_view uri) {
  return testing::MakeIdentityFromTestCa(uri, "test CA", -10 * 24 * 3600, -24 * 3600);
}

// Lowercase hex SHA-256 of the DER of the first certificate in `pem`; "" when unreadable.
std::string FingerprintOf(absl::string_view pem) {
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &length) != 1) return "";
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

// The outcome of a raw OpenSSL handshake: "" when it completed, else OpenSSL's errors.
std::string Handshake(const SignerLab& lab, const agent::SignerConnection& identity,
                      int max_version) {
  SslUniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return "SSL_CTX_new failed";
  // Security level 0 and min TLS 1.0 so that the client really offers TLS 1.0/1.1 (OpenSSL 3
  // and Debian's openssl.cnf refuse them by default): the refusal must come from the signer.
  SSL_CTX_set_security_level(ctx.get(), 0);
  if (SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0") != 1 ||
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), max_version) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx.get(), identity.client_cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), identity.client_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx.get(), identity.ca_cert.c_str(), nullptr) != 1) {
    return absl::StrCat("client set-up failed: ", ERR_error_string(ERR_get_error(), nullptr));
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));

  const std::string address = lab.signer_address();
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port) || port > 65535) {
    return "bad address";
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return "socket failed";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return "connect failed";
  }
  ScopedSigpipeBlock no_sigpipe;  // the signer refuses by closing the connection
  SslUniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd.get());
  ERR_clear_error();
  if (SSL_connect(ssl.get()) == 1) {
    SSL_shutdown(ssl.get());
    return "";
  }
  std::string errors;
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    absl::StrAppend(&errors, ERR_error_string(e, nullptr), "; ");
  }
  return errors.empty() ? "handshake failed without an OpenSSL error" : errors;
}

// X509_V_OK or the verification error of the certificate in `cert_path` under the lab's
// agent CA, for a TLS client; `check_time` false ignores the validity dates.
int VerifyUnderAgentCa(const SignerLab& lab, const std::string& cert_path, bool check_time) {
  SslUniquePtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr || X509_STORE_load_file(store.get(), lab.agent_ca_path().c_str()) != 1) {
    return -1;
  }
  absl::StatusOr<std::string> pem = ReadFile(cert_path);
  if (!pem.ok()) return -1;
  SslUniquePtr<BIO> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  SslUniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  SslUniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (cert == nullptr || ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return -1;
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (!check_time) X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

// A key and certificate for agent `name` from the lab's REAL agent CA: the CA key is used in
// the lab's SoftHSM2 token, opened by this process (SOFTHSM2_CONF was set by the lab; the
// module is loaded here after the token exists). `validity` unset: the enroll-agent profile
// for one day. The files are written to the lab's directory for raw OpenSSL handshakes.
absl::StatusOr<agent::SignerConnection> IssueFromRealAgentCa(
    const SignerLab& lab, absl::string_view name, absl::string_view file_stem,
    const std::optional<signer::LeafValidity>& validity) {
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Module> module, hsm::Module::Load(testing::kSoftHsmModule));
  ASSIGN_OR_RETURN(std::shared_ptr<hsm::Token> token,
                   hsm::Token::Open(module, lab.token().uri, lab.token().pin_file));
  ASSIGN_OR_RETURN(std::unique_ptr<hsm::JwsSigner> ca_key,
                   token->OpenSigningKey(signer::HsmConfig().agent_ca_key));
  ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(lab.agent_ca_path()));
  ASSIGN_OR_RETURN(agent::PrivateKey key, agent::PrivateKey::Generate(agent::KeySpec()));
  ASSIGN_OR_RETURN(std::string csr, agent::BuildAgentCsrDer(key, lab.trust_domain(), name));
  ASSIGN_OR_RETURN(
      std::string cert_pem,
      validity.has_value()
          ? signer::IssueAgentCertificate(*ca_key, ca_pem, csr, name, lab.trust_domain(), *validity)
          : signer::IssueAgentCertificate(*ca_key, ca_pem, csr, name, lab.trust_domain(), 1));
  ASSIGN_OR_RETURN(Secret key_pem, key.ToPem());
  agent::SignerConnection connection;
  connection.address = lab.signer_address();
  connection.ca_cert = lab.agent_ca_path();
  connection.client_cert = absl::StrCat(lab.dir(), "/", file_stem, ".pem");
  connection.client_key = absl::StrCat(lab.dir(), "/", file_stem, ".key");
  RETURN_IF_ERROR(WriteFileAtomically(connection.client_cert, cert_pem, 0644));
  RETURN_IF_ERROR(WriteFileAtomically(connection.client_key, key_pem.reveal(), 0600));
  return connection;
}

class TlsDenialTest : public testing::SignerLabSuite<TlsDenialTest> {
 protected:
  static SignerLab::Options LabOptions() {
    SignerLab::Options options;
    options.agents = SuiteAgents();
    options.enroll = {"web1", "web3"};
    return options;
  }

  static std::string Web1Uri() {
    return absl::StrCat("spiffe://", lab().trust_domain(), "/agent/web1");
  }
};

// The TlsHandshake deny records after `before` whose reason mentions `needle`.
int HandshakeDenials(const std::vector<nlohmann::json>& records, size_t before,
                     absl::string_view needle) {
  int n = 0;
  for (size_t i = before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    if (r.value("rpc", "") == "TlsHandshake" && r.value("decision", "") == "deny" &&
        absl::StrContains(r.value("reason", ""), needle)) {
      ++n;
    }
  }
  return n;
}

// A line of gRPC's own format ("E1202 04:23:16.469875038 16167 file.cc:1501] ...").
bool HasRawGrpcLine(absl::string_view log) {
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (line.size() > 6 && (line[0] == 'E' || line[0] == 'I' || line[0] == 'D' ||
                            line[0] == 'W') &&
        absl::ascii_isdigit(line[1]) && absl::ascii_isdigit(line[2]) &&
        absl::ascii_isdigit(line[3]) && absl::ascii_isdigit(line[4]) && line[5] == ' ') {
      return true;
    }
    if (absl::StrContains(line, "Handshake failed with fatal error")) return true;
  }
  return false;
}

TEST_F(TlsDenialTest, SelfSignedCertificateWithAnAgentUriFailsTheHandshake) {
  std::optional<Identity> identity = MakeSelfSignedIdentity(Web1Uri());
  ASSERT_TRUE(identity.has_value());
  const size_t before = AuditRecords().size();
  grpc::Status status = RawGetAccount(lab(), identity->cert_pem, identity->key_pem);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  // Audited under the shared identity of unverified handshakes, the certificate in the reason.
  EXPECT_GE(HandshakeDenials(AuditRecords(), before, FingerprintOf(identity->cert_pem)), 1);
}

TEST_F(TlsDenialTest, ExpiredCertificateFromAnotherCaFailsTheHandshake) {
  std::optional<Identity> identity = MakeExpiredIdentity(Web1Uri());
  ASSERT_TRUE(identity.has_value());
  const size_t before = AuditRecords().size();
  grpc::Status status = RawGetAccount(lab(), identity->cert_pem, identity->key_pem);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_GE(HandshakeDenials(AuditRecords(), before, FingerprintOf(identity->cert_pem)), 1);
}

// No raw gRPC lines: an untrusted certificate, an expired one and no certificate at all, each
// tried three times, give one signer log line per client naming what it sent, and audit
// records (folded).
TEST_F(TlsDenialTest, FailedHandshakesAreLoggedOncePerClientWithoutRawGrpcLinesAndAudited) {
  std::optional<Identity> untrusted =
      MakeSelfSignedIdentity(absl::StrCat("spiffe://", lab().trust_domain(), "/agent/intruder"));
  ASSERT_TRUE(untrusted.has_value());
  std::optional<Identity> expired =
      MakeExpiredIdentity(absl::StrCat("spiffe://", lab().trust_domain(), "/agent/old"));
  ASSERT_TRUE(expired.has_value());
  const std::string untrusted_fp = FingerprintOf(untrusted->cert_pem);
  const std::string expired_fp = FingerprintOf(expired->cert_pem);
  const size_t log_before = lab().SignerLog().size();
  const size_t audit_before = AuditRecords().size();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(RawGetAccount(lab(), untrusted->cert_pem, untrusted->key_pem).error_code(),
              grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(RawGetAccount(lab(), expired->cert_pem, expired->key_pem).error_code(),
              grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(RawGetAccount(lab(), "", "").error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  // The log lines are written synchronously with the refusal; give stderr a moment anyway.
  absl::SleepFor(absl::Milliseconds(200));
  const std::string log = lab().SignerLog().substr(log_before);
  EXPECT_FALSE(HasRawGrpcLine(log)) << log;
  auto lines_with = [&](absl::string_view needle) {
    int n = 0;
    for (absl::string_view line : absl::StrSplit(log, '\n')) {
      n += absl::StrContains(line, "acme-signer: TLS handshake refused") &&
           absl::StrContains(line, needle);
    }
    return n;
  };
  EXPECT_EQ(lines_with(untrusted_fp), 1) << log;
  EXPECT_EQ(lines_with("identity spiffe://dept.example/agent/intruder"), 1) << log;
  EXPECT_EQ(lines_with(expired_fp), 1) << log;
  // Another CA's: the chain fails first (the real CA's expired one: see the next test).
  EXPECT_EQ(lines_with("unable to get local issuer certificate"), 1) << log;
  EXPECT_EQ(lines_with("the client sent no certificate"), 1) << log;

  // Audited: the first refusal of each client at once; the repeats folded into one record
  // with their count once the fold window (5 s) has passed. gRPC may retry a handshake, so
  // at least three of each.
  auto refusals = [&](absl::string_view needle) {
    uint64_t n = 0;
    const std::vector<nlohmann::json> records = AuditRecords();
    for (size_t i = audit_before; i < records.size(); ++i) {
      const nlohmann::json& r = records[i];
      if (r.value("rpc", "") != "TlsHandshake" ||
          !absl::StrContains(r.value("reason", ""), needle)) {
        continue;
      }
      n += r.contains("repeated") ? r["repeated"].value("count", uint64_t{0}) : 1;
    }
    return n;
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while ((refusals(untrusted_fp) < 3 || refusals(expired_fp) < 3 ||
          refusals("the client sent no certificate") < 3) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_GE(refusals(untrusted_fp), 3u);
  EXPECT_GE(refusals(expired_fp), 3u);
  EXPECT_GE(refusals("the client sent no certificate"), 3u);
}

TEST_F(TlsDenialTest, ExpiredCertificateFromTheRealAgentCaIsRefusedAsExpired) {
  // Expired an hour ago; otherwise exactly what enroll-agent issues for web1.
  const absl::Time now = absl::Now();
  absl::StatusOr<agent::SignerConnection> expired =
      IssueFromRealAgentCa(lab(), "web1", "web1-expired",
                           signer::LeafValidity{now - absl::Hours(25), now - absl::Hours(1)});
  ASSERT_TRUE(expired.ok()) << expired.status();
  // What is wrong with it is its dates and nothing else: under the lab's agent CA it fails
  // verification as expired, and passes when the time is not checked.
  EXPECT_EQ(VerifyUnderAgentCa(lab(), expired->client_cert, /*check_time=*/true),
            X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(VerifyUnderAgentCa(lab(), expired->client_cert, /*check_time=*/false), X509_V_OK);

  const size_t before = AuditRecords().size();
  const size_t log_before = lab().SignerLog().size();
  // The signer checks the certificate once TLS has finished (its verifier), and closes the
  // connection before any HTTP/2 frame: the client sees the call fail as unavailable.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
      agent::SignerClient::Connect(*expired);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<pb::GetAccountResponse> account = (*client)->GetAccount();
  // gRPC reports UNAVAILABLE; the client probes the handshake itself and reports the refusal
  // of its certificate as the signer's PermissionDenied (agent/signer_tls_check.h).
  EXPECT_EQ(account.status().code(), absl::StatusCode::kPermissionDenied) << account.status();
  EXPECT_THAT(account.status().message(),
              HasSubstr("the signer refused this agent's certificate"));
  // The signer's side says which check refused it: certificate verification, expired.
  EXPECT_THAT(lab().SignerLog().substr(log_before),
              HasSubstr("client certificate verify failed: certificate has expired"));
  // Audited (docs/security.md): the refused handshake, with the certificate in the reason.
  EXPECT_GE(HandshakeDenials(AuditRecords(), before, "certificate has expired"), 1);
}

TEST_F(TlsDenialTest, SameIdentityWithACurrentCertificateFromTheRealAgentCaIsServed) {
  // The control for the test above: same CA key, same profile, same agent, valid dates.
  absl::StatusOr<agent::SignerConnection> current =
      IssueFromRealAgentCa(lab(), "web1", "web1-current", std::nullopt);
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(Handshake(lab(), *current, TLS1_2_VERSION), "");
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client =
      agent::SignerClient::Connect(*current);
  ASSERT_TRUE(client.ok()) << client.status();
  const size_t before = AuditRecords().size();
  absl::StatusOr<pb::GetAccountResponse> account = (*client)->GetAccount();
  ASSERT_TRUE(account.ok()) << account.status();
  absl::StatusOr<std::string> cert_pem = ReadFile(current->client_cert);
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();
  const std::vector<nlohmann::json> records = AuditRecords();
  bool audited = false;
  for (size_t i = before; i < records.size(); ++i) {
    const nlohmann::json& r = records[i];
    audited = audited || (r.value("rpc", "") == "GetAccount" && r.value("agent", "") == "web1" &&
                          r.value("decision", "") == "allow" &&
                          r.value("client_cert_sha256", "") == FingerprintOf(*cert_pem));
  }
  EXPECT_TRUE(audited) << "no GetAccount allow record for web1 with the new certificate";
}

TEST_F(TlsDenialTest, EnrolledAgentCompletesATls12Handshake) {
  // The control for the next test: same client, same certificate, only the version differs.
  absl::StatusOr<agent::SignerConnection> web1 = lab().Connection("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  EXPECT_EQ(Handshake(lab(), *web1, TLS1_2_VERSION), "");
}

TEST_F(TlsDenialTest, ClientOfferingOnlyTls11OrOlderFailsTheHandshake) {
  absl::StatusOr<agent::SignerConnection> web1 = lab().Connection("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  const std::string error = Handshake(lab(), *web1, TLS1_1_VERSION);
  EXPECT_NE(error, "");
  // The signer ended the handshake after the TLS 1.1 ClientHello: gRPC's server closes the
  // connection (OpenSSL sees EOF) or sends a protocol_version alert. A client that could not
  // even offer TLS 1.1 would fail locally with "no protocols available" instead.
  EXPECT_THAT(absl::AsciiStrToLower(error),
              AnyOf(HasSubstr("unexpected eof"), HasSubstr("protocol version")))
      << error;
}

TEST_F(TlsDenialTest, DenyListedCertificateIsRefusedInTheHandshakeAfterReloadAndAudited) {
  absl::StatusOr<agent::SignerConnection> web3 = lab().Connection("web3");
  ASSERT_TRUE(web3.ok()) << web3.status();
  absl::StatusOr<std::string> web3_cert = ReadFile(web3->client_cert);
  ASSERT_TRUE(web3_cert.ok()) << web3_cert.status();
  absl::StatusOr<Secret> web3_key = ReadSecretFile(web3->client_key);
  ASSERT_TRUE(web3_key.ok()) << web3_key.status();
  const std::string fingerprint = FingerprintOf(*web3_cert);
  ASSERT_EQ(fingerprint.size(), 64u);

  // Before: web3 is served.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = lab().Client("web3");
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->GetAccount().ok());

  std::string text = lab().ConfigText(SuiteAgents());
  const size_t server = text.find("[server]\n");
  ASSERT_NE(server, std::string::npos);
  text.insert(server + 9, absl::StrCat("revoked_agent_certs = [\"", fingerprint, "\"]\n"));
  ASSERT_TRUE(lab().WriteRawConfig(text).ok());
  const size_t before = AuditRecords().size();
  absl::Status reloaded = lab().ReloadSigner();
  ASSERT_TRUE(reloaded.ok()) << reloaded;

  // A new connection with the revoked certificate fails its handshake (the list is read from
  // the reloaded config on every handshake): the client sees UNAVAILABLE, no call is made.
  constexpr int kAttempts = 20;
  for (int i = 0; i < kAttempts; ++i) {
    grpc::Status status =
        RawGetAccount(lab(), *web3_cert, std::string(web3_key->reveal()));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  // Each refused handshake is audited, per identity and folded: the first at once, the
  // repeats as one record with "repeated" once the fold window has passed.
  auto handshake_refusals = [&](int* records_seen) {
    uint64_t refusals = 0;
    *records_seen = 0;
    const std::vector<nlohmann::json> records = AuditRecords();
    for (size_t i = before; i < records.size(); ++i) {
      const nlohmann::json& r = records[i];
      if (r.value("kind", "") != "event" || r.value("rpc", "") != "TlsHandshake") continue;
      // Refused handshakes of earlier tests (folded) may be written in between.
      if (r.value("agent", "") != "web3") continue;
      EXPECT_EQ(r.value("decision", ""), "deny") << r.dump();
      EXPECT_EQ(r.value("client_cert_sha256", ""), fingerprint) << r.dump();
      EXPECT_THAT(r.value("reason", ""),
                  HasSubstr(absl::StrCat("client certificate ", fingerprint,
                                         " of agent web3 is revoked (refused in the TLS "
                                         "handshake)")));
      ++*records_seen;
      refusals += r.contains("repeated") ? r["repeated"].value("count", uint64_t{0}) : 1;
    }
    return refusals;
  };
  int records_seen = 0;
  EXPECT_GE(handshake_refusals(&records_seen), 1u);
  EXPECT_LE(records_seen, 2) << "refused handshakes were not folded";
  // gRPC may try the handshake more than once per failed call: at least one per attempt.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  uint64_t refusals = handshake_refusals(&records_seen);
  while (refusals < kAttempts && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(500));
    refusals = handshake_refusals(&records_seen);
  }
  EXPECT_GE(refusals, static_cast<uint64_t>(kAttempts));
  EXPECT_LE(records_seen, 4) << "refused handshakes were not folded";

  // A connection made before the revocation is still open: the per-call check (defence in
  // depth) refuses its calls, audited as before.
  absl::StatusOr<pb::GetAccountResponse> denied = (*client)->GetAccount();
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_THAT(denied.status().message(), HasSubstr(absl::StrCat("client certificate ", fingerprint,
                                                                " of agent web3 is revoked")));
  bool audited = false;
  for (const nlohmann::json& r : AuditRecords()) {
    audited = audited || (r.value("kind", "") == "event" && r.value("rpc", "") == "GetAccount" &&
                          r.value("agent", "") == "web3" && r.value("decision", "") == "deny" &&
                          absl::StrContains(r.value("reason", ""), "revoked") &&
                          r.value("client_cert_sha256", "") == fingerprint);
  }
  EXPECT_TRUE(audited) << "no audit deny record for web3's call naming \"revoked\"";

  // Other agents are unaffected.
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> web1 = lab().Client("web1");
  ASSERT_TRUE(web1.ok()) << web1.status();
  absl::StatusOr<pb::GetAccountResponse> account = (*web1)->GetAccount();
  EXPECT_TRUE(account.ok()) << account.status();

  // Taking the fingerprint off the list and reloading serves web3 again, on new connections.
  ASSERT_TRUE(lab().RewriteConfig(SuiteAgents()).ok());
  reloaded = lab().ReloadSigner();
  ASSERT_TRUE(reloaded.ok()) << reloaded;
  EXPECT_TRUE(RawGetAccount(lab(), *web3_cert, std::string(web3_key->reveal())).ok());
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> again = lab().Client("web3");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->GetAccount().ok());
}

}  // namespace
}  // namespace acme_signer
