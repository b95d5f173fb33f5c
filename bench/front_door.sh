#!/usr/bin/env bash
# The ACME front door's cost: the same certbot straight to Pebble ("direct") and through the
# signer's front door ("front door", which answers the client's http-01 itself and gets the
# certificate from Pebble with its own account, answering Pebble's dns-01 through the lab's
# upstream_dns01_hook into challtestsrv). Pebble is strict in both arms (it really validates:
# http-01 on HTTP01_PORT for the direct arm, dns-01 through challtestsrv for the front door's
# upstream order). One lab of scripts/lab, a fresh name per run, each arm's account registered
# before the measured runs, runs interleaved (direct, front door, front door, direct, … : the
# order alternates so that neither arm always runs right after the other).
# Per run: wall time and user+sys CPU of the certbot process (posix_spawn + wait4, bench/lib.sh),
# the signer's CPU time during that run (utime+stime delta of /proc/$SIGNER_PID/stat, clock-tick
# resolution), the HTTP requests Pebble logged, ok/fail. Prints numbers and whether the issue's
# target (the front door adds at most 25 % wall time, medians) is met; a failed run is counted,
# not fatal.
#
#   bench/front_door.sh LAB_DIR [RUNS]      (RUNS defaults to 10; at most 50)
#
# LAB_DIR is a running `scripts/lab up` directory; start it with PEBBLE_WFE_NONCEREJECT=0 (certbot
# 2.1 on Python 3.11 crashes on badNonce, see bench/time_to_cert.sh). Writes a Markdown table to
# stdout and the raw per-run figures to LAB_DIR/bench/front_door.tsv; for the front-door runs, the
# times between the signer's FrontDoor/* audit records go to LAB_DIR/bench/front_door_phases.tsv
# (summarised under the table).
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bench/front_door.sh LAB_DIR [RUNS]" >&2; exit 2; }
lab=$(realpath "$1")
runs=${2:-10}
[[ $runs =~ ^[0-9]+$ ]] && [ "$runs" -ge 1 ] && [ "$runs" -le 50 ] || { echo "RUNS must be 1..50" >&2; exit 2; }
# shellcheck disable=SC1091
. "$lab/env"
command -v python3 >/dev/null || { echo "python3 missing (certbot brings it): run scripts/install-deps" >&2; exit 1; }
command -v certbot >/dev/null || { echo "certbot missing: run scripts/install-deps" >&2; exit 1; }
# measure, cpu_ticks, ticks_to_seconds, BENCH_AWK_LIB (median_of).
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

work=$lab/bench/fd
rm -rf "$work"; mkdir -p "$work"/{direct,frontdoor,logs}
tsv=$lab/bench/front_door.tsv
phases_tsv=$lab/bench/front_door_phases.tsv
pebble_log=$lab/logs/pebble.log
audit_log=$lab/signer/audit/audit.log
pebble_eab_key=$(cat "$lab/pebble/eab.key")

# Each arm has its own certbot directories (its own account) and trusts its own server's TLS
# certificate. Every request goes to 127.0.0.1; certbot's http-01 server listens on 127.0.0.1.
arm_dirs() { echo --config-dir "$work/$1/config" --work-dir "$work/$1/work" --logs-dir "$work/$1/logs"; }
declare -A server=([direct]=$PEBBLE_DIRECTORY [frontdoor]=$ACME_SERVER_DIRECTORY)
declare -A ca_bundle=([direct]=$PEBBLE_TLS_CERT [frontdoor]=$ACME_SERVER_CA)
declare -A label=([direct]="certbot → Pebble (direct)" [frontdoor]="certbot → front door → Pebble")

# certbot_cmd ARM NAME sets the array cmd to one issuance (env: /usr/bin/time-style, one program).
certbot_cmd() {
  local dirs; read -r -a dirs <<<"$(arm_dirs "$1")"
  cmd=(env "REQUESTS_CA_BUNDLE=${ca_bundle[$1]}" certbot certonly --standalone --non-interactive
       --agree-tos --server "${server[$1]}" --http-01-port "$HTTP01_PORT" --http-01-address 127.0.0.1
       --key-type ecdsa --elliptic-curve secp256r1 "${dirs[@]}" -d "$2")
}
# register ARM KID HMAC: the arm's account, outside the measurement.
register() {
  local dirs; read -r -a dirs <<<"$(arm_dirs "$1")"
  REQUESTS_CA_BUNDLE=${ca_bundle[$1]} certbot register --non-interactive --agree-tos \
    --register-unsafely-without-email --server "${server[$1]}" --eab-kid "$2" --eab-hmac-key "$3" \
    "${dirs[@]}" >"$work/logs/register-$1.log" 2>&1 \
    || { cat "$work/logs/register-$1.log" >&2; echo "front_door: registering the $1 account failed" >&2; exit 1; }
}
# cutime+cstime of a process in clock ticks: its waited-for children (the signer's dns-01 hook
# runs), not in cpu_ticks.
child_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$1/stat"; }
pebble_requests() { grep -c -- '-> calling handler()' "$pebble_log" || true; }

