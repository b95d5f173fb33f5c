# shellcheck shell=bash
# Shared helpers of the shell benchmarks (bench/time_to_cert.sh, bench/front_door.sh); source it:
#   . "$(dirname "$0")/lib.sh"
# Needs python3 (certbot brings it) and awk.

# measure OUT CMD...: runs CMD (stdout/stderr inherited) and writes "wall user sys maxrss_kb" of
# that one process to OUT: like /usr/bin/time -f '%e %U %S %M', but with microsecond CPU times
# (acme-agent and lego need 20-70 ms of CPU, which /usr/bin/time rounds to 0.01 s). posix_spawn
# + wait4 on the child's pid, so nothing of the Python parent (no fork copy) is counted. Returns
# CMD's exit code.
measure() {
  python3 - "$@" <<'PY'
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
start = time.monotonic()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, r = os.wait4(pid, 0)
wall = time.monotonic() - start
with open(out, "w") as f:
    f.write(f"{wall:.3f} {r.ru_utime:.4f} {r.ru_stime:.4f} {r.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

# cpu_ticks PID: utime+stime of a process (all its threads) in clock ticks (getconf CLK_TCK).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# ticks_to_seconds BEFORE AFTER [DIVISOR]: (AFTER - BEFORE) clock ticks in seconds, / DIVISOR.
ticks_to_seconds() {
  awk -v a="$1" -v b="$2" -v t="$(getconf CLK_TCK)" -v n="${3:-1}" 'BEGIN { printf "%.3f", (b - a) / t / n }'
}

# Awk functions for the summaries; prepend to a program: awk "$BENCH_AWK_LIB"' ... '.
#   median_of(v, n): the median of v[1..n] (sorts v in place; 0 when n is 0).
# shellcheck disable=SC2034  # used by the scripts that source this file
BENCH_AWK_LIB='
  function median_of(v, n,    i, j, t) {
    if (n == 0) return 0
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
'
