#include "hsm/ck_status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CkStatusTest, OkIsOk) { EXPECT_TRUE(CkStatus(CKR_OK, "anything").ok()); }

TEST(CkStatusTest, MessageKeepsTheCkrNameAndContext) {
  absl::Status status = CkStatus(CKR_DEVICE_REMOVED, "signing with account-key");
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                               AllOf(HasSubstr("signing with account-key"),
                                     HasSubstr("CKR_DEVICE_REMOVED"), HasSubstr("0x32"))));
}

TEST(CkStatusTest, OriginalCodeTravelsWithTheStatus) {
  EXPECT_EQ(CkRvOf(CkStatus(CKR_SESSION_HANDLE_INVALID, "x")), CKR_SESSION_HANDLE_INVALID);
  EXPECT_EQ(CkRvOf(absl::InternalError("not from PKCS#11")), std::nullopt);
}

TEST(CkStatusTest, PinProblemsArePermissionDenied) {
  EXPECT_THAT(CkStatus(CKR_PIN_INCORRECT, "login"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CKR_PIN_INCORRECT")));
  EXPECT_THAT(CkStatus(CKR_PIN_LOCKED, "login"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("CKR_PIN_LOCKED")));
  EXPECT_TRUE(IsPinProblem(CKR_PIN_INCORRECT));
  EXPECT_FALSE(IsSessionLost(CKR_PIN_INCORRECT));
}

TEST(CkStatusTest, LostSessionCodesAreRetryable) {
  for (CK_RV rv : {CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED,
                   CKR_TOKEN_NOT_PRESENT, CKR_USER_NOT_LOGGED_IN}) {
    EXPECT_TRUE(IsSessionLost(rv)) << CkrName(rv);
  }
  EXPECT_FALSE(IsSessionLost(CKR_KEY_SIZE_RANGE));
}

TEST(CkStatusTest, UnknownVendorCodeGetsAHexName) {
  EXPECT_EQ(CkrName(CKR_VENDOR_DEFINED | 0x42), "CKR_0x80000042");
  EXPECT_EQ(CkStatus(CKR_VENDOR_DEFINED | 0x42, "x").code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace acme_signer::hsm
