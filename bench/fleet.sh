#!/usr/bin/env bash
# The fleet benchmark (issue 16): N concurrent agents, each issuing one certificate, through the
# signer, against the same N orders driven straight at Pebble with no signer. Not in CI.
#
#   bench/fleet.sh OUT_DIR
#
# Arms (FLEET_ARMS, comma-separated, default "sqlite,direct"):
#   sqlite  1 signer replica on SQLite (scripts/lab up, LAB_REPLICAS unset)
#   pg1     1 replica on PostgreSQL    (scripts/lab up with LAB_REPLICAS=1)
#   pg3     3 replicas on PostgreSQL   (scripts/lab up with LAB_REPLICAS=3)
#   direct  no signer: build/.../bench/fleet_direct, the ACME engine and the agent's order flow
#           in one process (one account, N threads), straight at Pebble
#   ARM-base  any of these with the binaries of FLEET_BASE_BIN_DIR (bin/acme-signer,
#           bin/acme-agent, bench/fleet_direct of an earlier build): before/after a change,
#           interleaved in one run (ARM-base's ratio is to direct-base)
# Every arm: N `acme-agent certonly` processes (relay mode, dns-01 through one auth hook that
# sets the TXT record in the lab's pebble-challtestsrv), started at once, each with its own
# config_dir (the agent's run lock is per directory) and the lab's web1 identity; the direct
# arm runs the same orders (fresh P-256 key and CSR, the same hook) in threads. Each arm has a
# lab of its own (the direct arm's signer idles); every Pebble runs with the same settings: the lab's (EAB, strict validation, PEBBLE_VA_NOSLEEP=1) plus
# PEBBLE_WFE_NONCEREJECT=0 (no injected badNonce: retries would add noise to the CPU figures).
# The one-identity fleet would hit the per-agent limits that a real fleet (one identity per
# host) never shares, so the script raises [[agents]] orders_per_hour (to 100000) and
# [server] max_rpcs_in_flight_per_agent (to 4096) in each replica's config and reloads it
# (SIGHUP); every other setting is the lab's (max_concurrent_rpcs stays at its default, 64).
#
# Sizes (FLEET_SIZES, default "50,100,200,400"), rounds (FLEET_ROUNDS, default 3): for each
# round, each size, each arm (the arm order rotates every round): one run. A run that does not
# finish within FLEET_TIMEOUT seconds (default 240) is stopped (its agents SIGTERMed) and its
# missing certificates count as failures.
#
# Per run: certificates issued and failed; certificates/s (issued / the time from the first
# start to the last exit); p50/p99 of the per-certificate time (each agent's process wall time;
# in the direct arm each order's time); CPU seconds per issued certificate of the signer (all
# replicas: utime+stime deltas of /proc/PID/stat), of Pebble, of PostgreSQL (the postmaster and
# its live backends; pg arms), of the clients (all agent processes with their hook children /
# the direct driver, from wait4); peak RSS (VmHWM, reset through /proc/PID/clear_refs before the
# run) of the signer (summed over replicas) and of Pebble; the 1-minute load average at the
# start. Raw rows: OUT_DIR/fleet.tsv; the per-certificate times: OUT_DIR/times/; the summary
# (medians over the rounds, ratio to the direct arm's certificates/s): stdout (Markdown) and
# OUT_DIR/fleet-summary.tsv, plotted by bench/fleet.gnuplot when FLEET_PLOT names the output
# (an .svg). FLEET_SUMMARY_ONLY=1 only summarises (and plots) an earlier run's OUT_DIR/fleet.tsv.
# A run whose direct driver cannot even register (its Pebble stopped answering) counts as N
# failures. Labs stay up with KEEP_LABS=1 (scripts/lab down OUT_DIR/lab-ARM to stop them).
#
# Binaries: ACME_SIGNER_BIN_DIR (default build/release/bin) for acme-signer and acme-agent;
# FLEET_DIRECT (default the bin dir's ../bench/fleet_direct). Build Release:
#   cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DACME_SIGNER_BUILD_BENCH=ON
#   cmake --build build/release --target acme-signer acme-agent fleet_direct
# Every request goes to 127.0.0.1.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: bench/fleet.sh OUT_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "$1")
mkdir -p "$out"/{times,logs}
bin_dir=$(realpath -m "${ACME_SIGNER_BIN_DIR:-$root/build/release/bin}")
fleet_direct=${FLEET_DIRECT:-$bin_dir/../bench/fleet_direct}
IFS=, read -r -a arms <<<"${FLEET_ARMS:-sqlite,direct}"
IFS=, read -r -a sizes <<<"${FLEET_SIZES:-50,100,200,400}"
rounds=${FLEET_ROUNDS:-3}
timeout=${FLEET_TIMEOUT:-240}
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] && [ "$rounds" -le 20 ] || { echo "FLEET_ROUNDS must be 1..20" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] && [ "$timeout" -ge 10 ] && [ "$timeout" -le 1800 ] || { echo "FLEET_TIMEOUT must be 10..1800" >&2; exit 2; }
for n in "${sizes[@]}"; do
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 2000 ] || { echo "FLEET_SIZES: $n is not 1..2000" >&2; exit 2; }
done
base_dir=${FLEET_BASE_BIN_DIR:+$(realpath -m "$FLEET_BASE_BIN_DIR")}
# arm_bin ARM / arm_direct ARM: the binaries an arm runs.
arm_bin() { if [[ $1 == *-base ]]; then echo "$base_dir/bin"; else echo "$bin_dir"; fi; }
arm_direct() { if [[ $1 == *-base ]]; then echo "$base_dir/bench/fleet_direct"; else echo "$fleet_direct"; fi; }
for arm in "${arms[@]}"; do
  case "${arm%-base}" in sqlite|pg1|pg3|direct) ;; *) echo "FLEET_ARMS: unknown arm $arm (sqlite, pg1, pg3, direct, each optionally -base)" >&2; exit 2 ;; esac
  if [[ $arm == *-base ]] && [ -z "$base_dir" ]; then echo "FLEET_ARMS: $arm needs FLEET_BASE_BIN_DIR" >&2; exit 2; fi
  for b in "$(arm_bin "$arm")/acme-signer" "$(arm_bin "$arm")/acme-agent"; do
    [ -x "$b" ] || { echo "$b not found: build first (see the top of bench/fleet.sh)" >&2; exit 1; }
  done
  if [ "${arm%-base}" = direct ] && [ ! -x "$(arm_direct "$arm")" ]; then
    echo "$(arm_direct "$arm") not found: build the fleet_direct target" >&2; exit 1
  fi
