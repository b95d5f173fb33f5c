#include "agent/lineage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/private_key.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::IsOkAndHolds;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string ReadLinkText(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class LineageStoreTest : public ::testing::Test {
 protected:
  // A complete version: fresh key and a certificate for it from the test CA.
  LineageFiles MakeFiles(const std::vector<std::string>& names, long serial = 1000,
                         bool with_pfx = false) {
    auto key = PrivateKey::Generate(KeySpec());
    EXPECT_THAT(key, IsOk());
    LineageFiles files;
    files.privkey_pem = *key->ToPem();
    files.cert_pem = ca_.Issue(key->get(), names, absl::Now() - absl::Hours(1),
                               absl::Now() + absl::Hours(24 * 90), serial);
    files.chain_pem = ca_.cert_pem();
    files.fullchain_pem = files.cert_pem + files.chain_pem;
    if (with_pfx) files.pfx = "not really DER, but bytes";
    return files;
  }

  // The live key belongs to the live certificate: what a web server needs at (re)load.
  void ExpectLiveKeyMatchesLiveCert(const std::string& name) {
    LineagePaths p = store_.Paths(name);
    auto key = PrivateKey::Load(p.privkey);
    ASSERT_THAT(key, IsOk());
    auto cert_pem = ReadFile(p.cert);
    ASSERT_THAT(cert_pem, IsOk());
    auto cert = testing::FromPem(*cert_pem);
    EXPECT_TRUE(key->MatchesCertificate(cert.get()))
        << "live key and cert are of different versions";
    auto fullchain = ReadFile(p.fullchain);
    ASSERT_THAT(fullchain, IsOk());
    EXPECT_EQ(fullchain->substr(0, cert_pem->size()), *cert_pem);
  }

  testing::TempDir dir_;
  testing::TestCa ca_;
  LineageStore store_{dir_.path() + "/etc"};
};

TEST_F(LineageStoreTest, FirstInstallCreatesCertbotLayoutWithRelativeLinksAndModes) {
  auto version =
      store_.InstallNewVersion("example.com", MakeFiles({"example.com", "www.example.com"}));
  ASSERT_THAT(version, IsOk());
  EXPECT_EQ(*version, 1);
  const std::string etc = dir_.path() + "/etc";
  for (const char* kind : {"cert", "chain", "fullchain", "privkey"}) {
    const std::string archive = absl::StrCat(etc, "/archive/example.com/", kind, "1.pem");
    EXPECT_EQ(ModeOf(archive), std::string(kind) == "privkey" ? 0600u : 0644u) << archive;
    const std::string live = absl::StrCat(etc, "/live/example.com/", kind, ".pem");
    EXPECT_EQ(ReadLinkText(live), absl::StrCat("../../archive/example.com/", kind, "1.pem"));
  }
  EXPECT_EQ(ModeOf(etc + "/archive"), 0700u);
  EXPECT_EQ(ModeOf(etc + "/live"), 0700u);
  EXPECT_TRUE(Exists(etc + "/live/example.com/README"));
  EXPECT_TRUE(Exists(etc + "/live/README"));
  EXPECT_FALSE(Exists(etc + "/live/example.com/cert.pfx"));
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  auto info = store_.ReadCurrentCertificate("example.com");
  ASSERT_THAT(info, IsOk());
  EXPECT_THAT(info->dns_names, ElementsAre("example.com", "www.example.com"));
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, RenewalSwitchesAllFourFilesTogetherAndKeepsOldArchive) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 2)), IsOk());
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(2));
  for (const char* kind : {"cert", "chain", "fullchain", "privkey"}) {
    EXPECT_EQ(ReadLinkText(absl::StrCat(store_.Paths("example.com").live_dir, "/", kind, ".pem")),
              absl::StrCat("../../archive/example.com/", kind, "2.pem"));
    EXPECT_TRUE(Exists(absl::StrCat(store_.Paths("example.com").archive_dir, "/", kind, "1.pem")));
  }
  ExpectLiveKeyMatchesLiveCert("example.com");
  EXPECT_EQ(store_.ReadCurrentCertificate("example.com")->serial_hex, "02");
}

