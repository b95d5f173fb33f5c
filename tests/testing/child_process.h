// Runs a program as a child of the test (no shell), with stdin /dev/null and stdout/stderr
// captured in files, killed after a timeout. For integration tests that drive the real
// acme-agent / acme-signer binaries.
//
// Thread-safety: RunChild may be called from any thread; the child only makes
// async-signal-safe calls before execve (the test process may have other threads).
#ifndef ACME_SIGNER_TESTS_TESTING_CHILD_PROCESS_H_
#define ACME_SIGNER_TESTS_TESTING_CHILD_PROCESS_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace acme_signer::testing {

struct ChildResult {
  int exit_code = -1;  // 128 + signal when a signal ended it; -1 when it could not run
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const ChildResult& r);

struct ChildOptions {
  // Directory for the capture files (removed after reading).
  std::string scratch_dir;
  absl::Duration timeout = absl::Minutes(2);
  // NAME=value entries added to the test's environment.
  std::vector<std::string> extra_env;
  // Runs in the child after stdio is set up, before execve: async-signal-safe calls only.
  // Returning false ends the child with exit status 126.
  std::function<bool()> before_exec;
};

// Runs `args` (args[0] an absolute path). The child dies with the test (PR_SET_PDEATHSIG).
// Failures to start are reported in ChildResult::err with exit_code -1.
ChildResult RunChild(const std::vector<std::string>& args, const ChildOptions& options);

}  // namespace acme_signer::testing

#endif  // ACME_SIGNER_TESTS_TESTING_CHILD_PROCESS_H_
