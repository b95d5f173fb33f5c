// gMock matchers for absl::Status and absl::StatusOr<T>, shared by every test directory:
//   EXPECT_THAT(result, StatusIs(absl::StatusCode::kNotFound, HasSubstr("no key")));
//   EXPECT_THAT(result, IsOk());
//   EXPECT_THAT(result_or, IsOkAndHolds(42));
// The message argument is any matcher of std::string (a plain string means equality).
#ifndef ACME_SIGNER_TESTS_TESTING_STATUS_MATCHERS_H_
#define ACME_SIGNER_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace acme_signer::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER_P2(StatusIs, code, message_matcher, "has the expected status code and message") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P(IsOkAndHolds, value, "is OK and holds the value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "value is " << ::testing::PrintToString(*arg);
  return *arg == value;
}

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_STATUS_MATCHERS_H_
