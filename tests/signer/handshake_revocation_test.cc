#include "signer/handshake_revocation.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/files.h"
#include "common/ssl_unique_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/agent_identity.h"
#include "signer/config.h"
#include "signer/config_holder.h"
#include "signer/handshake_failures.h"
#include "signer/refusal_budget.h"
#include "signer/state_store.h"

namespace acme_signer::signer {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// A self-signed P-256 certificate with subjectAltName `san` (OpenSSL syntax), as PEM. The TLS
// layer has verified the chain before the check runs, so the issuer does not matter here.
std::string CertificatePem(const char* san) {
  SslUniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  SslUniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  SslUniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san));
  X509_add_ext(cert.get(), ext.get(), -1);
  X509_sign(cert.get(), key.get(), EVP_sha256());
  SslUniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

constexpr char kConfig[] = R"([server]
tls_cert = "server.pem"
tls_key = "server.key"
agent_ca_cert = "agent-ca.pem"
trust_domain = "dept.example"
REVOKED

[acme]
directory_url = "https://ca.example/dir"

[hsm]
module = "softhsm2"
pin_file = "hsm.pin"

[state]
dir = "state"

[audit]
log = "audit.log"
)";

class HandshakeRevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    web1_pem_ = CertificatePem("URI:spiffe://dept.example/agent/web1");
    absl::StatusOr<std::string> fingerprint = CertificatePemSha256Hex(web1_pem_);
    ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
    web1_fingerprint_ = *fingerprint;
    config_path_ = ::testing::TempDir() + "/handshake_revocation_test.toml";
    ASSERT_TRUE(WriteConfig({}).ok());
    absl::StatusOr<SignerConfig> config = LoadSignerConfig(config_path_);
    ASSERT_TRUE(config.ok()) << config.status();
    holder_ = std::make_unique<ConfigHolder>(*config);
    refusals_ = std::make_unique<RefusalBudget>(
        RefusalBudget::Options(), [this](const AuditRecord& r) {
          written_.push_back(r);
          return absl::OkStatus();
        });
  }

  absl::Status WriteConfig(const std::vector<std::string>& revoked) {
    std::string list;
    for (const std::string& fp : revoked) absl::StrAppend(&list, list.empty() ? "" : ", ", "\"", fp, "\"");
    return WriteFileAtomically(
        config_path_,
        absl::StrReplaceAll(kConfig, {{"REVOKED", absl::StrCat("revoked_agent_certs = [", list, "]")}}),
        0600);
  }

  std::string web1_pem_;
  std::string web1_fingerprint_;
  std::string config_path_;
  std::unique_ptr<ConfigHolder> holder_;
  std::vector<AuditRecord> written_;
  std::unique_ptr<RefusalBudget> refusals_;
};

TEST_F(HandshakeRevocationTest, ACertificateNotOnTheListPassesWithoutARecord) {
  RevokedCertificateCheck check(holder_.get(), refusals_.get());
  EXPECT_TRUE(check.Check(web1_pem_).ok());
  EXPECT_TRUE(written_.empty());
}

TEST_F(HandshakeRevocationTest, TheListIsReadFromTheReloadedConfigAtEveryHandshake) {
  RevokedCertificateCheck check(holder_.get(), refusals_.get());
  ASSERT_TRUE(check.Check(web1_pem_).ok());
  ASSERT_TRUE(WriteConfig({web1_fingerprint_}).ok());
  ASSERT_TRUE(holder_->Reload(config_path_).ok());

  absl::Status refused = check.Check(web1_pem_);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.message(),
              HasSubstr(absl::StrCat("client certificate ", web1_fingerprint_,
                                     " of agent web1 is revoked")));
  ASSERT_THAT(written_, SizeIs(1));
  EXPECT_EQ(written_[0].rpc, kHandshakeRpcName);
  EXPECT_EQ(written_[0].agent, "web1");
  EXPECT_EQ(written_[0].client_cert_sha256, web1_fingerprint_);
  EXPECT_EQ(written_[0].decision, AuditDecision::kDeny);

  // Repeated attempts are folded, and all of them are written by Close.
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(check.Check(web1_pem_).ok());
  EXPECT_THAT(written_, SizeIs(1));
  ASSERT_TRUE(refusals_->Close().ok());
  ASSERT_THAT(written_, SizeIs(2));
  EXPECT_EQ(written_[1].repeated.count, 9u);

  ASSERT_TRUE(WriteConfig({}).ok());
  ASSERT_TRUE(holder_->Reload(config_path_).ok());
  EXPECT_TRUE(check.Check(web1_pem_).ok());
}

TEST_F(HandshakeRevocationTest, ARevokedCertificateNamingNoAgentIsRefusedByItsFingerprint) {
  const std::string pem = CertificatePem("DNS:host.dept.example");
  absl::StatusOr<std::string> fingerprint = CertificatePemSha256Hex(pem);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  ASSERT_TRUE(WriteConfig({*fingerprint}).ok());
  ASSERT_TRUE(holder_->Reload(config_path_).ok());
  RevokedCertificateCheck check(holder_.get(), refusals_.get());
  EXPECT_EQ(check.Check(pem).code(), absl::StatusCode::kPermissionDenied);
  ASSERT_THAT(written_, SizeIs(1));
  EXPECT_EQ(written_[0].agent, "");
  EXPECT_EQ(written_[0].client_cert_sha256, *fingerprint);
}

