#!/usr/bin/env bash
# certbot --manual-auth-hook / --manual-cleanup-hook for the lab (tests/integration/
# front_door_clients_test.cc): publishes the dns-01 TXT record _acme-challenge.$CERTBOT_DOMAIN.
# in pebble-challtestsrv, whose DNS the front door validates dns-01 against (the lab's
# validation_resolver).
#
#   challtestsrv_dns01_hook.sh present|cleanup
#
# cleanup only records the call: challtestsrv's clear-txt removes every value of a name, and in
# the lab the signer's own upstream dns-01 (its hook, for Pebble) uses the same name in the same
# challtestsrv and may still be pending. The test's names are unique per run, so a record left
# behind is harmless.
#
# Environment: CHALLTESTSRV_MANAGEMENT (the lab's env: http://127.0.0.1:PORT), and from certbot
# CERTBOT_DOMAIN and CERTBOT_VALIDATION. When HOOK_LOG is set, one line "ACTION DOMAIN VALUE"
# is appended to it per call, so the test can tell that dns-01 was really used.
# Loopback only: the management URL is refused unless it is http://127.0.0.1:PORT.
set -euo pipefail

die() { echo "challtestsrv_dns01_hook: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 present|cleanup"
: "${CHALLTESTSRV_MANAGEMENT:?not set (from the lab env)}"
: "${CERTBOT_DOMAIN:?not set (run by certbot)}"
[[ "$CHALLTESTSRV_MANAGEMENT" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] \
  || die "CHALLTESTSRV_MANAGEMENT is not http://127.0.0.1:PORT: $CHALLTESTSRV_MANAGEMENT"
# Names and values are DNS labels and base64url: nothing to escape in JSON, but check.
[[ "$CERTBOT_DOMAIN" =~ ^[A-Za-z0-9.-]+$ ]] || die "unexpected domain: $CERTBOT_DOMAIN"
host="_acme-challenge.${CERTBOT_DOMAIN}."

case "$1" in
  present)
    : "${CERTBOT_VALIDATION:?not set (run by certbot)}"
    [[ "$CERTBOT_VALIDATION" =~ ^[A-Za-z0-9_-]+$ ]] || die "unexpected validation value"
    curl -sS -f --max-time 10 --noproxy '*' -X POST \
      -d "{\"host\":\"$host\",\"value\":\"$CERTBOT_VALIDATION\"}" \
      "$CHALLTESTSRV_MANAGEMENT/set-txt" >/dev/null \
      || die "POST $CHALLTESTSRV_MANAGEMENT/set-txt failed"
    ;;
  cleanup) ;;
  *) die "unknown action $1 (present|cleanup)" ;;
esac
if [ -n "${HOOK_LOG:-}" ]; then
  echo "$1 $CERTBOT_DOMAIN ${CERTBOT_VALIDATION:-}" >>"$HOOK_LOG"
fi
