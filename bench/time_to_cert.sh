#!/usr/bin/env bash
# Time to a certificate: certbot vs lego vs acme-agent against the same Pebble (one lab of
# scripts/lab), http-01 on loopback, a fresh name per run, each client's account registered
# before the measured runs. Runs are interleaved (certbot lego agent certbot lego agent ...).
# For each client process: wall time, user+sys CPU and peak RSS (getrusage of the child); for
# acme-agent also the signer's CPU time spent for that issuance (it does the ACME and HSM part
# of the work in another process), and for every tool the HTTP requests Pebble logged.
# Prints numbers, never pass/fail.
#
#   bench/time_to_cert.sh LAB_DIR [RUNS]      (RUNS defaults to 10; at most 50)
#
# LAB_DIR is a running `scripts/lab up` directory; start it with PEBBLE_WFE_NONCEREJECT=0 (Pebble
# rejects 5 % of nonces by default, and certbot 2.1 on Python 3.11 crashes on badNonce with
# "AttributeError: can't set attribute" instead of retrying). A failed run is counted, not fatal. Writes a Markdown table to stdout and the
# raw per-run figures to LAB_DIR/bench/time_to_cert.tsv.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: bench/time_to_cert.sh LAB_DIR [RUNS]" >&2; exit 2; }
lab=$(realpath "$1")
runs=${2:-10}
[[ $runs =~ ^[0-9]+$ ]] && [ "$runs" -ge 1 ] && [ "$runs" -le 50 ] || { echo "RUNS must be 1..50" >&2; exit 2; }
# shellcheck disable=SC1091
. "$lab/env"
command -v python3 >/dev/null || { echo "python3 missing (certbot brings it): run scripts/install-deps" >&2; exit 1; }
# measure, cpu_ticks, ticks_to_seconds, BENCH_AWK_LIB (median_of).
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

work=$lab/bench/ttc
rm -rf "$work"; mkdir -p "$work"/{certbot,lego,logs}
tsv=$lab/bench/time_to_cert.tsv
eab_key=$(cat "$lab/pebble/eab.key")
pebble_log=$lab/logs/pebble.log

# Every request goes to Pebble on 127.0.0.1; the http-01 servers listen on 127.0.0.1 only.
export REQUESTS_CA_BUNDLE=$PEBBLE_TLS_CERT LEGO_CA_CERTIFICATES=$PEBBLE_TLS_CERT
certbot_dirs=(--config-dir "$work/certbot/config" --work-dir "$work/certbot/work"
              --logs-dir "$work/certbot/logs")

# Each *_cmd NAME sets the array cmd to the client's command line (/usr/bin/time needs a program).
certbot_cmd() {
  cmd=(certbot certonly --standalone --non-interactive --agree-tos --email x@lab.test \
    --server "$PEBBLE_DIRECTORY" --http-01-port "$HTTP01_PORT" --http-01-address 127.0.0.1 \
    --key-type ecdsa --elliptic-curve secp256r1 "${certbot_dirs[@]}" -d "$1")
}
lego_cmd() {
  cmd=(lego --server "$PEBBLE_DIRECTORY" --email x@lab.test --accept-tos \
    --eab --kid "$EAB_KID" --hmac "$eab_key" --key-type ec256 \
    --http --http.port "127.0.0.1:$HTTP01_PORT" --path "$work/lego" -d "$1" run)
}
agent_cmd() {
  cmd=("$ACME_AGENT" certonly --config "$AGENT_CONFIG" --non-interactive --standalone -d "$1" --cert-name "$1")
}

pebble_requests() { grep -c -- '-> calling handler()' "$pebble_log" || true; }

# --- Accounts, registered once, outside the measurement.
echo "time_to_cert: registering the certbot account" >&2
certbot register --non-interactive --agree-tos --email x@lab.test --server "$PEBBLE_DIRECTORY" \
  --eab-kid "$EAB_KID" --eab-hmac-key "$eab_key" "${certbot_dirs[@]}" >"$work/logs/certbot-register.log" 2>&1 \
  || { cat "$work/logs/certbot-register.log" >&2; exit 1; }
echo "time_to_cert: registering the lego account (a first, unmeasured issuance)" >&2
lego_cmd "lego-register-$$.lab.test"
"${cmd[@]}" >"$work/logs/lego-register.log" 2>&1 \
  || { cat "$work/logs/lego-register.log" >&2; exit 1; }
