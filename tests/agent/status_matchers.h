// The shared status matchers (tests/testing/status_matchers.h) under this directory's namespace.
#ifndef ACME_SIGNER_TESTS_AGENT_STATUS_MATCHERS_H_
#define ACME_SIGNER_TESTS_AGENT_STATUS_MATCHERS_H_

#include "tests/testing/status_matchers.h"

namespace acme_signer::agent::testing {
using ::acme_signer::testing::GetStatus;
using ::acme_signer::testing::StatusIs;
using ::acme_signer::testing::IsOk;
using ::acme_signer::testing::IsOkAndHolds;
}  // namespace acme_signer::agent::testing

#endif  // ACME_SIGNER_TESTS_AGENT_STATUS_MATCHERS_H_