TEST_F(LineageStoreTest, OnlyTheCurrentAndPreviousLinkDirectoriesAreKept) {
  for (long serial = 1; serial <= 3; ++serial) {
    ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, serial)),
                IsOk());
  }
  const std::string live = dir_.path() + "/etc/live";
  EXPECT_FALSE(Exists(live + "/.example.com.v1"));
  EXPECT_TRUE(Exists(live + "/.example.com.v2"));
  EXPECT_TRUE(Exists(live + "/.example.com.v3"));
  EXPECT_EQ(ReadLinkText(live + "/example.com"), ".example.com.v3");
}

TEST_F(LineageStoreTest, CrashAfterWritingArchiveButBeforeSwitchLeavesPreviousVersionLive) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  // The process "dies" after step 1: the archive has version 2, live/ was never touched.
  auto written = store_.WriteArchiveVersion("example.com", MakeFiles({"example.com"}, 2));
  ASSERT_THAT(written, IsOk());
  EXPECT_EQ(*written, 2);
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  EXPECT_EQ(store_.ReadCurrentCertificate("example.com")->serial_hex, "01");
  ExpectLiveKeyMatchesLiveCert("example.com");
  // The next run never rewrites the orphaned number; it moves on to 3.
  auto next = store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 3));
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(*next, 3);
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, CrashJustBeforeTheSwitchLeavesPreviousVersionLiveAndCanBeFinished) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  LineageStore crashing(dir_.path() + "/etc", {.fault_injector = [](absl::string_view step) {
                          return step == "live:switch" ? absl::AbortedError("killed")
                                                       : absl::OkStatus();
                        }});
  EXPECT_THAT(crashing.InstallNewVersion("example.com", MakeFiles({"example.com"}, 2)),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("killed")));
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  ExpectLiveKeyMatchesLiveCert("example.com");
  ASSERT_THAT(store_.ActivateVersion("example.com", 2), IsOk());
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(2));
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, FailedArchiveWriteLeavesLiveVersionUntouched) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  const std::string before = *ReadFile(store_.Paths("example.com").fullchain);
  LineageStore full_disk(dir_.path() + "/etc", {.fault_injector = [](absl::string_view step) {
                           return step == "archive:fullchain"
                                      ? absl::ResourceExhaustedError("No space left on device")
                                      : absl::OkStatus();
                         }});
  EXPECT_THAT(full_disk.InstallNewVersion("example.com", MakeFiles({"example.com"}, 2)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("No space")));
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  EXPECT_EQ(*ReadFile(store_.Paths("example.com").fullchain), before);
  ExpectLiveKeyMatchesLiveCert("example.com");
  // Nothing of the failed version 2 stays behind (not even its key), so it can neither be
  // activated by mistake nor fill the disk further.
  const std::string archive = store_.Paths("example.com").archive_dir;
  for (const char* file : {"privkey2.pem", "cert2.pem", "chain2.pem", "fullchain2.pem"}) {
    EXPECT_FALSE(Exists(archive + "/" + file)) << file;
  }
  EXPECT_THAT(store_.PendingVersions("example.com"), IsOkAndHolds(std::vector<int>{}));
  EXPECT_THAT(store_.ActivateVersion("example.com", 2),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cert2.pem")));
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  // The next install reuses the number (no file of it exists).
  EXPECT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 3)),
              IsOkAndHolds(2));
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, FailedSwitchRemovesTheLinkDirectoryAndReportsTheSavedVersionAsPending) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  LineageStore read_only_live(
      dir_.path() + "/etc", {.fault_injector = [](absl::string_view step) {
        return step == "live:switch"
                   ? absl::FailedPreconditionError("cannot create symlink: Read-only file system")
                   : absl::OkStatus();
      }});
  EXPECT_THAT(read_only_live.InstallNewVersion("example.com", MakeFiles({"example.com"}, 2)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Read-only")));
  const std::string live = dir_.path() + "/etc/live";
  EXPECT_FALSE(Exists(live + "/.example.com.v2")) << "half-built link directory left in live/";
  EXPECT_FALSE(Exists(live + "/.example.com.next"));
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  ExpectLiveKeyMatchesLiveCert("example.com");
  // Version 2 is complete in the archive: a later run can read it back and finish.
  EXPECT_THAT(store_.PendingVersions("example.com"), IsOkAndHolds(std::vector<int>{2}));
  auto saved = store_.ReadArchiveVersion("example.com", 2);
  ASSERT_THAT(saved, IsOk());
  EXPECT_EQ(ReadCertificateInfo(saved->cert_pem)->serial_hex, "02");
  ASSERT_THAT(store_.ActivateVersion("example.com", 2), IsOk());
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(2));
  EXPECT_THAT(store_.PendingVersions("example.com"), IsOkAndHolds(std::vector<int>{}));
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, IncompletePendingVersionIsNamedAndCanBeDiscardedButTheLiveOneCannot) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1)), IsOk());
  // What a kill in the middle of writing version 2 leaves: the key and nothing else.
  const std::string archive = store_.Paths("example.com").archive_dir;
  ASSERT_THAT(WriteFileAtomically(archive + "/privkey2.pem", "key", 0600), IsOk());
  EXPECT_THAT(store_.PendingVersions("example.com"), IsOkAndHolds(std::vector<int>{2}));
  EXPECT_THAT(store_.ReadArchiveVersion("example.com", 2),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("cert2.pem")));
  EXPECT_THAT(store_.DiscardVersion("example.com", 1),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("live")));
  ASSERT_THAT(store_.DiscardVersion("example.com", 2), IsOk());
  EXPECT_FALSE(Exists(archive + "/privkey2.pem"));
  EXPECT_THAT(store_.PendingVersions("example.com"), IsOkAndHolds(std::vector<int>{}));
  ExpectLiveKeyMatchesLiveCert("example.com");
}

