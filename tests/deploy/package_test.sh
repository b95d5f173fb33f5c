#!/usr/bin/env bash
# The Debian packages: scripts/package packs the binaries this build already made
# (ACME_SIGNER_BIN_DIR; never a third compilation), both .deb files hold what they must and
# nothing under /etc, lintian finds nothing (with the packages' own overrides), and the packages
# install, set up their users, group and directories, and purge again.
#
# As root (CI): `apt-get install` of both packages on this machine, the installed units checked
# with `systemd-analyze verify` (man pages included), `acme-signer --help` from /usr/bin, then
# `apt-get purge`; users and the group this test created are deleted afterwards. A machine that
# already has either package installed is not touched: the install checks are then made in a
# throwaway root, as without root (dpkg-deb -x, systemd-sysusers/systemd-tmpfiles --root).
#
# Usage: package_test.sh SOURCE_DIR (ctest passes it; ACME_SIGNER_BIN_DIR from the environment).
# Exit 77 (skipped) when a tool is missing on a developer machine; under CI=true that fails.
set -euo pipefail

source_dir=$1
bin_dir=${ACME_SIGNER_BIN_DIR:?ACME_SIGNER_BIN_DIR must name the directory with the binaries}

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else fail "$what"; fi
}

for tool in dpkg-buildpackage dh help2man lintian dpkg-deb systemd-analyze systemd-sysusers \
  systemd-tmpfiles; do
  if ! command -v "$tool" >/dev/null; then
    if [ "${CI:-}" = true ]; then
      echo "FAIL: $tool not found (scripts/install-deps installs it)" >&2
      exit 1
    fi
    echo "SKIP: $tool not found (scripts/install-deps installs it)"
    exit 77
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/package-test.XXXXXX")
installed_here=0
created_accounts=()
cleanup() {
  if [ "$installed_here" = 1 ]; then
    apt-get purge -y -qq acme-signer acme-agent >/dev/null 2>&1 || true
  fi
  local account
  for account in "${created_accounts[@]}"; do
    case $account in
      user:*) userdel "${account#user:}" 2>/dev/null || true ;;
      group:*) groupdel "${account#group:}" 2>/dev/null || true ;;
    esac
  done
  rm -rf "$work"
}
trap cleanup EXIT

version=$(sed -n 's/^project([a-z-]* VERSION \([0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")-1
arch=$(dpkg --print-architecture)

# --- build -----------------------------------------------------------------------------------
# The test build's binaries are sanitizer builds of several hundred MB: fast gzip instead of
# xz -6 (dpkg-deb takes minutes for them otherwise). The content is the same.
start=$(date +%s)
DPKG_DEB_COMPRESSOR_TYPE=gzip DPKG_DEB_COMPRESSOR_LEVEL=1 \
  "$source_dir/scripts/package" "$work/out" > "$work/package.out"
echo "scripts/package: $(($(date +%s) - start)) s"
signer_deb=$work/out/acme-signer_${version}_$arch.deb
agent_deb=$work/out/acme-agent_${version}_$arch.deb
for deb in "$signer_deb" "$agent_deb"; do
  [ -f "$deb" ] || { echo "FAIL: $deb not built; scripts/package wrote:" >&2; ls -l "$work/out" >&2; exit 1; }
  echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"
done

# --- contents --------------------------------------------------------------------------------
# Each package's file list, read once (dpkg-deb decompresses the whole archive for it).
dpkg-deb -c "$signer_deb" | awk '{print $6}' > "$work/signer.files"
dpkg-deb -c "$agent_deb" | awk '{print $6}' > "$work/agent.files"
contains() {  # contains DEB PATH: the package holds ./PATH
  if [ "$1" = "$signer_deb" ]; then grep -qx "./$2" "$work/signer.files"; else grep -qx "./$2" "$work/agent.files"; fi
}
for path in usr/bin/acme-signer usr/bin/acme-hsm lib/systemd/system/acme-signer.service \
  usr/lib/sysusers.d/acme-signer.conf usr/lib/tmpfiles.d/acme-signer.conf \
  usr/share/man/man8/acme-signer.8.gz usr/share/man/man8/acme-hsm.8.gz \
  usr/share/doc/acme-signer/examples/acme-signer.toml usr/share/doc/acme-signer/signer.md \
  usr/share/doc/acme-signer/audit.md usr/share/doc/acme-signer/copyright \
  usr/share/doc/acme-signer/changelog.Debian.gz usr/share/lintian/overrides/acme-signer; do
  check "acme-signer holds /$path" contains "$signer_deb" "$path"
done
for path in usr/bin/acme-agent lib/systemd/system/acme-agent.service \
  lib/systemd/system/acme-agent.timer lib/systemd/system/acme-agent-reload.path \
  lib/systemd/system/acme-agent-reload.service usr/lib/sysusers.d/acme-agent.conf \
  usr/lib/tmpfiles.d/acme-agent.conf usr/share/man/man1/acme-agent.1.gz \
  usr/share/doc/acme-agent/examples/acme-agent.toml \
  usr/share/doc/acme-agent/examples/acme-agent-reload.default \
  usr/share/doc/acme-agent/agent.md usr/share/doc/acme-agent/copyright; do
  check "acme-agent holds /$path" contains "$agent_deb" "$path"
done
for deb in "$signer_deb" "$agent_deb"; do
  name=$(dpkg-deb -f "$deb" Package)
  files=$work/agent.files
  [ "$deb" = "$signer_deb" ] && files=$work/signer.files
  check "$name installs nothing under /etc" test -z "$(grep '^\./etc/' "$files")"
  check "$name has no conffiles" test -z "$(dpkg-deb -I "$deb" conffiles 2>/dev/null)"
  check "$name version is $version" test "$(dpkg-deb -f "$deb" Version)" = "$version"
  check "$name depends on libc6 (dh_shlibdeps)" grep -q 'libc6' <<<"$(dpkg-deb -f "$deb" Depends)"
done
check "acme-signer recommends p11-kit" test "$(dpkg-deb -f "$signer_deb" Recommends)" = "p11-kit"
check "the man page lists audit verify's options" \
  grep -q 'audit verify' <<<"$(dpkg-deb --fsys-tarfile "$signer_deb" |
    tar -xOf - ./usr/share/man/man8/acme-signer.8.gz | gzip -dc)"

