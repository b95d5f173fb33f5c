#include "agent/account_choice.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"

namespace acme_signer::agent {
namespace {

using ::acme_signer::agent::testing::IsOk;
using ::acme_signer::agent::testing::StatusIs;
using ::testing::HasSubstr;

const std::vector<AccountOption> kUsable = {
    {"rsa-ov", "https://acme.sectigo.com/v2/InCommonRSAOV", true},
    {"ecc-ov", "https://acme.sectigo.com/v2/InCommonECCOV", false},
};

TEST(AccountChoiceTest, NothingGivenChoosesNothing) {
  auto chosen = SelectAccount(kUsable, std::nullopt, std::nullopt);
  ASSERT_THAT(chosen, IsOk());
  EXPECT_FALSE(chosen->has_value());
}

TEST(AccountChoiceTest, ServerSelectsByDirectoryUrlIgnoringATrailingSlash) {
  for (const char* url : {"https://acme.sectigo.com/v2/InCommonECCOV",
                          "https://acme.sectigo.com/v2/InCommonECCOV/"}) {
    auto chosen = SelectAccount(kUsable, std::string(url), std::nullopt);
    ASSERT_THAT(chosen, IsOk());
    ASSERT_TRUE(chosen->has_value());
    EXPECT_EQ((*chosen)->name, "ecc-ov");
    EXPECT_EQ((*chosen)->directory_url, "https://acme.sectigo.com/v2/InCommonECCOV");
  }
}

TEST(AccountChoiceTest, AccountSelectsByName) {
  auto chosen = SelectAccount(kUsable, std::nullopt, std::string("rsa-ov"));
  ASSERT_THAT(chosen, IsOk());
  ASSERT_TRUE(chosen->has_value());
  EXPECT_EQ((*chosen)->directory_url, "https://acme.sectigo.com/v2/InCommonRSAOV");
}

TEST(AccountChoiceTest, UnknownServerListsTheUsableUrlsAndNames) {
  auto chosen = SelectAccount(kUsable, std::string("https://acme.sectigo.com/v2/OV"), std::nullopt);
  EXPECT_THAT(chosen, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("https://acme.sectigo.com/v2/InCommonRSAOV (account "
                                         "rsa-ov, the default), "
                                         "https://acme.sectigo.com/v2/InCommonECCOV (account "
                                         "ecc-ov)")));
  EXPECT_THAT(SelectAccount(kUsable, std::nullopt, std::string("other")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--account other")));
}

TEST(AccountChoiceTest, ServerAndAccountMustAgree) {
  EXPECT_THAT(SelectAccount(kUsable, std::string("https://acme.sectigo.com/v2/InCommonRSAOV"),
                            std::string("ecc-ov")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name different accounts")));
  auto same = SelectAccount(kUsable, std::string("https://acme.sectigo.com/v2/InCommonRSAOV/"),
                            std::string("rsa-ov"));
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ((*same)->name, "rsa-ov");
}

TEST(AccountChoiceTest, SeveralAccountsAtOneDirectoryNeedTheName) {
  const std::vector<AccountOption> departments = {
      {"physics", "https://ca.example/dir", true},
      {"chemistry", "https://ca.example/dir", false},
  };
  EXPECT_THAT(SelectAccount(departments, std::string("https://ca.example/dir"), std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("add --account NAME")));
  auto chosen =
      SelectAccount(departments, std::string("https://ca.example/dir"), std::string("chemistry"));
  ASSERT_THAT(chosen, IsOk());
  EXPECT_EQ((*chosen)->name, "chemistry");
}

TEST(AccountChoiceTest, ASignerWithoutAListHasTheAccountItDescribes) {
  pb::GetAccountResponse response;
  response.set_directory_url("https://ca.example/dir");
  response.set_account("default");
  std::vector<AccountOption> usable = UsableAccounts(response);
  ASSERT_EQ(usable.size(), 1u);
  EXPECT_EQ(usable[0].name, "default");
  EXPECT_TRUE(usable[0].is_default);
  pb::AccountChoice* choice = response.add_accounts();
  choice->set_name("a");
  choice->set_directory_url("https://a.example/dir");
  usable = UsableAccounts(response);
  ASSERT_EQ(usable.size(), 1u);
  EXPECT_EQ(usable[0].name, "a");
  EXPECT_FALSE(usable[0].is_default);
}

}  // namespace
}  // namespace acme_signer::agent
