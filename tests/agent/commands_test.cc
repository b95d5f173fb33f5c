// ExitCodeFor (agent/commands.h): 3 and 4 blame the signer, so only statuses the signer client
// marked may have them; the same absl codes from this host's files and lock exit 1.
#include "agent/commands.h"

#include <errno.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "agent/command_support.h"
#include "agent/signer_client.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/status_matchers.h"
#include "tests/agent/test_certs.h"

namespace acme_signer::agent {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

TEST(ExitCodeForTest, SuccessExitsZero) { EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk); }

TEST(ExitCodeForTest, APermissionDeniedFromTheSignerExitsThree) {
  const absl::Status refused = MarkFromSigner(
      absl::PermissionDeniedError("agent web1 may not order www.not-in-policy.example"));
  EXPECT_EQ(ExitCodeFor(refused), kExitDenied);
  EXPECT_EQ(ExitCodeFor(MarkFromSigner(absl::UnauthenticatedError("no client certificate"))),
            kExitDenied);
}

TEST(ExitCodeForTest, APermissionDeniedFromALocalFileExitsOne) {
  const absl::Status eacces = ErrnoStatus(EACCES, "cannot write /etc/acme-agent/archive/x");
  ASSERT_THAT(eacces,
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("Permission denied")));
  EXPECT_EQ(ExitCodeFor(eacces), kExitFailure);
  const absl::Status erofs = ErrnoStatus(EROFS, "cannot write /etc/acme-agent/live/x");
  EXPECT_EQ(ExitCodeFor(erofs), kExitFailure) << erofs;
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("local")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("local")), kExitFailure);
}

TEST(ExitCodeForTest, AnUnavailableFromTheSignerExitsFour) {
  EXPECT_EQ(ExitCodeFor(MarkFromSigner(absl::UnavailableError(
                "signer unreachable or refused the connection: failed to connect"))),
            kExitUnreachable);
}

TEST(ExitCodeForTest, ALocalUnavailableExitsOne) {
  const absl::Status eagain = ErrnoStatus(EAGAIN, "cannot lock");
  ASSERT_THAT(eagain, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot lock")));
  EXPECT_EQ(ExitCodeFor(eagain), kExitFailure);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("local")), kExitFailure);
}

TEST(ExitCodeForTest, OtherErrorsFromTheSignerExitOne) {
  EXPECT_EQ(ExitCodeFor(MarkFromSigner(absl::FailedPreconditionError("order is not ready"))),
            kExitFailure);
  EXPECT_EQ(ExitCodeFor(MarkFromSigner(absl::InternalError("HSM error"))), kExitFailure);
}

TEST(ExitCodeForTest, AnOriginPayloadNamingSomethingElseIsNotTheSigners) {
  absl::Status status = absl::PermissionDeniedError("local");
  status.SetPayload(kStatusOriginPayload, absl::Cord("hook"));
  EXPECT_EQ(ExitCodeFor(status), kExitFailure);
}

TEST(ExitCodeForTest, ContextAddedToASignerRefusalKeepsItsExitCode) {
  const absl::Status refused = MarkFromSigner(absl::PermissionDeniedError("not your certificate"));
  const absl::Status reworded =
      WithMessage(refused, "could not revoke certificate a.example: not your certificate");
  EXPECT_THAT(reworded, StatusIs(absl::StatusCode::kPermissionDenied,
                                 HasSubstr("could not revoke certificate a.example")));
  EXPECT_EQ(ExitCodeFor(reworded), kExitDenied);
}

TEST(ExitCodeForTest, AnotherAgentHoldingTheLockExitsOne) {
  testing::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::unique_ptr<RunLock>> first = RunLock::Acquire(dir.path());
  ASSERT_THAT(first.status(), testing::IsOk());
  absl::StatusOr<std::unique_ptr<RunLock>> second = RunLock::Acquire(dir.path());
  ASSERT_THAT(second.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("another acme-agent is running")));
  EXPECT_EQ(ExitCodeFor(second.status()), kExitFailure);
}

}  // namespace
}  // namespace acme_signer::agent
