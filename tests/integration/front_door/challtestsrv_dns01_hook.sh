#!/usr/bin/env bash
# certbot --manual-auth-hook / --manual-cleanup-hook for the lab (tests/integration/
# front_door_clients_test.cc): publishes or removes the dns-01 TXT record
# _acme-challenge.$CERTBOT_DOMAIN. in pebble-challtestsrv, whose DNS the front door validates
# dns-01 against (the lab's validation_resolver).
#
#   challtestsrv_dns01_hook.sh present|cleanup
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
    endpoint=set-txt
    body="{\"host\":\"$host\",\"value\":\"$CERTBOT_VALIDATION\"}"
    ;;
  cleanup)
    endpoint=clear-txt
    body="{\"host\":\"$host\"}"
    ;;
  *) die "unknown action $1 (present|cleanup)" ;;
esac

curl -sS -f --max-time 10 -X POST -d "$body" "$CHALLTESTSRV_MANAGEMENT/$endpoint" >/dev/null \
  || die "POST $CHALLTESTSRV_MANAGEMENT/$endpoint failed"
if [ -n "${HOOK_LOG:-}" ]; then
  echo "$1 $CERTBOT_DOMAIN ${CERTBOT_VALIDATION:-}" >>"$HOOK_LOG"
fi
