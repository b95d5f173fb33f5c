// Failover: the time from SIGKILL of a signer replica to the next successful RPC of an agent
// that was using it (issue 16, target < 5 s). Not part of CI; bench/failover.sh drives it
// against a `LAB_REPLICAS=3 scripts/lab` lab.
//
//   failover_bench AGENT_CONFIG PID...   (the replicas' PIDs, e.g. $SIGNER_PIDS)
//
// One agent connection (agent::ConnectToSigner with the lab's agent config, whose [signer]
// address names every replica) is warmed with calls spread over the replicas; then, for each
// PID but the last, the bench SIGKILLs that replica and measures the time until a GetAccount
// call (one every 20 ms) succeeds again on the same connection. Prints one line per kill and
// the median.
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/command_support.h"
#include "agent/signer_client.h"

int main(int argc, char** argv) {
  using namespace acme_signer;
  if (argc < 3) {
    std::fprintf(stderr, "usage: failover_bench AGENT_CONFIG PID...\n");
    return 2;
  }
  absl::StatusOr<agent::AgentConfig> config = agent::LoadAgentConfig(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<agent::SignerClient>> client = agent::ConnectToSigner(*config);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
    return 1;
  }
  const absl::Duration bound = absl::Seconds(60);
  std::vector<double> gaps;
  // Kill every replica but the last, one at a time: each kill leaves at least one serving.
  for (int i = 2; i + 1 < argc; ++i) {
    int pid = 0;
    if (!absl::SimpleAtoi(argv[i], &pid) || pid <= 1) {
      std::fprintf(stderr, "not a PID: %s\n", argv[i]);
      return 2;
    }
    // Warm: a few successful calls spread over the replicas.
    for (int k = 0; k < 10; ++k) {
      if (!(*client)->GetAccount().ok()) absl::SleepFor(absl::Milliseconds(20));
    }
    const absl::Time killed = absl::Now();
    if (::kill(pid, SIGKILL) != 0) {
      std::perror("kill");
      return 1;
    }
    int failed = 0;
    absl::Time ok_at = absl::InfinitePast();
    // The first call after the kill may go to the dead replica (round robin); the gap ends at
    // the first call that succeeds after the kill (bounded).
    while (absl::Now() - killed < bound) {
      if ((*client)->GetAccount().ok()) {
        ok_at = absl::Now();
        break;
      }
      ++failed;
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (ok_at == absl::InfinitePast()) {
      std::printf("kill of pid %d: no successful call within %s\n", pid,
                  absl::FormatDuration(bound).c_str());
      return 1;
    }
    // A second call right after: the dead replica must be out of the rotation by now.
    const bool next_ok = (*client)->GetAccount().ok();
    const double gap_ms = absl::ToDoubleMilliseconds(ok_at - killed);
    gaps.push_back(gap_ms);
    std::printf("kill of pid %d: next successful call after %.1f ms (%d failed calls), next call %s\n",
                pid, gap_ms, failed, next_ok ? "ok" : "FAILED");
  }
  if (gaps.empty()) return 0;
  std::sort(gaps.begin(), gaps.end());
  std::printf("failover: median %.1f ms, max %.1f ms over %zu kills\n", gaps[gaps.size() / 2],
              gaps.back(), gaps.size());
  return 0;
}
