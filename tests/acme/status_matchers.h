// StatusIs(code, message_matcher) for absl::Status and absl::StatusOr<T>, for this
// directory's tests.
#ifndef ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_
#define ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace acme_signer::acme::testing {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(status.message()),
                                       result_listener);
}

MATCHER(IsOk, "") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace acme_signer::acme::testing

#endif  // ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_
