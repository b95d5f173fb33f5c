#include "common/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/files_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FilesTest, AtomicWriteCreatesFileWithRequestedModeAndContent) {
  const std::string path = dir_ + "/key.pem";
  ASSERT_TRUE(WriteFileAtomically(path, "secret-bytes", 0600).ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(*content, "secret-bytes");
}

TEST_F(FilesTest, AtomicWriteReplacesExistingFileAndLeavesNoTemporaries) {
  const std::string path = dir_ + "/cert.pem";
  ASSERT_TRUE(WriteFileAtomically(path, "one", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two", 0644).ok());
  EXPECT_EQ(*ReadFile(path), "two");
  EXPECT_EQ(std::system(("test $(ls " + dir_ + " | wc -l) -eq 1").c_str()), 0);
}

TEST_F(FilesTest, AtomicWriteIntoMissingDirectoryFailsNamingTheDirectory) {
  auto status = WriteFileAtomically(dir_ + "/missing/x", "data", 0600);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir_ + "/missing"));
}

TEST_F(FilesTest, ReadFileRefusesFilesOverTheLimit) {
  const std::string path = dir_ + "/big";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(100, 'x'), 0600).ok());
  auto content = ReadFile(path, 10);
  EXPECT_EQ(content.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(content.status().message()), HasSubstr("larger than the limit"));
}

TEST_F(FilesTest, ReadFileReportsMissingFileAsNotFound) {
  auto content = ReadFile(dir_ + "/nope");
  EXPECT_EQ(content.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FilesTest, ReadSecretFileStripsOneNewlineAndNeverEchoesContent) {
  const std::string path = dir_ + "/pin";
  ASSERT_TRUE(WriteFileAtomically(path, "1234\n", 0600).ok());
  auto pin = ReadSecretFile(path);
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->reveal(), "1234");

  ASSERT_TRUE(WriteFileAtomically(path, "\n", 0600).ok());
  auto empty = ReadSecretFile(path);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("is empty"));
}

TEST_F(FilesTest, ReadSecretFileRefusesDirectories) {
  auto secret = ReadSecretFile(dir_);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(secret.status().message()), Not(HasSubstr("1234")));
}

}  // namespace
}  // namespace acme_signer