# --- lintian ---------------------------------------------------------------------------------
# With the packages' overrides (deploy/debian/*.lintian-overrides), every tag down to info
# fails the test. A sanitizer build adds two tags that the Release packages do not have; exactly
# these lines are accepted, and only for such a build:
#  hardening-no-fortify-functions: CMakeLists.txt leaves -D_FORTIFY_SOURCE out of sanitizer
#    builds (ASan intercepts those libc functions itself).
#  spelling-error-in-binary dimentional: an error message of nlohmann/json's BJData reader
#    (/usr/include/nlohmann/detail/input/binary_reader.hpp), code the -O0 build keeps and the
#    Release build drops; not our text.
accepted='^$'
if readelf -d "$bin_dir/acme-signer" | grep -q 'NEEDED.*libasan'; then
  accepted='^I: acme-(signer|agent): (hardening-no-fortify-functions|spelling-error-in-binary dimentional dimensional) \[usr/bin/acme-(signer|hsm|agent)\]$'
  echo "sanitizer build: lintian lines accepted: $accepted"
fi
start=$(date +%s)
lintian --display-info "$signer_deb" "$agent_deb" > "$work/lintian.out" 2>&1 || true
grep -E '^[EWIP]:|^N: [0-9]+ hints' "$work/lintian.out" || true
check "lintian reports no tag (took $(($(date +%s) - start)) s)" \
  test -z "$(grep -E '^[EWI]:' "$work/lintian.out" | grep -Ev "$accepted")"
check "lintian ran (its output names no error of its own)" \
  test -z "$(grep -vE '^[EWIPN]:|^running with root privileges' "$work/lintian.out")"

# --- install ---------------------------------------------------------------------------------
units=(acme-signer.service acme-agent.service acme-agent.timer acme-agent-reload.path
  acme-agent-reload.service)

# check_installed_tree ROOT OWNERS: users, directories (with owners when OWNERS=1), units,
# nothing in /etc.
check_installed_tree() {
  local root=$1 owners=$2 unit entry
  check "user acme-signer" grep -q '^acme-signer:' "$root/etc/passwd"
  check "user acme-agent" grep -q '^acme-agent:' "$root/etc/passwd"
  check "group acme-audit" grep -q '^acme-audit:' "$root/etc/group"
  for entry in "/var/lib/acme-signer 700 acme-signer acme-signer" \
    "/var/log/acme-signer 2750 acme-signer acme-audit" \
    "/var/lib/acme-agent 750 acme-agent acme-agent"; do
    set -- $entry
    if [ "$owners" = 1 ]; then
      check "$1 is $2 $3:$4" test "$(stat -c '%a %U:%G' "$root$1" 2>&1)" = "$2 $3:$4"
    else
      # Without root nothing can be given these owners (or the setgid bit): the entry instead.
      check "tmpfiles makes $1 $2 $3:$4" \
        grep -qE "^d $1 0?$2 $3 $4 " "$root"/usr/lib/tmpfiles.d/acme-*.conf
    fi
  done
  for unit in "${units[@]}"; do
    check "$unit installed" test -f "$root/lib/systemd/system/$unit"
    check "$unit not enabled" test -z "$(find "$root/etc/systemd/system" -name "$unit" 2>/dev/null)"
  done
  check "no /etc/acme-signer" test ! -e "$root/etc/acme-signer"
  check "no /etc/acme-agent" test ! -e "$root/etc/acme-agent"
}