TEST_F(LineageStoreTest, RealIoErrorNamesThePath) {
  const std::string file = dir_.path() + "/not-a-dir";
  ASSERT_THAT(WriteFileAtomically(file, "x", 0644), IsOk());
  LineageStore store(file + "/etc");
  EXPECT_THAT(store.InstallNewVersion("example.com", MakeFiles({"example.com"})),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(file)));
}

TEST_F(LineageStoreTest, ReplacesACertbotMadeLiveDirectoryAtomically) {
  // certbot's layout: live/NAME is a real directory of links into archive version 1.
  const std::string etc = dir_.path() + "/etc";
  LineageFiles v1 = MakeFiles({"example.com"}, 1);
  std::filesystem::create_directories(etc + "/archive/example.com");
  std::filesystem::create_directories(etc + "/live/example.com");
  ASSERT_THAT(
      WriteFileAtomically(etc + "/archive/example.com/privkey1.pem", v1.privkey_pem.reveal(), 0600),
      IsOk());
  ASSERT_THAT(WriteFileAtomically(etc + "/archive/example.com/cert1.pem", v1.cert_pem, 0644),
              IsOk());
  ASSERT_THAT(WriteFileAtomically(etc + "/archive/example.com/chain1.pem", v1.chain_pem, 0644),
              IsOk());
  ASSERT_THAT(
      WriteFileAtomically(etc + "/archive/example.com/fullchain1.pem", v1.fullchain_pem, 0644),
      IsOk());
  for (const char* kind : {"cert", "chain", "fullchain", "privkey"}) {
    ASSERT_EQ(::symlink(absl::StrCat("../../archive/example.com/", kind, "1.pem").c_str(),
                        absl::StrCat(etc, "/live/example.com/", kind, ".pem").c_str()),
              0);
  }
  EXPECT_THAT(store_.CurrentVersion("example.com"), IsOkAndHolds(1));
  auto v2 = store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 2));
  ASSERT_THAT(v2, IsOk());
  EXPECT_EQ(*v2, 2);
  EXPECT_EQ(ReadLinkText(etc + "/live/example.com"), ".example.com.v2");
  EXPECT_EQ(ReadLinkText(etc + "/live/example.com/cert.pem"),
            "../../archive/example.com/cert2.pem");
  ExpectLiveKeyMatchesLiveCert("example.com");
  EXPECT_FALSE(Exists(etc + "/live/.example.com.next"));
}

