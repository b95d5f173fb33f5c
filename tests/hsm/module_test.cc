#include "hsm/module.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"
#include "tests/testing/softhsm_token.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The library path p11-kit has registered for SoftHSM2 ("module: /usr/lib/.../libsofthsm2.so").
std::string SoftHsmLibraryPath() {
  auto config = ReadFile("/usr/share/p11-kit/modules/softhsm2.module");
  if (!config.ok()) return "";
  for (absl::string_view line : absl::StrSplit(*config, '\n')) {
    if (absl::ConsumePrefix(&line, "module:")) {
      return std::string(absl::StripAsciiWhitespace(line));
    }
  }
  return "";
}

TEST(ModuleTest, LoadsSoftHsmByP11KitNameAndSeesItsTokens) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  ASSERT_TRUE(acme_signer::testing::CreateSoftHsmToken("module-by-name").ok());
  auto module = Module::Load("softhsm2");
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_EQ((*module)->name(), "softhsm2");
  auto slots = (*module)->SlotsWithToken();
  ASSERT_TRUE(slots.ok()) << slots.status();
  EXPECT_THAT(*slots, Not(IsEmpty()));
}

TEST(ModuleTest, LoadReturnsTheLiveInstanceSoTheModuleIsInitializedOnce) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  auto first = Module::Load("softhsm2");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Module::Load("softhsm2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->get(), second->get());
}

TEST(ModuleTest, LoadsByLibraryPath) {
  ACME_SIGNER_REQUIRE_SOFTHSM();
  const std::string path = SoftHsmLibraryPath();
  ASSERT_FALSE(path.empty());
  auto module = Module::Load(path);
  ASSERT_TRUE(module.ok()) << module.status();
  CK_INFO info;
  ASSERT_EQ((*module)->functions()->C_GetInfo(&info), CKR_OK);
  EXPECT_TRUE(absl::StartsWith(
      absl::string_view(reinterpret_cast<const char*>(info.manufacturerID), 7), "SoftHSM"));
}

TEST(ModuleTest, UnknownModuleNameIsNotFoundAndListsRegisteredModules) {
  EXPECT_THAT(Module::Load("no-such-hsm"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("no p11-kit module named 'no-such-hsm'"),
                             HasSubstr("registered:"))));
}

TEST(ModuleTest, MissingLibraryPathIsNotFound) {
  EXPECT_THAT(Module::Load("/nonexistent/libpkcs11.so"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/libpkcs11.so")));
}

TEST(ModuleTest, EmptyNameIsInvalidArgument) {
  EXPECT_THAT(Module::Load(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace acme_signer::hsm