# verify_units [ROOT]: `systemd-analyze verify` of the units installed in ROOT (default /)
# prints nothing. For a throwaway root, copies of the units with /usr/bin/ pointed into ROOT
# (verify insists that ExecStart= names an executable; --root= would need a whole systemd
# tree).
verify_units() {
  local root=${1:-} out unit files=()
  if [ -z "$root" ]; then
    files=("${units[@]/#//lib/systemd/system/}")
  else
    mkdir -p "$work/units"
    for unit in "${units[@]}"; do
      sed "s#/usr/bin/acme-#$root/usr/bin/acme-#g" "$root/lib/systemd/system/$unit" > "$work/units/$unit"
      files+=("$work/units/$unit")
    done
  fi
  out=$(systemd-analyze verify --man="$([ -z "$root" ] && echo yes || echo no)" "${files[@]}" 2>&1) || true
  check "systemd-analyze verify of the installed units prints nothing" test -z "$out"
  [ -z "$out" ] || echo "$out" >&2
}

already=""
for p in acme-signer acme-agent; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed'; then already+=" $p"; fi
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "$already" ]; then
  echo "installing system-wide (root): apt-get install, then apt-get purge"
  # Users first: cleanup deletes in this order, and userdel takes each user's own group along.
  for account in user:acme-signer user:acme-agent group:acme-audit; do
    case $account in
      user:*) getent passwd "${account#user:}" >/dev/null || created_accounts+=("$account") ;;
      group:*) getent group "${account#group:}" >/dev/null || created_accounts+=("$account") ;;
    esac
  done
  start=$(date +%s)
  installed_here=1
  # Never the network: every dependency must be on this machine already, so apt's plan may
  # install nothing but the two packages. (--no-download cannot say it: apt 2.6 then fails with
  # "Pathname to install is not absolute" for the local .deb files.)
  plan=$(apt-get install -s --no-install-recommends "$signer_deb" "$agent_deb" 2>&1 | grep '^Inst ' || true)
  if [ "$(awk '{print $2}' <<<"$plan" | sort | tr '\n' ' ')" != "acme-agent acme-signer " ]; then
    installed_here=0
    echo "FAIL: apt-get would install more than the two packages (missing dependencies):" >&2
    echo "$plan" >&2
    exit 1
  fi
  apt-get install -y -qq --no-install-recommends "$signer_deb" "$agent_deb" \
    > "$work/apt.out" 2>&1 || { cat "$work/apt.out" >&2; fail "apt-get install"; exit 1; }
  check "apt-get install printed no warning or error" \
    test -z "$(grep -iE 'warning|error|failed' "$work/apt.out")"
  grep -iE 'warning|error|failed' "$work/apt.out" >&2 || true
  echo "apt-get install: $(($(date +%s) - start)) s"
  check_installed_tree / 1
  verify_units
  check "/usr/bin/acme-signer --help runs" grep -q 'usage: acme-signer' <<<"$(/usr/bin/acme-signer --help 2>&1)"
  check "/usr/bin/acme-agent --version is $version" \
    test "$(/usr/bin/acme-agent --version 2>&1)" = "acme-agent ${version%-*}"
  check "man acme-signer finds the page" test -n "$(man -w acme-signer 2>/dev/null)"
  start=$(date +%s)
  apt-get purge -y -qq acme-signer acme-agent > "$work/apt.out" 2>&1 ||
    { cat "$work/apt.out" >&2; fail "apt-get purge"; }
  installed_here=0
  echo "apt-get purge: $(($(date +%s) - start)) s"
  for p in acme-signer acme-agent; do
    check "$p purged" test -z "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep installed)"
  done
  for path in /usr/bin/acme-signer /usr/bin/acme-agent /lib/systemd/system/acme-signer.service \
    /lib/systemd/system/acme-agent.timer /var/lib/acme-signer /var/log/acme-signer \
    /var/lib/acme-agent /usr/lib/sysusers.d/acme-signer.conf; do
    check "$path gone after purge" test ! -e "$path"
  done
else
  if [ -n "$already" ]; then
    echo "not touching this machine (already installed:$already): checking a throwaway root"
  else
    echo "not root: checking a throwaway root (dpkg-deb -x) instead of installing"
  fi
  root=$work/root
  mkdir -p "$root/etc"
  dpkg-deb -x "$signer_deb" "$root"
  dpkg-deb -x "$agent_deb" "$root"
  # What the maintainer scripts run (dh_installsysusers, dh_installtmpfiles), against the root;
  # without root the directories cannot be given their owners.
  owners=0
  [ "$(id -u)" = 0 ] && owners=1
  systemd-sysusers --root="$root" >/dev/null
  systemd-tmpfiles --root="$root" --create acme-signer.conf acme-agent.conf 2>/dev/null ||
    [ "$owners" = 0 ]
  check_installed_tree "$root" "$owners"
  verify_units "$root"
  check "the extracted acme-signer --help runs" \
    grep -q 'usage: acme-signer' <<<"$("$root/usr/bin/acme-signer" --help 2>&1)"
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all checks passed"