TEST_F(LineageStoreTest, PfxIsArchivedPrivatelyAndLinked) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 1, true)), IsOk());
  const LineagePaths p = store_.Paths("example.com");
  EXPECT_EQ(ModeOf(p.archive_dir + "/cert1.pfx"), 0600u);
  EXPECT_EQ(ReadLinkText(p.pfx), "../../archive/example.com/cert1.pfx");
  EXPECT_EQ(*ReadFile(p.pfx), "not really DER, but bytes");
}

TEST_F(LineageStoreTest, ListReportsEveryLineageAndMarksBrokenOnes) {
  ASSERT_THAT(store_.InstallNewVersion("b.example", MakeFiles({"b.example"})), IsOk());
  ASSERT_THAT(store_.InstallNewVersion("a.example", MakeFiles({"a.example", "www.a.example"})),
              IsOk());
  ASSERT_THAT(store_.InstallNewVersion("c.example", MakeFiles({"c.example"})), IsOk());
  ASSERT_EQ(::unlink((store_.Paths("c.example").archive_dir + "/chain1.pem").c_str()), 0);
  auto list = store_.List();
  ASSERT_THAT(list, IsOk());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "a.example");
  EXPECT_THAT((*list)[0].status, IsOk());
  EXPECT_EQ((*list)[0].version, 1);
  EXPECT_THAT((*list)[0].certificate.dns_names, ElementsAre("a.example", "www.a.example"));
  EXPECT_GT((*list)[0].certificate.not_after, absl::Now() + absl::Hours(24 * 89));
  EXPECT_EQ((*list)[1].name, "b.example");
  EXPECT_EQ((*list)[2].name, "c.example");
  EXPECT_THAT((*list)[2].status,
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("chain.pem")));
}

TEST_F(LineageStoreTest, EmptyConfigDirListsNothingAndUnknownNameIsNotFound) {
  auto list = store_.List();
  ASSERT_THAT(list, IsOk());
  EXPECT_TRUE(list->empty());
  EXPECT_THAT(store_.CurrentVersion("nothing.example"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nothing.example")));
}

TEST_F(LineageStoreTest, RefusesNamesThatEscapeTheLayout) {
  for (const char* name : {"../etc", ".hidden", "a/b", "", "README"}) {
    EXPECT_THAT(store_.InstallNewVersion(name, MakeFiles({"example.com"})),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_))
        << name;
  }
  EXPECT_FALSE(Exists(dir_.path() + "/etc"));
}

TEST_F(LineageStoreTest, ARecordedRevocationMarksOnlyTheCertificateWithThatSerial) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 0x1234)), IsOk());
  auto before = store_.Get("example.com");
  ASSERT_THAT(before, IsOk());
  EXPECT_FALSE(before->revoked);
  const absl::Time at = absl::FromUnixSeconds(1700000000);
  // Any spelling of the serial: the record is compared by value.
  ASSERT_THAT(store_.RecordRevocation("example.com", {"001234", at, "superseded"}), IsOk());
  ASSERT_THAT(store_.RecordRevocation("example.com", {"1234", at, "superseded"}), IsOk());
  const std::string record = store_.Paths("example.com").archive_dir + "/revoked";
  EXPECT_EQ(*ReadFile(record), "1234 2023-11-14T22:13:20Z superseded\n") << "no duplicates";
  EXPECT_EQ(ModeOf(record), 0644u);
  auto after = store_.Get("example.com");
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->status, IsOk());
  EXPECT_TRUE(after->revoked);
  auto revocations = store_.Revocations("example.com");
  ASSERT_THAT(revocations, IsOk());
  ASSERT_EQ(revocations->size(), 1u);
  EXPECT_EQ((*revocations)[0].serial, "1234");
  EXPECT_EQ((*revocations)[0].time, at);
  EXPECT_EQ((*revocations)[0].reason, "superseded");

  // The record is not a version: the next install is version 2, and it is not revoked.
  EXPECT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"}, 0x5678)),
              IsOkAndHolds(2));
  auto renewed = store_.Get("example.com");
  ASSERT_THAT(renewed, IsOk());
  EXPECT_FALSE(renewed->revoked);
  auto listed = store_.List();
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE((*listed)[0].revoked);
}

