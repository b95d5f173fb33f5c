// The shared status matchers (tests/testing/status_matchers.h) under this directory's namespace.
#ifndef ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_
#define ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_

#include "tests/testing/status_matchers.h"

namespace acme_signer::acme::testing {
using ::acme_signer::testing::GetStatus;
using ::acme_signer::testing::StatusIs;
using ::acme_signer::testing::IsOk;
}  // namespace acme_signer::acme::testing

#endif  // ACME_SIGNER_TESTS_ACME_STATUS_MATCHERS_H_