# --- Accounts, registered once, outside the measurement.
echo "front_door: registering the direct account (Pebble EAB $EAB_KID)" >&2
register direct "$EAB_KID" "$pebble_eab_key"
echo "front_door: registering the front-door account (a fresh credential: acme-signer enroll-client --name web1)" >&2
credential=$("$ACME_SIGNER" enroll-client --config "$SIGNER_CONFIG" --name web1 --json)
field() { printf '%s' "$credential" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
register frontdoor "$(field eab_kid)" "$(field eab_hmac_key)"
unset credential
# One unmeasured issuance per arm, so disk caches, Pebble and the signer are warm for both alike.
for arm in direct frontdoor; do
  certbot_cmd "$arm" "warm-$arm-$$.lab.test"
  "${cmd[@]}" >"$work/logs/warm-$arm.log" 2>&1 \
    || { tail -n 20 "$work/logs/warm-$arm.log" >&2; echo "front_door: the $arm warm-up issuance failed" >&2; exit 1; }
done

printf 'arm\trun\tok\twall_s\tuser_s\tsys_s\tsigner_cpu_s\tsigner_ticks\thook_cpu_s\tpebble_requests\tname\n' >"$tsv"
for run in $(seq 1 "$runs"); do
  if (( run % 2 )); then arms=(direct frontdoor); else arms=(frontdoor direct); fi
  for arm in "${arms[@]}"; do
    name="$arm-$run-$$-$(date +%s%N | tail -c 7).lab.test"
    log="$work/logs/$arm-$run.log"
    certbot_cmd "$arm" "$name"
    signer_before=$(cpu_ticks "$SIGNER_PID")
    hooks_before=$(child_ticks "$SIGNER_PID")
    requests_before=$(pebble_requests)
    ok=1
    if ! measure "$work/time.out" "${cmd[@]}" >"$log" 2>&1; then
      # Counted and reported, not fatal.
      ok=0
      echo "front_door: $arm run $run FAILED (log $log):" >&2; tail -n 5 "$log" >&2
    fi
    sleep 0.2  # let Pebble flush its log lines and the signer run its dns-01 cleanup hook
    signer_after=$(cpu_ticks "$SIGNER_PID")
    hooks_after=$(child_ticks "$SIGNER_PID")
    requests=$(( $(pebble_requests) - requests_before ))
    read -r wall user sys _ <"$work/time.out"
    signer_cpu=$(ticks_to_seconds "$signer_before" "$signer_after")
    hook_cpu=$(ticks_to_seconds "$hooks_before" "$hooks_after")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$arm" "$run" "$ok" "$wall" "$user" "$sys" \
      "$signer_cpu" "$((signer_after - signer_before))" "$hook_cpu" "$requests" "$name" >>"$tsv"
    echo "front_door: run $run $arm: wall ${wall}s user ${user}s sys ${sys}s signer ${signer_cpu}s requests $requests" >&2
  done
done

# --- Where a front-door issuance spends its time: the signer's FrontDoor/* audit records for each
# name, in seconds after the run's new-order: validation started (certbot's challenge POST), the
# http-01 validation's result, finalize (sent to the CA), certificate issued (the upstream order
# is valid and the certificate stored), and the first order read that returned valid (when certbot
# learnt it).
python3 - "$tsv" "$audit_log" "$phases_tsv" <<'PY'
import datetime, json, sys
tsv, audit, out = sys.argv[1:]
names = [l.split("\t")[10].strip() for l in open(tsv).read().splitlines()[1:]
         if l.startswith("frontdoor\t") and l.split("\t")[2] == "1"]
wanted = {f"dns:{n}": n for n in names}
records = {}
for line in open(audit):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if not r.get("rpc", "").startswith("FrontDoor/") or "time" not in r:
        continue
    for identifier in r.get("request", {}).get("identifiers", []):
        if identifier in wanted:
            t = datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
            records.setdefault(wanted[identifier], []).append((t, r))
cols = ["validation_started", "validated", "finalize", "issued", "client_saw_valid"]
with open(out, "w") as f:
    f.write("name\t" + "\t".join(cols) + "\n")
    for n in names:
        rs = sorted(records.get(n, []), key=lambda x: x[0])
        start = [t for t, r in rs if r["rpc"] == "FrontDoor/new-order"]
        if not start:
            continue
        first = {}
        for t, r in rs:
            rpc, reason = r["rpc"], r.get("reason", "")
            status = r.get("outcome", {}).get("status", "")
            key = None
            if rpc == "FrontDoor/chall" and "validation started" in reason:
                key = "validation_started"
            elif rpc == "FrontDoor/validation":
                key = "validated"
            elif rpc == "FrontDoor/finalize":
                key = "finalize"
            elif rpc == "FrontDoor/issue":
                key = "issued"
            elif rpc == "FrontDoor/order" and status == "valid" and "issued" in first:
                key = "client_saw_valid"
            if key and key not in first:
                first[key] = t - start[0]
        f.write(n + "\t" + "\t".join(f"{first[c]:.3f}" if c in first else "" for c in cols) + "\n")
PY

# --- Medians, the ratio and the target.
awk -F'\t' -v runs="$runs" -v phases="$phases_tsv" \
    -v l_direct="${label[direct]}" -v l_fd="${label[frontdoor]}" "$BENCH_AWK_LIB"'
  function median(arm, col,    n, i, v) {
    n = 0
    for (i = 1; i <= runs; i++) { if ((arm, i, col) in val) v[++n] = val[arm, i, col] }
    return median_of(v, n)
  }
  NR > 1 && $3 == 0 { failed[$1]++ }
  NR > 1 && $3 == 1 { ok[$1]++; val[$1, $2, "wall"] = $4; val[$1, $2, "cpu"] = $5 + $6
                      val[$1, $2, "signer"] = $7; val[$1, $2, "req"] = $10; signer_sum[$1] += $7
                      hook_sum[$1] += $9 }
  END {
    label["direct"] = l_direct; label["frontdoor"] = l_fd
    dw = median("direct", "wall")
    print "| arm | issued / runs | wall time | certbot user+sys CPU | signer CPU per issuance (median; mean) | Pebble requests | wall / direct |"
    print "| --- | --- | --- | --- | --- | --- | --- |"
    split("direct frontdoor", arms, " ")
    for (k = 1; k <= 2; k++) {
      a = arms[k]; w = median(a, "wall")
      printf "| %s | %d / %d | %.2f s | %.3f s | %.3f s; %.3f s | %d | %.2f |\n", label[a], ok[a], ok[a] + failed[a], w, median(a, "cpu"), median(a, "signer"), (ok[a] ? signer_sum[a] / ok[a] : 0), median(a, "req"), (dw ? w / dw : 0)
    }
    printf "\nThe signer'"'"'s dns-01 hook processes (lab: curl to challtestsrv), not in the signer column: %.3f s CPU per front-door issuance (mean).\n", (ok["frontdoor"] ? hook_sum["frontdoor"] / ok["frontdoor"] : 0)
    fw = median("frontdoor", "wall"); ratio = dw ? fw / dw : 0
    printf "\nMedian wall time, front door / direct: %.2f (%+.0f %%, %+.2f s). Target (at most +25 %%): %s.\n", ratio, (ratio - 1) * 100, fw - dw, (ok["frontdoor"] && ok["direct"] && ratio <= 1.25) ? "met" : "NOT met"
    # The phases of the front-door runs (audit record times, s after each new-order).
    n = 0
    while ((getline line < phases) > 0) {
      if (++n == 1) continue
      split(line, f, "\t")
      for (c = 2; c <= 6; c++) if (f[c] != "") { cnt[c]++; ph[c, cnt[c]] = f[c] }
      if (f[4] != "" && f[5] != "") { up[++nup] = f[5] - f[4] }
      if (f[5] != "" && f[6] != "") { lag[++nlag] = f[6] - f[5] }
    }
    if (n > 1) {
      split("validation started,validated,finalize,issued,certbot saw valid", label_of, ",")
      printf "\nFront-door runs, medians from the signer'"'"'s FrontDoor/* audit records (s after the run'"'"'s new-order):"
      for (c = 2; c <= 6; c++) {
        k = 0; split("", v)
        for (i = 1; i <= cnt[c]; i++) v[++k] = ph[c, i]
        printf " %s %.2f%s", label_of[c - 1], median_of(v, k), (c < 6 ? ";" : ".\n")
      }
      printf "Finalize to issued (the upstream order at Pebble) %.2f s; issued to certbot seeing the order valid %.2f s (medians).\n", median_of(up, nup), median_of(lag, nlag)
    }
  }' "$tsv"
