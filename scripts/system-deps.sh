#!/bin/sh
# Installs the Debian packages that the demo and the integration tests run for real:
# Prosody and ejabberd (the XMPP servers; ejabberd brings erlc and the headers that
# scripts/build-ejabberd-module.sh compiles against, so erlang-dev is not needed) and Dovecot
# (IMAP, plus LMTP for later benchmarks).
# The tests start their own throwaway instances on free loopback ports; they never use the
# system-wide services, so this script also keeps the packages from starting those.
set -eu

PACKAGES="prosody ejabberd dovecot-imapd dovecot-lmtpd postfix"

missing=""
for pkg in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $pkg"
  fi
done

if [ -z "$missing" ]; then
  echo "system-deps: $PACKAGES already installed"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "system-deps: missing Debian packages:$missing; run this as root (sudo npm run system-deps)" >&2
  exit 1
fi

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