TEST_F(LineageStoreTest, AnUnreadableRevocationRecordMarksTheLineageBrokenNamingTheFile) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"})), IsOk());
  const std::string record = store_.Paths("example.com").archive_dir + "/revoked";
  ASSERT_THAT(WriteFileAtomically(record, "zz-not-hex 2023-11-14T22:13:20Z x\n", 0644), IsOk());
  auto info = store_.Get("example.com");
  ASSERT_THAT(info, IsOk());
  EXPECT_THAT(info->status, StatusIs(absl::StatusCode::kFailedPrecondition,
                                     AllOf(HasSubstr(record), HasSubstr("line 1"))));
  EXPECT_THAT(store_.RecordRevocation("example.com", {"12", absl::Now(), "unspecified"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(record)));
}

TEST_F(LineageStoreTest, DeleteRemovesLiveArchiveLinkDirectoriesAndRenewalConfig) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"})), IsOk());
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"})), IsOk());
  ASSERT_THAT(store_.InstallNewVersion("example.com.v", MakeFiles({"example.com"})), IsOk());
  RenewalConfig config;
  config.domains = {"example.com"};
  ASSERT_THAT(store_.WriteRenewalConfig("example.com", config), IsOk());
  ASSERT_THAT(store_.RecordRevocation("example.com", {"1", absl::Now(), "unspecified"}), IsOk());
  const LineagePaths p = store_.Paths("example.com");

  ASSERT_THAT(store_.Delete("example.com"), IsOk());
  EXPECT_FALSE(Exists(p.live_dir));
  EXPECT_FALSE(Exists(p.archive_dir));
  EXPECT_FALSE(Exists(p.renewal_conf));
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path() + "/etc/live")) {
    const std::string file = entry.path().filename().string();
    EXPECT_TRUE(file == "README" || file == "example.com.v" || file == ".example.com.v.v1")
        << file << " left behind";
  }
  EXPECT_THAT(store_.Get("example.com"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  auto other = store_.Get("example.com.v");
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(other->status, IsOk()) << "a lineage whose name extends the deleted one stays";
  EXPECT_THAT(store_.Delete("example.com"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("example.com")));
  EXPECT_THAT(store_.Delete("../etc"), StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(LineageStoreTest, DeleteAlsoRemovesACertbotMadeLiveDirectory) {
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"})), IsOk());
  const LineagePaths p = store_.Paths("example.com");
  ASSERT_EQ(::unlink(p.live_dir.c_str()), 0);
  ASSERT_TRUE(std::filesystem::create_directory(p.live_dir));
  std::filesystem::create_symlink("../../archive/example.com/cert1.pem", p.cert);
  ASSERT_THAT(store_.Delete("example.com"), IsOk());
  EXPECT_FALSE(Exists(p.live_dir));
  EXPECT_FALSE(Exists(p.archive_dir));
}

TEST_F(LineageStoreTest, RenewalConfigRoundTripsThroughTheStore) {
  RenewalConfig config;
  config.version = "0.1.0";
  config.domains = {"example.com", "www.example.com"};
  config.authenticator = Authenticator::kWebroot;
  config.webroot_path = "/var/www/html";
  config.deploy_hook = "systemctl reload nginx";
  config.pfx = true;
  ASSERT_THAT(store_.WriteRenewalConfig("example.com", config), IsOk());
  EXPECT_EQ(ModeOf(store_.Paths("example.com").renewal_conf), 0644u);
  auto back = store_.ReadRenewalConfig("example.com");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->domains, config.domains);
  EXPECT_EQ(back->authenticator, Authenticator::kWebroot);
  EXPECT_EQ(back->deploy_hook, "systemctl reload nginx");
  EXPECT_TRUE(back->pfx);
}

TEST_F(LineageStoreTest, FindByNamesMatchesTheSameSetOfNamesInAnyOrderAndNothingElse) {
  EXPECT_THAT(store_.FindByNames({"example.com"}), IsOkAndHolds(std::nullopt));  // no live/
  ASSERT_THAT(store_.InstallNewVersion("a-first", MakeFiles({"example.com"})), IsOk());
  ASSERT_THAT(store_.InstallNewVersion("web", MakeFiles({"www.example.com", "api.example.com"})),
              IsOk());
  EXPECT_THAT(store_.FindByNames({"api.example.com", "www.example.com"}),
              IsOkAndHolds(std::optional<std::string>("web")));
  EXPECT_THAT(store_.FindByNames({"www.example.com", "api.example.com"}),
              IsOkAndHolds(std::optional<std::string>("web")));
  // A subset or a superset is another certificate.
  EXPECT_THAT(store_.FindByNames({"www.example.com"}), IsOkAndHolds(std::nullopt));
  EXPECT_THAT(store_.FindByNames({"www.example.com", "api.example.com", "new.example.com"}),
              IsOkAndHolds(std::nullopt));
  EXPECT_THAT(store_.FindByNames({"example.com"}),
              IsOkAndHolds(std::optional<std::string>("a-first")));
  // A broken lineage is skipped, not an error.
  ASSERT_THAT(store_.InstallNewVersion("broken", MakeFiles({"broken.example.com"})), IsOk());
  ASSERT_EQ(::unlink((store_.Paths("broken").archive_dir + "/cert1.pem").c_str()), 0);
  EXPECT_THAT(store_.FindByNames({"broken.example.com"}), IsOkAndHolds(std::nullopt));
  EXPECT_THAT(store_.FindByNames({"example.com"}),
              IsOkAndHolds(std::optional<std::string>("a-first")));
}

TEST_F(LineageStoreTest, FindSubsetOfNamesFindsTheLineageThatExpandWouldReplace) {
  EXPECT_THAT(store_.FindSubsetOfNames({"example.com"}), IsOkAndHolds(std::nullopt));
  ASSERT_THAT(store_.InstallNewVersion("web", MakeFiles({"www.example.com", "api.example.com"})),
              IsOk());
  // A proper subset of the requested names.
  EXPECT_THAT(store_.FindSubsetOfNames({"api.example.com", "new.example.com", "www.example.com"}),
              IsOkAndHolds(std::optional<std::string>("web")));
  // The same set, a superset or an overlap is not a subset.
  EXPECT_THAT(store_.FindSubsetOfNames({"www.example.com", "api.example.com"}),
              IsOkAndHolds(std::nullopt));
  EXPECT_THAT(store_.FindSubsetOfNames({"www.example.com"}), IsOkAndHolds(std::nullopt));
  EXPECT_THAT(store_.FindSubsetOfNames({"www.example.com", "new.example.com"}),
              IsOkAndHolds(std::nullopt));
}

TEST_F(LineageStoreTest, UnusedNameIsTheBaseOrCertbotsNextNumberedName) {
  EXPECT_THAT(store_.UnusedName("example.com"), IsOkAndHolds(std::string("example.com")));
  ASSERT_THAT(store_.InstallNewVersion("example.com", MakeFiles({"example.com"})), IsOk());
  EXPECT_THAT(store_.UnusedName("example.com"), IsOkAndHolds(std::string("example.com-0001")));
  ASSERT_THAT(store_.InstallNewVersion("example.com-0001", MakeFiles({"example.com"})), IsOk());
  EXPECT_THAT(store_.UnusedName("example.com"), IsOkAndHolds(std::string("example.com-0002")));
  // A renewal config alone (a lineage whose live/ was removed by hand) also takes the name.
  RenewalConfig config;
  config.domains = {"other.example"};
  config.authenticator = Authenticator::kStandalone;
  ASSERT_THAT(store_.WriteRenewalConfig("other.example", config), IsOk());
  EXPECT_THAT(store_.UnusedName("other.example"), IsOkAndHolds(std::string("other.example-0001")));
  EXPECT_THAT(store_.UnusedName("../x"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace acme_signer::agent
