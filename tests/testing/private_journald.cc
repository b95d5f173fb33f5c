#include "tests/testing/private_journald.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace acme_signer::testing {
namespace {

constexpr char kUnshare[] = "/usr/bin/unshare";
constexpr char kJournald[] = "/lib/systemd/systemd-journald";

// Mounts the private journal directories, starts journald, waits (at most 5 s) for its
// socket, runs the test binary ("$1") with the filter ("$2") and stops journald.
constexpr char kScript[] = R"(set -e
mkdir -p /run/systemd/journal /run/log
mount -t tmpfs tmpfs /run/systemd/journal
mount -t tmpfs tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
/lib/systemd/systemd-journald &
journald=$!
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
set +e
"$1" --gtest_filter="$2"
status=$?
kill $journald
wait $journald
exit $status
)";

ChildResult Run(const std::vector<std::string>& args, const std::vector<std::string>& env,
                absl::Duration timeout) {
  ChildOptions options;
  options.scratch_dir = ::testing::TempDir();
  options.timeout = timeout;
  options.extra_env = env;
  return RunChild(args, options);
}

}  // namespace

std::optional<std::string> PrivateJournaldUnavailable() {
  if (::geteuid() != 0) return "needs root to mount a private journal directory";
  for (const char* tool : {kJournald, kJournalctlPath, kUnshare}) {
    if (::access(tool, X_OK) != 0) return absl::StrCat(tool, " is not installed");
  }
  ChildResult probe =
      Run({kUnshare, "-m", "--propagation", "private", "/bin/true"}, {}, absl::Seconds(60));
  if (probe.exit_code != 0) {
    return absl::StrCat("mount namespaces are not allowed here (unshare -m: ", probe.err, ")");
  }
  return std::nullopt;
}

ChildResult RerunUnderPrivateJournald(const std::string& gtest_filter,
                                      const std::string& inner_env, absl::Duration timeout) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  return Run({kUnshare, "-m", "--propagation", "private", "/bin/sh", "-c", kScript, "sh", self,
              gtest_filter},
             {absl::StrCat(inner_env, "=1")}, timeout);
}

}  // namespace acme_signer::testing
