#!/usr/bin/env bash
# Failover benchmark (issue 16; not part of CI): a `LAB_REPLICAS=3 scripts/lab` lab, one agent
# connection calling GetAccount, and SIGKILL of the replicas one after another (all but the
# last): prints the time from each kill to the agent's next successful call.
#
#   bench/failover.sh [ROUNDS]      (default 3; each round is a fresh lab)
#
# Needs the Release build: cmake --build build/release --target acme-signer acme-agent failover_bench
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
bin=${ACME_SIGNER_BIN_DIR:-$root/build/release/bin}
bench_bin=${FAILOVER_BENCH:-$bin/../bench/failover_bench}
[ -x "$bench_bin" ] || { echo "failover: build $bench_bin first" >&2; exit 1; }
for round in $(seq 1 "$rounds"); do
  lab=$(mktemp -d /tmp/failover-XXXXXX)
  LAB_REPLICAS=3 ACME_SIGNER_BIN_DIR="$bin" "$root/scripts/lab" up "$lab" >"$lab.up.log" 2>&1 ||
    { echo "failover: lab up failed (see $lab.up.log)" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$lab/env"
  echo "round $round: replicas $SIGNER_PIDS"
  # shellcheck disable=SC2086
  timeout 300 "$bench_bin" "$AGENT_CONFIG" $SIGNER_PIDS || echo "round $round failed"
  "$root/scripts/lab" down "$lab" >/dev/null 2>&1 || true
done
