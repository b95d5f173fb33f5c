// agent/identity.h: the agent's own certificate's renewal and warning times, the exit-2
// messages for an expired or not yet valid certificate, and the key + certificate swap with
// its crash recovery, on real files in a temp dir.
#include "agent/identity.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/commands.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Pair {
  std::string key_pem;
  std::string cert_pem;
};

// A fresh P-256 key and a certificate for it from `ca`, valid [not_before, not_after].
Pair MakePair(const testing::TestCa& ca, absl::Time not_before, absl::Time not_after,
              long serial) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeySpec());
  EXPECT_TRUE(key.ok());
  absl::StatusOr<Secret> pem = key->ToPem();
  EXPECT_TRUE(pem.ok());
  return Pair{std::string(pem->reveal()), ca.Issue(key->get(), {}, not_before, not_after, serial)};
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    config_.source = absl::StrCat(dir_.path(), "/agent.toml");
    config_.signer.address = "signer.example:8443";
    config_.identity.trust_domain = "dept.example";
    config_.identity.name = "web7";
    config_.identity.key = absl::StrCat(dir_.path(), "/agent.key");
    config_.identity.cert = absl::StrCat(dir_.path(), "/agent.pem");
  }

  void Install(const Pair& pair) {
    ASSERT_TRUE(WriteFileAtomically(config_.identity.key, pair.key_pem, 0600).ok());
    ASSERT_TRUE(WriteFileAtomically(config_.identity.cert, pair.cert_pem, 0644).ok());
  }

  std::string Read(const std::string& path) { return ReadFile(path).value_or("<absent>"); }

  testing::TempDir dir_;
  testing::TestCa ca_;
  AgentConfig config_;
};

TEST_F(IdentityTest, RenewsAtTwoThirdsAndWarnsInTheLastSixth) {
  const absl::Time start = absl::FromUnixSeconds(1'800'000'000);
  Install(MakePair(ca_, start, start + absl::Hours(24 * 30), 1));
  absl::StatusOr<IdentityCertificate> cert = ReadIdentityCertificate(config_);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(cert->not_before, start);
  EXPECT_EQ(cert->not_after, start + absl::Hours(24 * 30));
  EXPECT_EQ(cert->RenewalTime(), start + absl::Hours(24 * 20));
  EXPECT_EQ(cert->WarningTime(), start + absl::Hours(24 * 25));
  EXPECT_EQ(cert->sha256.size(), 64u);
  EXPECT_EQ(cert->path, config_.identity.cert);
}

TEST_F(IdentityTest, AnExpiredCertificateIsAConfigurationProblemWithTheDateAndTheFix) {
  const absl::Time now = absl::Now();
  const absl::Time expired_at = absl::FromUnixSeconds(absl::ToUnixSeconds(now - absl::Hours(2)));
  Install(MakePair(ca_, now - absl::Hours(48), expired_at, 2));
  absl::StatusOr<IdentityCertificate> cert = ReadIdentityCertificate(config_);
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::Status status = CheckIdentityUsable(config_, *cert, now);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(IsConfigProblem(status));
  EXPECT_EQ(ExitCodeFor(status), kExitUsage);
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("this agent's certificate (", config_.identity.cert,
                                     ") expired on ",
                                     absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", expired_at,
                                                      absl::UTCTimeZone()))));
  EXPECT_THAT(status.message(),
              HasSubstr("`acme-signer enroll-agent --config /etc/acme-signer/acme-signer.toml "
                        "--name web7 --token`"));
  // The enrolment listener, not [signer] address (the mTLS port, maybe a list of replicas):
  // the signer prints it with the token.
  EXPECT_THAT(
      status.message(),
      HasSubstr(absl::StrCat("run the `acme-agent enroll` line it prints, with --config ",
                             config_.source, ": `acme-agent enroll --config ", config_.source,
                             " --signer SIGNER:ENROLL_PORT --token TOKEN "
                             "--ca-fingerprint SHA256`")));
  EXPECT_THAT(status.message(), HasSubstr("server.enroll_listen"));
  EXPECT_THAT(status.message(), Not(HasSubstr("signer.example:8443")));

  // Valid now: usable.
  EXPECT_TRUE(CheckIdentityUsable(config_, *cert, now - absl::Hours(3)).ok());
  // Before notBefore: the clock first.
  absl::Status early = CheckIdentityUsable(config_, *cert, now - absl::Hours(49));
  EXPECT_TRUE(IsConfigProblem(early));
  EXPECT_THAT(early.message(), HasSubstr("is not valid until "));
  EXPECT_THAT(early.message(), HasSubstr("check the clock"));
}