done
# measure, cpu_ticks, ticks_to_seconds, BENCH_AWK_LIB (median_of).
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

log() { echo "fleet: $*" >&2; }

summary_only=${FLEET_SUMMARY_ONLY:-0}  # 1: only summarise OUT_DIR/fleet.tsv of an earlier run

# ---- Labs: one per signer arm; the direct arm uses the first one's Pebble.
declare -A lab_of=()
labs_started=()
cleanup() {
  [ "${KEEP_LABS:-0}" = 1 ] && { log "labs kept: ${labs_started[*]}"; return; }
  for l in "${labs_started[@]}"; do "$root/scripts/lab" down "$l" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_lab() {  # start_lab ARM: scripts/lab up OUT/lab-ARM with the arm's replica count
  local arm=$1 dir=$out/lab-$1 replicas=
  case "${arm%-base}" in pg1) replicas=1 ;; pg3) replicas=3 ;; esac
  log "starting lab $dir${replicas:+ (LAB_REPLICAS=$replicas)}"
  if ! LAB_REPLICAS=$replicas PEBBLE_WFE_NONCEREJECT=0 ACME_SIGNER_BIN_DIR=$(arm_bin "$arm") \
       "$root/scripts/lab" up "$dir" >"$out/logs/lab-$arm.log" 2>&1; then
    tail -n 20 "$out/logs/lab-$arm.log" >&2
    "$root/scripts/lab" down "$dir" >/dev/null 2>&1 || true
    echo "fleet: scripts/lab up failed for arm $arm (needs LAB_REPLICAS support for pg arms)" >&2
    exit 1
  fi
  labs_started+=("$dir")
  lab_of[$arm]=$dir
}
# Every arm has a lab (its own Pebble: a Pebble that stops answering fails one arm only); the
# direct arms' signer stays idle.
[ "$summary_only" = 1 ] || for arm in "${arms[@]}"; do start_lab "$arm"; done

