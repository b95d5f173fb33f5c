#include "signer/audit_space.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace acme_signer::signer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(AuditSpaceFloorTest, ZeroFloorDisablesTheCheck) {
  AuditSpaceFloor::Options options;
  int calls = 0;
  options.available = [&](const std::string&) -> absl::StatusOr<uint64_t> {
    ++calls;
    return 0;
  };
  AuditSpaceFloor floor(options);
  EXPECT_TRUE(floor.Check("/var/log/acme-signer/audit.log", 0).ok());
  EXPECT_EQ(calls, 0);
}

TEST(AuditSpaceFloorTest, MeasuresTheLogsDirectoryAndAdmitsAtOrAboveTheFloor) {
  AuditSpaceFloor::Options options;
  std::string measured;
  options.available = [&](const std::string& dir) -> absl::StatusOr<uint64_t> {
    measured = dir;
    return 1000;
  };
  AuditSpaceFloor floor(options);
  EXPECT_TRUE(floor.Check("/var/log/acme-signer/audit.log", 1000).ok());
  EXPECT_EQ(measured, "/var/log/acme-signer");
}

TEST(AuditSpaceFloorTest, BelowTheFloorIsResourceExhaustedNamingFreeBytesFloorAndKey) {
  AuditSpaceFloor::Options options;
  options.available = [](const std::string&) -> absl::StatusOr<uint64_t> { return 999; };
  AuditSpaceFloor floor(options);
  absl::Status s = floor.Check("/var/log/acme-signer/audit.log", 1000);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("999 bytes free"),
                                 HasSubstr("audit.min_free_bytes = 1000"),
                                 HasSubstr("refuses new orders")));
}

TEST(AuditSpaceFloorTest, WarnsOnStderrAtMostOncePerInterval) {
  AuditSpaceFloor::Options options;
  options.available = [](const std::string&) -> absl::StatusOr<uint64_t> { return 1; };
  absl::Time now = absl::FromUnixSeconds(1700000000);
  options.clock = [&] { return now; };
  options.warn_every = absl::Minutes(1);
  AuditSpaceFloor floor(options);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(floor.Check("/x/audit.log", 10).ok());
  now += absl::Minutes(1);
  EXPECT_FALSE(floor.Check("/x/audit.log", 10).ok());
  const std::string err = ::testing::internal::GetCapturedStderr();
  size_t warnings = 0;
  for (size_t at = err.find("WARNING"); at != std::string::npos; at = err.find("WARNING", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 2u) << err;
  EXPECT_THAT(err, AllOf(HasSubstr("1 bytes free"), HasSubstr("audit.min_free_bytes = 10")));
}

TEST(AuditSpaceFloorTest, UnmeasurableSpaceRefusesNamingThePath) {
  AuditSpaceFloor floor;
  absl::Status s = floor.Check("/nonexistent-dir-for-audit-space-test/audit.log", 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent-dir-for-audit-space-test"));
}

TEST(AuditSpaceFloorTest, AvailableBytesOfARealDirectoryIsPositive) {
  absl::StatusOr<uint64_t> available = AvailableBytes("/");
  ASSERT_TRUE(available.ok()) << available.status();
  EXPECT_GT(*available, 0u);
}

}  // namespace
}  // namespace acme_signer::signer
