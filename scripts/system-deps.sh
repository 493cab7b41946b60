#!/bin/sh
# Installs what the demo and the integration tests run for real, for both server generations:
#
# 1. The host's own Debian packages: Prosody and ejabberd (the XMPP servers; ejabberd brings erlc
#    and the headers that scripts/build-ejabberd-module.sh compiles against), Dovecot (IMAP and
#    LMTP; its Lua push driver is part of dovecot-core), Postfix, and mmdebstrap.
# 2. A root with the other Debian generation's servers, built by mmdebstrap from Debian's own
#    mirror under /var/cache/xmpp-maildir/<suite>: trixie (Debian 13) on a Debian 12 host,
#    bookworm (Debian 12) on a Debian 13 host. The tests run those servers inside it
#    (harness/generation.ts). The host's apt sources are never changed: pointing a Debian 12
#    host's apt at trixie would half-upgrade it (libc6, python3) on the next install.
#
# The tests start their own throwaway instances on free loopback ports; they never use the
# system-wide services, so this script also keeps the packages from starting those.
set -eu

# mount and unshare (util-linux): the tests run the other generation's servers in a mount
# namespace (harness/generation.ts); present on any installed Debian, not in a minimal root.
PACKAGES="prosody ejabberd dovecot-imapd dovecot-lmtpd postfix mmdebstrap mount util-linux"
# What the root holds: the same servers, plus lua5.4 for Dovecot's Lua push script.
ROOT_PACKAGES="prosody,ejabberd,dovecot-imapd,dovecot-lmtpd,postfix,lua5.4"
# Both can be overridden, e.g. for a local mirror; harness/generation.ts reads the same variable.
ROOTS_DIR=${XMPP_MAILDIR_ROOTS_DIR:-/var/cache/xmpp-maildir}
MIRROR=${XMPP_MAILDIR_MIRROR:-http://deb.debian.org/debian}
# Must match harness/generation.ts (ROOT_STAMP). Bump FORMAT when the root's contents change,
# so an older root is rebuilt instead of used.
STAMP=etc/xmpp-maildir-root
FORMAT=1

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "system-deps: $1; run this as root (sudo npm run system-deps)" >&2
    exit 1
  fi
}

install_host_packages() {
  missing=""
  for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing="$missing $pkg"
    fi
  done
  if [ -z "$missing" ]; then
    echo "system-deps: $PACKAGES already installed"
    return 0
  fi
  need_root "missing Debian packages:$missing"
  # Debian starts a package's service on install unless policy-rc.d says no (exit 101).
  # Add one for the duration of the install if the machine has none, and remove it afterwards.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "system-deps: installing$missing"
  apt-get update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -q --no-install-recommends $missing
  rm -f "$policy"
  trap - EXIT
}

# The other generation's suite, from the host's /etc/debian_version ("12.11", "13.1", "trixie/sid").
other_suite() {
  case "$(cat /etc/debian_version)" in
    12.*|bookworm*) echo trixie ;;
    13.*|trixie*) echo bookworm ;;
    *) echo "system-deps: unsupported Debian version $(cat /etc/debian_version); Debian 12 or 13 is needed" >&2; exit 1 ;;
  esac
}

build_root() {
  suite=$1
  root="$ROOTS_DIR/$suite"
  expected="format=$FORMAT suite=$suite packages=$ROOT_PACKAGES"
  if [ -f "$root/$STAMP" ] && [ "$(head -n 1 "$root/$STAMP")" = "$expected" ]; then
    echo "system-deps: $suite servers' root $root is complete; reusing it"
    return 0
  fi
  need_root "the $suite servers' root $root is missing or incomplete"
  mkdir -p "$ROOTS_DIR"
  # Built aside and renamed into place only once complete: a root is never half-used.
  tmp="$ROOTS_DIR/.$suite.building.$$"
  log="$ROOTS_DIR/$suite-build.log"
  rm -rf "$tmp"
  echo "system-deps: building the $suite servers' root in $root with mmdebstrap (about 1 min, 270 MB; log: $log)"
  started=$(date +%s)
  if ! mmdebstrap --variant=apt --include="$ROOT_PACKAGES" "$suite" "$tmp" "$MIRROR" > "$log" 2>&1; then
    rm -rf "$tmp"
    echo "system-deps: could not build the $suite root: mmdebstrap failed ($(grep '^E:' "$log" | head -n 1)); check that $MIRROR is reachable and run npm run system-deps again" >&2
    exit 1
  fi
  # mmdebstrap writes neither: name lookups of localhost (ejabberd's node name) need the first,
  # tools that read the mount table the second.
  cp /etc/hosts "$tmp/etc/hosts"
  ln -sf /proc/self/mounts "$tmp/etc/mtab"
  printf '%s\nbuilt=%s\n' "$expected" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp/$STAMP"
  if [ -e "$root" ]; then
    mv "$root" "$root.old.$$"
  fi
  mv "$tmp" "$root"
  rm -rf "$root.old.$$"
  echo "system-deps: $suite root ready in $(( $(date +%s) - started )) s ($(du -sh "$root" | cut -f1))"
}

install_host_packages
suite=$(other_suite)
mkdir -p "$ROOTS_DIR" 2>/dev/null || true
if [ -d "$ROOTS_DIR" ] && command -v flock >/dev/null 2>&1; then
  # Two runs at once would build the same root twice; the second waits and then reuses it.
  exec 9>"$ROOTS_DIR/.lock"
  flock 9
fi
build_root "$suite"