# lab_var LAB NAME: a variable of LAB/env.
lab_var() { ( set +u; . "$1/env"; eval "printf '%s' \"\${$2:-}\"" ); }
signer_pids() { local p; p=$(lab_var "$1" SIGNER_PIDS); [ -n "$p" ] || p=$(lab_var "$1" SIGNER_PID); echo "$p"; }

# The auth hook of every arm (the same script): the dns-01 TXT record into challtestsrv.
write_hook() {  # write_hook LAB
  local lab=$1 mgmt; mgmt=$(lab_var "$lab" CHALLTESTSRV_MANAGEMENT)
  cat >"$lab/fleet-dns01-hook" <<HOOK
#!/bin/sh
# Generated by bench/fleet.sh: certbot-style --manual-auth-hook for dns-01 in the lab's challtestsrv.
set -eu
exec curl -sS --fail --max-time 10 --noproxy '*' -o /dev/null -X POST \\
  -d "{\"host\":\"_acme-challenge.\${CERTBOT_DOMAIN}.\",\"value\":\"\${CERTBOT_VALIDATION}\"}" "$mgmt/set-txt"
HOOK
  chmod 0755 "$lab/fleet-dns01-hook"
}

# Raise the per-agent limits of the one-identity fleet in each replica's config and reload.
raise_agent_limits() {  # raise_agent_limits LAB
  local lab=$1 pid cfg
  for pid in $(signer_pids "$lab"); do
    cfg=$(tr '\0' '\n' <"/proc/$pid/cmdline" | sed -n '/^--config$/{n;p;q}')
    [ -n "$cfg" ] && [ -f "$cfg" ] || { echo "fleet: no --config in the command line of signer $pid" >&2; exit 1; }
    local max_rpcs=4096  # the most the config accepts: the server-wide max_concurrent_rpcs still applies
    sed -i -e 's/^orders_per_hour *=.*/orders_per_hour = 100000/' \
           -e "s/^max_rpcs_in_flight_per_agent *=.*/max_rpcs_in_flight_per_agent = $max_rpcs/" "$cfg"
    grep -q '^max_rpcs_in_flight_per_agent' "$cfg" \
      || sed -i "s/^\[server\]\$/[server]\nmax_rpcs_in_flight_per_agent = $max_rpcs/" "$cfg"
    kill -HUP "$pid"
    log "signer $pid: orders_per_hour 100000, max_rpcs_in_flight_per_agent $max_rpcs ($cfg), reloaded (SIGHUP)"
  done
  sleep 1  # the reload runs on the signal thread
}

[ "$summary_only" = 1 ] || for arm in "${arms[@]}"; do
  lab=${lab_of[$arm]}
  [ -x "$lab/fleet-dns01-hook" ] || write_hook "$lab"
  [ "${arm%-base}" = direct ] || raise_agent_limits "$lab"
done