echo "time_to_cert: acme-agent uses the signer's account (registered by acme-signer init)" >&2
# One unmeasured run of each tool, so disk caches and Pebble are warm for all three alike.
for tool in certbot agent; do
  "${tool}_cmd" "warm-$tool-$$.lab.test"
  "${cmd[@]}" >"$work/logs/warm-$tool.log" 2>&1 \
    || { cat "$work/logs/warm-$tool.log" >&2; exit 1; }
done

printf 'tool\trun\tok\twall_s\tuser_s\tsys_s\tmaxrss_kb\tsigner_cpu_s\tpebble_requests\n' >"$tsv"
signer_loop_before=$(cpu_ticks "$SIGNER_PID")
for run in $(seq 1 "$runs"); do
  for tool in certbot lego agent; do
    name="$tool-$run-$$-$(date +%s%N | tail -c 7).lab.test"
    log="$work/logs/$tool-$run.log"
    signer_before=$(cpu_ticks "$SIGNER_PID")
    requests_before=$(pebble_requests)
    "${tool}_cmd" "$name"
    ok=1
    if ! measure "$work/time.out" "${cmd[@]}" >"$log" 2>&1; then
      # Counted and reported, not fatal: one client's failure says something about it too.
      ok=0
      echo "time_to_cert: $tool run $run FAILED (log $log):" >&2; tail -n 5 "$log" >&2
    fi
    signer_after=$(cpu_ticks "$SIGNER_PID")
    sleep 0.2  # let Pebble flush its log lines
    requests=$(( $(pebble_requests) - requests_before ))
    read -r wall user sys rss <"$work/time.out"
    signer_cpu=$(ticks_to_seconds "$signer_before" "$signer_after")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$run" "$ok" "$wall" "$user" "$sys" "$rss" "$signer_cpu" "$requests" >>"$tsv"
    echo "time_to_cert: run $run $tool: wall ${wall}s user ${user}s sys ${sys}s maxrss ${rss}KB requests $requests" >&2
  done
done

# The signer is idle while certbot and lego run, so its CPU time over the whole loop divided by
# the runs is the per-issuance cost with better resolution than one run's clock ticks.
signer_loop=$(ticks_to_seconds "$signer_loop_before" "$(cpu_ticks "$SIGNER_PID")" "$runs")

# --- Medians and ratios (vs acme-agent).
awk -F'\t' -v runs="$runs" -v signer_loop="$signer_loop" "$BENCH_AWK_LIB"'
  function median(tool, col,    n, i, v) {
    n = 0
    for (i = 1; i <= runs; i++) { if ((tool, i, col) in val) v[++n] = val[tool, i, col] }
    return median_of(v, n)
  }
  NR > 1 && $3 == 0 { failed[$1]++ }
  NR > 1 && $3 == 1 { ok[$1]++; val[$1, $2, "wall"] = $4; val[$1, $2, "cpu"] = $5 + $6; val[$1, $2, "rss"] = $7
                      val[$1, $2, "signer"] = $8; val[$1, $2, "req"] = $9 }
  END {
    label["certbot"] = "certbot"; label["lego"] = "lego"; label["agent"] = "acme-agent"
    aw = median("agent", "wall"); ac = median("agent", "cpu"); ar = median("agent", "rss")
    print "| client | issued / runs | wall time | user+sys CPU | peak RSS | Pebble requests | wall / acme-agent | CPU / acme-agent | RSS / acme-agent |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    split("certbot lego agent", tools, " ")
    for (k = 1; k <= 3; k++) {
      t = tools[k]; w = median(t, "wall"); c = median(t, "cpu"); r = median(t, "rss")
      printf "| %s | %d / %d | %.2f s | %.3f s | %.1f MiB | %d | %.2f | %.2f | %.2f |\n", label[t], ok[t], ok[t] + failed[t], w, c, r / 1024, median(t, "req"), (aw ? w / aw : 0), (ac ? c / ac : 0), (ar ? r / ar : 0)
    }
    printf "\nacme-agent issuances also cost the signer process %.3f s CPU each (its CPU time over all %d runs of the loop / %d; not counted in the acme-agent row).\n", signer_loop, runs, runs
  }' "$tsv"
