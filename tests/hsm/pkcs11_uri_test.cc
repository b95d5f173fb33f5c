#include "hsm/pkcs11_uri.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/hsm/hsm_test_util.h"

namespace acme_signer::hsm {
namespace {

using ::acme_signer::hsm::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Pkcs11UriTest, ParsesObjectLabelIdAndType) {
  auto uri =
      Pkcs11Uri::Parse("pkcs11:token=acme-signer;object=account%20key;id=%01%02;type=private");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(uri->label(), "account key");
  EXPECT_EQ(uri->id(), std::string("\x01\x02", 2));
  EXPECT_EQ(uri->object_class(), CKO_PRIVATE_KEY);
  EXPECT_TRUE(uri->HasTokenAttributes());
  EXPECT_TRUE(uri->HasObjectAttributes());
}

TEST(Pkcs11UriTest, ObjectUriWithoutTokenHasNoTokenAttributes) {
  auto uri = Pkcs11Uri::Parse("pkcs11:object=account-key");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_FALSE(uri->HasTokenAttributes());
  EXPECT_EQ(uri->id(), std::nullopt);
}

TEST(Pkcs11UriTest, RejectsOtherSchemes) {
  EXPECT_THAT(Pkcs11Uri::Parse("file:/etc/passwd"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("malformed PKCS#11 URI 'file:/etc/passwd'"),
                             HasSubstr("pkcs11:token="))));
}

TEST(Pkcs11UriTest, RejectsBadPercentEncoding) {
  EXPECT_THAT(Pkcs11Uri::Parse("pkcs11:object=%zz"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pkcs11:object=%zz")));
}

TEST(Pkcs11UriTest, RejectsUnknownAttributeSoTyposDoNotMatchEverything) {
  EXPECT_THAT(
      Pkcs11Uri::Parse("pkcs11:objekt=account-key"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("pkcs11:objekt=account-key"), HasSubstr("does not understand"))));
}

TEST(Pkcs11UriTest, RefusesPinValueWithoutQuotingIt) {
  auto uri = Pkcs11Uri::Parse("pkcs11:token=t?pin-value=s3cret-1234");
  EXPECT_THAT(uri, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr("pin-value=REDACTED"), HasSubstr("pin-source"),
                                  Not(HasSubstr("s3cret-1234")))));
}

TEST(Pkcs11UriTest, MalformedUriWithPinValueIsStillRedacted) {
  auto uri = Pkcs11Uri::Parse("pkcs11:token=%zz?pin-value=s3cret-1234&module-name=x");
  EXPECT_THAT(uri, StatusIs(absl::StatusCode::kInvalidArgument,
                            AllOf(HasSubstr("module-name=x"), Not(HasSubstr("s3cret")))));
}

TEST(Pkcs11UriTest, ReadsPinSource) {
  auto uri = Pkcs11Uri::Parse("pkcs11:token=t?pin-source=file:/etc/acme-signer/hsm.pin");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(uri->pin_source(), "file:/etc/acme-signer/hsm.pin");
}

TEST(Pkcs11UriTest, PinSourcePathAcceptsFileUrisAndPlainPaths) {
  EXPECT_EQ(*Pkcs11Uri::PinSourcePath("file:/a/pin"), "/a/pin");
  EXPECT_EQ(*Pkcs11Uri::PinSourcePath("file:///a/pin"), "/a/pin");
  EXPECT_EQ(*Pkcs11Uri::PinSourcePath("/a/pin"), "/a/pin");
}

TEST(Pkcs11UriTest, PinSourcePathRefusesOtherSchemesAndHosts) {
  EXPECT_THAT(Pkcs11Uri::PinSourcePath("file://example.com/pin"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names a host")));
  EXPECT_THAT(Pkcs11Uri::PinSourcePath("https://example.com/pin"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only file:")));
  EXPECT_THAT(Pkcs11Uri::PinSourcePath("exec:cat /pin"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only file:")));
  EXPECT_THAT(Pkcs11Uri::PinSourcePath("file:"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace acme_signer::hsm