launch() {  # launch TSV N TIMEOUT LOGDIR CMD...: N processes at once ({i} in CMD = index), wait4
  python3 - "$@" <<'PY'
import os, signal, sys, time
out, n, timeout, logdir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
tmpl = sys.argv[5:]
t0 = time.monotonic()
running = {}
for i in range(n):
    cmd = [a.replace("{i}", str(i)) for a in tmpl]
    fd = os.open(f"{logdir}/{i}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                          file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
    os.close(fd)
    running[pid] = (i, time.monotonic() - t0)
rows = []
deadline = t0 + timeout
stopped = False
while running:
    pid, status, ru = os.wait4(-1, os.WNOHANG)
    if pid == 0:
        if not stopped and time.monotonic() > deadline:
            for p in running: os.kill(p, signal.SIGTERM)
            stopped = True
        time.sleep(0.02)
        continue
    i, start = running.pop(pid)
    code = os.waitstatus_to_exitcode(status)
    rows.append((i, 1 if code == 0 else 0, start, time.monotonic() - t0, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, code))
with open(out, "w") as f:
    for r in sorted(rows):
        f.write("%d\t%d\t%.3f\t%.3f\t%.4f\t%.4f\t%d\t%d\n" % r)
print("%.3f" % max(r[3] for r in rows))
PY
}

agent_configs() {  # agent_configs LAB N DIR: DIR/i/agent.toml, each with its own config_dir
  local lab=$1 n=$2 dir=$3 cfg i; cfg=$(lab_var "$lab" AGENT_CONFIG)
  for i in $(seq 0 $((n - 1))); do
    mkdir -p "$dir/$i/certs"
    sed "s#^config_dir = .*#config_dir = \"$dir/$i/certs\"#" "$cfg" >"$dir/$i/agent.toml"
  done
}

proc_ticks_sum() { local t=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(cpu_ticks "$p"))); done; echo $t; }
hwm_kb_sum() { local t=0 p v; for p in "$@"; do v=$(awk '/^VmHWM/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0); t=$((t + ${v:-0})); done; echo $t; }
reset_hwm() { local p; for p in "$@"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
# The PostgreSQL cluster's processes: the postmaster and its children (backends).
pg_pids() { local pg; pg=$(lab_var "$1" PG_PID); [ -n "$pg" ] || return 0; echo "$pg"; pgrep -P "$pg" || true; }

tsv=$out/fleet.tsv
[ -s "$tsv" ] || printf 'arm\tn\tround\tissued\tfailed\twall_s\tcerts_per_s\tp50_s\tp99_s\tsigner_cpu_per_cert_s\tpebble_cpu_per_cert_s\tdb_cpu_per_cert_s\tclient_cpu_per_cert_s\tsigner_hwm_kb\tpebble_hwm_kb\tload1\n' >"$tsv"

run_arm() {  # run_arm ARM N ROUND [warm]
  local arm=$1 n=$2 round=$3 warm=${4:-}
  local lab=${lab_of[$arm]} tag="$arm-n$2-r$3${4:+-warm}" work
  work=$out/runs/$tag; rm -rf "$work"; mkdir -p "$work/logs"
  local prefix="fleet-$arm-$n-$round-$$${warm:+-warm}"
  local signers="" pebble pgs="" load wall
  [ "${arm%-base}" = direct ] || signers=$(signer_pids "$lab")
  pebble=$(lab_var "$lab" PEBBLE_PID)
  [ "${arm%-base}" = direct ] || pgs=$(pg_pids "$lab" | tr '\n' ' ')
  # shellcheck disable=SC2086
  reset_hwm $signers "$pebble"
  load=$(cut -d' ' -f1 /proc/loadavg)
  local s0 p0 d0 s1 p1 d1
  # shellcheck disable=SC2086
  s0=$(proc_ticks_sum $signers); p0=$(proc_ticks_sum "$pebble"); d0=$(proc_ticks_sum $pgs)
  local times=$work/times.tsv client_cpu=0
  if [ "${arm%-base}" = direct ]; then
    local rc=0
    measure "$work/direct.time" "$(arm_direct "$arm")" --directory "$(lab_var "$lab" PEBBLE_DIRECTORY)" \
      --ca-bundle "$(lab_var "$lab" PEBBLE_TLS_CERT)" --eab-kid "$(lab_var "$lab" EAB_KID)" \
      --eab-hmac-key-file "$lab/pebble/eab.key" --auth-hook "$lab/fleet-dns01-hook" \
      --orders "$n" --name-prefix "$prefix" >"$work/direct.out" 2>"$work/logs/direct.log" || rc=$?
    if [ $rc -gt 1 ]; then
      # Nothing ordered (e.g. Pebble no longer answers the registration): every order failed.
      tail -n 2 "$work/logs/direct.log" >&2
      for i in $(seq 0 $((n - 1))); do printf '%d\t0\t0\t0\tfleet_direct exit %d\n' "$i" "$rc"; done >"$work/direct.out"
      echo "wall_s $(awk '{ print $1 }' "$work/direct.time") failed $n" >>"$work/logs/direct.log"
    fi
    wall=$(sed -n 's/^wall_s \([0-9.]*\).*/\1/p' "$work/logs/direct.log")
    # order ok start end error -> the launcher's columns (index ok start end).
    awk -F'\t' -v OFS='\t' '{ print $1, $2, $3, $4 }' "$work/direct.out" >"$times"
    client_cpu=$(awk '{ print $2 + $3 }' "$work/direct.time")
  else
    agent_configs "$lab" "$n" "$work/agents"
    wall=$(launch "$times" "$n" "$timeout" "$work/logs" "$(lab_var "$lab" ACME_AGENT)" certonly \
      --config "$work/agents/{i}/agent.toml" --non-interactive \
      --manual-auth-hook "$lab/fleet-dns01-hook" --preferred-challenges dns \
      -d "$prefix-{i}.lab.test" --cert-name "$prefix-{i}.lab.test")
    client_cpu=$(awk '{ s += $5 + $6 } END { printf "%.4f", s }' "$times")
  fi
  # shellcheck disable=SC2086
  s1=$(proc_ticks_sum $signers); p1=$(proc_ticks_sum "$pebble"); d1=$(proc_ticks_sum $pgs)
  local issued failed
  issued=$(awk -F'\t' '$2 == 1' "$times" | wc -l); failed=$((n - issued))
  if [ "$failed" -gt 0 ]; then
    log "$tag: $failed of $n failed; first errors:"
    # (|| true: head closing the pipe early must not end the script under pipefail.)
    if [ "${arm%-base}" = direct ]; then awk -F'\t' '$2 == 0 { print "  " $5 }' "$work/direct.out" | cut -c1-200 | sort | uniq -c | sort -rn | head -n 3 >&2 || true
    else awk -F'\t' '$2 == 0 { print $1 }' "$times" | head -n 3 | while read -r i; do tail -n 2 "$work/logs/$i.log" | sed 's/^/  /' >&2; done || true; fi
  fi
  [ -z "$warm" ] || { log "$tag: warm-up done ($issued/$n)"; return 0; }
  local row
  row=$(awk -F'\t' -v OFS='\t' -v arm="$arm" -v n="$n" -v round="$round" -v issued="$issued" \
      -v failed="$failed" -v wall="$wall" -v t="$(getconf CLK_TCK)" -v ds=$((s1 - s0)) -v dp=$((p1 - p0)) \
      -v dd=$((d1 - d0)) -v client="$client_cpu" -v shwm="$(hwm_kb_sum $signers)" \
      -v phwm="$(hwm_kb_sum "$pebble")" -v load="$load" -v is_direct="$([ "${arm%-base}" = direct ] && echo 1 || echo 0)" \
      -v has_db="$([ -n "$pgs" ] && echo 1 || echo 0)" "$BENCH_AWK_LIB"'
    $2 == 1 { v[++k] = $4 - $3 }
    END {
      m = issued > 0 ? issued : 1
      # p50 and p99 by rank over the issued certificates.
      median_of(v, k)
      p50 = k ? v[int((k + 1) / 2)] : 0; r = int(0.99 * k + 0.999); if (r < 1) r = 1; p99 = k ? v[r] : 0
      printf "%s\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%.4f\t%s\t%.4f\t%s\t%d\t%s\n", arm, n, round, issued, failed,
        wall, issued / wall, p50, p99, is_direct ? "" : sprintf("%.4f", ds / t / m), dp / t / m,
        has_db ? sprintf("%.4f", dd / t / m) : "", client / m, is_direct ? "" : shwm, phwm, load
    }' "$times")
  printf '%s\n' "$row" >>"$tsv"
  cp "$times" "$out/times/$tag.tsv"
  log "$(printf '%s' "$row" | awk -F'\t' '{ printf "%s N=%d round %d: %d issued, %d failed, %.1f s, %.2f certs/s, p50 %.2f s, p99 %.2f s, signer %s s/cert, Pebble %.4f s/cert, load %s", $1, $2, $3, $4, $5, $6, $7, $8, $9, ($10 == "" ? "-" : $10), $11, $16 }')"
}

# Warm-up: one small unmeasured run per arm.
[ "$summary_only" = 1 ] || for arm in "${arms[@]}"; do run_arm "$arm" 2 0 warm; done
[ "$summary_only" = 1 ] || for round in $(seq 1 "$rounds"); do
  for n in "${sizes[@]}"; do
    # Rotate the arm order each round, so no arm always runs right after another.
    k=${#arms[@]}
    for j in $(seq 0 $((k - 1))); do
      arm=${arms[$(( (j + round - 1) % k ))]}
      run_arm "$arm" "$n" "$round"
      sleep 2  # let the signer's and Pebble's background work from the last run settle
    done
  done
done

# ---- Summary: medians over the rounds per arm and N; ratio to the direct arm's certs/s.
summary=$out/fleet-summary.tsv
awk -F'\t' -v OFS='\t' "$BENCH_AWK_LIB"'
  function nz(x) { return x == "" ? "-" : x }
  function med(a, key, col,    i, v, c) { c = 0; for (i = 1; i <= cnt[key]; i++) if (val[key, i, col] != "") v[++c] = val[key, i, col]; return c ? median_of(v, c) : "" }
  NR == 1 { for (i = 1; i <= NF; i++) name[i] = $i; next }
  {
    key = $1 SUBSEP $2
    if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    issued[key] += $4; runs_n[key] += $2
    # A run that issued nothing (a CA that stopped answering) has no per-certificate figures:
    # it counts in issued / orders, not in the medians.
    if ($4 == 0) next
    cnt[key]++
    for (i = 6; i <= 16; i++) val[key, cnt[key], i] = $i
  }
  END {
    print "arm", "n", "issued", "orders", "certs_per_s", "ratio_to_direct", "p50_s", "p99_s", "signer_cpu_per_cert_s", "pebble_cpu_per_cert_s", "db_cpu_per_cert_s", "client_cpu_per_cert_s", "signer_hwm_mib", "pebble_hwm_mib", "load1"
    for (k = 1; k <= keys; k++) {
      key = order[k]; split(key, parts, SUBSEP); arm = parts[1]; n = parts[2]
      ref = (arm ~ /-base$/) ? "direct-base" : "direct"
      d = (((ref SUBSEP n) in cnt) && cnt[ref SUBSEP n] > 0 ? med(val, ref SUBSEP n, 7) : "")
      c = med(val, key, 7)
      shwm = med(val, key, 14); phwm = med(val, key, 15)
      # "-" for a figure the arm does not have (read splits on tabs, which would merge empties).
      print arm, n, issued[key], runs_n[key], c, (d != "" && d > 0 ? sprintf("%.2f", c / d) : "-"), med(val, key, 8), med(val, key, 9),
            nz(med(val, key, 10)), med(val, key, 11), nz(med(val, key, 12)), med(val, key, 13),
            (shwm != "" ? sprintf("%.1f", shwm / 1024) : "-"), (phwm != "" ? sprintf("%.1f", phwm / 1024) : "-"), med(val, key, 16)
    }
  }' "$tsv" | sort -t$'\t' -k2,2n -k1,1 | awk 'NR == 1 || !/^arm/' >"$summary.tmp"
{ grep '^arm' "$summary.tmp"; grep -v '^arm' "$summary.tmp"; } >"$summary"; rm -f "$summary.tmp"

declare -A label=([sqlite]="1 replica, SQLite" [pg1]="1 replica, PostgreSQL" [pg3]="3 replicas, PostgreSQL" [direct]="direct (no signer)")
for a in sqlite pg1 pg3 direct; do label[$a-base]="${label[$a]} (base)"; done
echo "| arm | N | issued / orders | certificates/s | ratio to direct | p50 | p99 | signer CPU / cert | Pebble CPU / cert | PostgreSQL CPU / cert | client CPU / cert | signer peak RSS | Pebble peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
tail -n +2 "$summary" | while IFS=$'\t' read -r arm n issued orders cps ratio p50 p99 scpu pcpu dcpu ccpu shwm phwm _load; do
  ms() { if [ "$1" = - ]; then echo "–"; else awk -v x="$1" 'BEGIN { printf "%.1f ms", x * 1000 }'; fi; }
  mib() { if [ "$1" = - ]; then echo "–"; else echo "$1 MiB"; fi; }
  printf '| %s | %s | %s / %s | %.2f | %s | %.2f s | %.2f s | %s | %s | %s | %s | %s | %s |\n' \
    "${label[$arm]}" "$n" "$issued" "$orders" "$cps" "${ratio/-/–}" "$p50" "$p99" "$(ms "$scpu")" "$(ms "$pcpu")" \
    "$(ms "$dcpu")" "$(ms "$ccpu")" "$(mib "$shwm")" "$(mib "$phwm")"
done
echo
echo "Medians over the rounds that issued certificates (a run that issued none is counted in issued / orders only); load average (1 min) at the start of the runs: $(awk -F'\t' 'NR > 1 { printf "%s%s", (NR > 2 ? ", " : ""), $16 }' "$tsv")."
if [ -n "${FLEET_PLOT:-}" ] && command -v gnuplot >/dev/null; then
  gnuplot -e "summary='$summary'; output='$FLEET_PLOT'" "$root/bench/fleet.gnuplot"
  log "plot: $FLEET_PLOT"
fi