TEST_F(HandshakeRevocationTest, FingerprintIsTheSameAsTheCallPathUses) {
  absl::StatusOr<PeerAgent> agent = IdentifyPeerAgentPem(web1_pem_, "dept.example");
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_EQ(agent->cert_sha256_hex, web1_fingerprint_);
  EXPECT_EQ(CertificatePemSha256Hex("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// `acme-signer agents revoke` marks certificates revoked in the state store; the check consults
// the set last loaded by RefreshFromStore (serve: at start and on every SIGHUP) besides the
// config's list, for the handshake and (IsRevoked) for every call.
TEST_F(HandshakeRevocationTest, TheStoresRevokedCertificatesAreRefusedOnceRefreshed) {
  const std::string db = ::testing::TempDir() + "/handshake_revocation_store.db";
  ::unlink(db.c_str());
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(db);
  ASSERT_TRUE(store.ok()) << store.status();
  AgentCertificateRecord cert;
  cert.sha256 = web1_fingerprint_;
  cert.agent = "web1";
  cert.serial = "07";
  cert.not_before = absl::Now() - absl::Hours(1);
  cert.not_after = absl::Now() + absl::Hours(1);
  cert.issued_at = absl::Now();
  cert.source = "enroll-agent";
  ASSERT_TRUE((*store)->RecordAgentCertificate(cert).ok());

  RevokedCertificateCheck check(holder_.get(), refusals_.get());
  absl::StatusOr<size_t> loaded = check.RefreshFromStore(**store);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, 0u);
  EXPECT_TRUE(check.Check(web1_pem_).ok());

  absl::StatusOr<int> revoked = (*store)->RevokeAgentCertificates("web1", absl::Now());
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  ASSERT_EQ(*revoked, 1);
  // Not before the refresh (serve refreshes on SIGHUP, which `agents revoke` sends).
  EXPECT_TRUE(check.Check(web1_pem_).ok());
  loaded = check.RefreshFromStore(**store);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, 1u);
  EXPECT_EQ(check.Check(web1_pem_).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(check.IsRevoked(*holder_->Get(), web1_fingerprint_));
  EXPECT_FALSE(check.IsRevoked(*holder_->Get(), std::string(64, 'a')));
}

// With a trust anchor the check verifies the presented chain itself, so an untrusted
// certificate is reported (subject, identity, fingerprint) and audited under the one shared
// identity of unverified handshakes.
TEST_F(HandshakeRevocationTest, WithATrustAnchorUntrustedCertificatesAreReportedAndAudited) {
  std::vector<std::string> lines;
  HandshakeFailureLog::Options options;
  options.write_line = [&](const std::string& line) { lines.push_back(line); };
  HandshakeFailureLog failures(options, refusals_.get());
  RevokedCertificateCheck check(holder_.get(), refusals_.get());
  check.SetFailureLog(&failures);
  ASSERT_TRUE(check.SetTrustAnchor(web1_pem_).ok());
  EXPECT_TRUE(check.verifies_chain());
  EXPECT_FALSE(check.SetTrustAnchor("no PEM here").ok());

  // The anchor itself verifies.
  EXPECT_TRUE(check.CheckPresented(web1_pem_, web1_pem_).ok());
  EXPECT_TRUE(lines.empty());

  const std::string stranger = CertificatePem("URI:spiffe://dept.example/agent/web2");
  absl::StatusOr<std::string> stranger_fp = CertificatePemSha256Hex(stranger);
  ASSERT_TRUE(stranger_fp.ok());
  absl::Status refused = check.CheckPresented(stranger, stranger);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.message(), HasSubstr("client certificate verify failed"));
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr("acme-signer: TLS handshake refused: client certificate verify "
                                  "failed"));
  EXPECT_THAT(lines[0], HasSubstr("identity spiffe://dept.example/agent/web2"));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat("sha256 ", *stranger_fp)));
  ASSERT_THAT(written_, SizeIs(1));
  EXPECT_EQ(written_[0].rpc, kHandshakeRpcName);
  EXPECT_EQ(written_[0].agent, "");
  EXPECT_EQ(written_[0].client_cert_sha256, "");
  EXPECT_THAT(written_[0].reason, HasSubstr(*stranger_fp));

  // The same client again within the interval: no new line, folded in the audit.
  EXPECT_FALSE(check.CheckPresented(stranger, "").ok());
  EXPECT_THAT(lines, SizeIs(1));
  EXPECT_THAT(written_, SizeIs(1));

  // A revoked certificate that verifies is audited under its agent, as before.
  ASSERT_TRUE(WriteConfig({web1_fingerprint_}).ok());
  ASSERT_TRUE(holder_->Reload(config_path_).ok());
  EXPECT_EQ(check.CheckPresented(web1_pem_, "").code(), absl::StatusCode::kPermissionDenied);
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[1], HasSubstr("of agent web1 is revoked"));
  ASSERT_THAT(written_, SizeIs(2));
  EXPECT_EQ(written_[1].agent, "web1");
  EXPECT_EQ(written_[1].client_cert_sha256, web1_fingerprint_);
}

}  // namespace
}  // namespace acme_signer::signer