TEST_F(IdentityTest, ExpiryWarningFromTheLastSixthUntilExpiryWithTheDateAndTheFix) {
  const absl::Time start = absl::FromUnixSeconds(1'800'000'000);
  Install(MakePair(ca_, start, start + absl::Hours(24 * 30), 4));
  absl::StatusOr<IdentityCertificate> cert = ReadIdentityCertificate(config_);
  ASSERT_TRUE(cert.ok()) << cert.status();
  // Before the last sixth (renewal at two thirds is still expected to work): nothing.
  EXPECT_EQ(IdentityExpiryWarning(config_, *cert, start + absl::Hours(24 * 20)), std::nullopt);
  EXPECT_EQ(IdentityExpiryWarning(config_, *cert, cert->WarningTime() - absl::Seconds(1)),
            std::nullopt);
  std::optional<std::string> warning =
      IdentityExpiryWarning(config_, *cert, cert->WarningTime() + absl::Hours(1));
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(
      *warning,
      HasSubstr(absl::StrCat(
          "this agent's certificate (", config_.identity.cert, ") expires on ",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", cert->not_after, absl::UTCTimeZone()))));
  EXPECT_THAT(*warning, HasSubstr("`acme-agent renew`"));
  EXPECT_THAT(*warning, HasSubstr(EnrolAgainHint(config_, "web7")));
  // Expired: CheckIdentityUsable refuses it instead.
  EXPECT_EQ(IdentityExpiryWarning(config_, *cert, cert->not_after), std::nullopt);
}

TEST_F(IdentityTest, ReplaceInstallsBothFilesAndLeavesNothingBehind) {
  const absl::Time now = absl::Now();
  Install(MakePair(ca_, now - absl::Hours(1), now + absl::Hours(1), 3));
  const Pair next = MakePair(ca_, now, now + absl::Hours(2), 4);
  ASSERT_TRUE(ReplaceIdentityFiles(config_, Secret(next.key_pem), next.cert_pem).ok());
  EXPECT_EQ(Read(config_.identity.key), next.key_pem);
  EXPECT_EQ(Read(config_.identity.cert), next.cert_pem);
  struct stat st{};
  ASSERT_EQ(::stat(config_.identity.key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Read(config_.identity.key + ".new"), "<absent>");
  EXPECT_EQ(Read(config_.identity.cert + ".new"), "<absent>");
  absl::StatusOr<bool> finished = FinishInterruptedIdentityReplacement(config_);
  ASSERT_TRUE(finished.ok());
  EXPECT_FALSE(*finished);
}

TEST_F(IdentityTest, ACrashBetweenTheRenamesIsCompletedBeforeTheIdentityIsUsed) {
  const absl::Time now = absl::Now();
  const Pair old_pair = MakePair(ca_, now - absl::Hours(1), now + absl::Hours(1), 5);
  const Pair new_pair = MakePair(ca_, now, now + absl::Hours(2), 6);
  // The key was renamed into place, the certificate not yet.
  Install(Pair{new_pair.key_pem, old_pair.cert_pem});
  ASSERT_TRUE(
      WriteFileAtomically(config_.identity.cert + ".new", new_pair.cert_pem, 0644).ok());
  absl::StatusOr<bool> finished = FinishInterruptedIdentityReplacement(config_);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_TRUE(*finished);
  EXPECT_EQ(Read(config_.identity.cert), new_pair.cert_pem);
  EXPECT_EQ(Read(config_.identity.key), new_pair.key_pem);
  EXPECT_EQ(Read(config_.identity.cert + ".new"), "<absent>");
}

TEST_F(IdentityTest, ACrashBeforeTheFirstRenameKeepsTheOldPair) {
  const absl::Time now = absl::Now();
  const Pair old_pair = MakePair(ca_, now - absl::Hours(1), now + absl::Hours(1), 7);
  const Pair new_pair = MakePair(ca_, now, now + absl::Hours(2), 8);
  Install(old_pair);
  ASSERT_TRUE(WriteFileAtomically(config_.identity.key + ".new", new_pair.key_pem, 0600).ok());
  ASSERT_TRUE(
      WriteFileAtomically(config_.identity.cert + ".new", new_pair.cert_pem, 0644).ok());
  absl::StatusOr<bool> finished = FinishInterruptedIdentityReplacement(config_);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_FALSE(*finished);
  EXPECT_EQ(Read(config_.identity.key), old_pair.key_pem);
  EXPECT_EQ(Read(config_.identity.cert), old_pair.cert_pem);
  // The next renewal overwrites the leftovers.
  const Pair third = MakePair(ca_, now, now + absl::Hours(3), 9);
  ASSERT_TRUE(ReplaceIdentityFiles(config_, Secret(third.key_pem), third.cert_pem).ok());
  EXPECT_EQ(Read(config_.identity.key), third.key_pem);
  EXPECT_EQ(Read(config_.identity.cert), third.cert_pem);
}

}  // namespace
}  // namespace acme_signer::agent
