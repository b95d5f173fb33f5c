#include "agent/central_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::acme_signer::agent::testing::TempDir;
using ::testing::HasSubstr;

std::string Content(const std::string& path) { return ReadFile(path).value_or("<missing>"); }

unsigned ModeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

TEST(CentralStoreFileNameTest, IsTheHostNameWithAnUnderscoreForAWildcard) {
  EXPECT_EQ(CentralStoreFileName("www.example.com"), "www.example.com.pfx");
  EXPECT_EQ(CentralStoreFileName("*.example.com"), "_.example.com.pfx");
}

TEST(CentralStoreTest, WritesOneFilePerNameWithMode0600) {
  TempDir dir;
  ASSERT_THAT(UpdateCentralStore({}, {dir.path(), {"a.example", "*.a.example"}, "PFX1"}), IsOk());
  EXPECT_EQ(Content(dir.path() + "/a.example.pfx"), "PFX1");
  EXPECT_EQ(Content(dir.path() + "/_.a.example.pfx"), "PFX1");
  EXPECT_EQ(ModeOf(dir.path() + "/a.example.pfx"), 0600u);
  EXPECT_EQ(ModeOf(dir.path() + "/_.a.example.pfx"), 0600u);
}

TEST(CentralStoreTest, RenewalReplacesKeptNamesAndRemovesOnlyItsOwnDroppedOnes) {
  TempDir dir;
  const std::string d = dir.path();
  const CentralStoreCopies v1{d, {"a.example", "b.example", "c.example"}, "PFX1"};
  ASSERT_THAT(UpdateCentralStore({}, v1), IsOk());
  // Someone else (another lineage) has since written c.example.pfx.
  ASSERT_THAT(WriteFileAtomically(d + "/c.example.pfx", "OTHER", 0600), IsOk());
  const CentralStoreCopies v2{d, {"a.example", "new.example"}, "PFX2"};
  ASSERT_THAT(UpdateCentralStore(v1, v2), IsOk());
  EXPECT_EQ(Content(d + "/a.example.pfx"), "PFX2");
  EXPECT_EQ(Content(d + "/new.example.pfx"), "PFX2");
  EXPECT_FALSE(Exists(d + "/b.example.pfx")) << "a name the certificate no longer has";
  EXPECT_EQ(Content(d + "/c.example.pfx"), "OTHER") << "not ours any more: kept";
}

TEST(CentralStoreTest, AMovedDirectoryIsEmptiedOfTheOldCopies) {
  TempDir old_dir, new_dir;
  const CentralStoreCopies before{old_dir.path(), {"a.example"}, "PFX1"};
  ASSERT_THAT(UpdateCentralStore({}, before), IsOk());
  ASSERT_THAT(UpdateCentralStore(before, {new_dir.path(), {"a.example"}, "PFX2"}), IsOk());
  EXPECT_FALSE(Exists(old_dir.path() + "/a.example.pfx"));
  EXPECT_EQ(Content(new_dir.path() + "/a.example.pfx"), "PFX2");
}

TEST(CentralStoreTest, RemoveTakesOnlyFilesThatStillHoldThePfx) {
  TempDir dir;
  const std::string d = dir.path();
  const CentralStoreCopies copies{d, {"a.example", "b.example"}, "PFX1"};
  ASSERT_THAT(UpdateCentralStore({}, copies), IsOk());
  ASSERT_THAT(WriteFileAtomically(d + "/b.example.pfx", "OTHER", 0600), IsOk());
  ASSERT_THAT(RemoveFromCentralStore(copies), IsOk());
  EXPECT_FALSE(Exists(d + "/a.example.pfx"));
  EXPECT_EQ(Content(d + "/b.example.pfx"), "OTHER");
}

TEST(CentralStoreTest, AMissingDirectoryIsRefusedNamingIt) {
  TempDir dir;
  const std::string missing = dir.path() + "/nope";
  EXPECT_THAT(CheckCentralStoreDir(missing),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(missing)));
  EXPECT_THAT(UpdateCentralStore({}, {missing, {"a.example"}, "PFX"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--ccs-dir")));
  ASSERT_THAT(WriteFileAtomically(dir.path() + "/file", "x", 0600), IsOk());
  EXPECT_THAT(CheckCentralStoreDir(dir.path() + "/file"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

}  // namespace
}  // namespace acme_signer::agent
