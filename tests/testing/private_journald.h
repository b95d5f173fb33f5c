// A systemd-journald of a test's own, for tests of native journal fields on machines whose
// PID 1 is not systemd (CI containers, this lab): the test re-runs itself (one gtest filter)
// under `unshare -m` with tmpfs over the journal directories, so the private journald and
// everything it writes are seen only inside that mount namespace; the inner run sends and
// reads back with journalctl. Used by tests/signer/decision_log_journal_test.cc and
// tests/integration/serve_systemd_test.cc.
#ifndef ACME_SIGNER_TESTS_TESTING_PRIVATE_JOURNALD_H_
#define ACME_SIGNER_TESTS_TESTING_PRIVATE_JOURNALD_H_

#include <optional>
#include <string>

#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace acme_signer::testing {

inline constexpr char kJournalctlPath[] = "/usr/bin/journalctl";

// Why a private journald cannot run here (not root, a tool missing, mount namespaces not
// allowed): the test skips with this reason. nullopt when it can.
std::optional<std::string> PrivateJournaldUnavailable();

// Runs this test binary again with `--gtest_filter=gtest_filter` and `inner_env`=1 set, inside
// a new mount namespace where a private journald listens (started before, stopped after, its
// socket waited for at most 5 s). The inner run sees `inner_env` and does the real work.
ChildResult RerunUnderPrivateJournald(const std::string& gtest_filter,
                                      const std::string& inner_env, absl::Duration timeout);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_PRIVATE_JOURNALD_H_
