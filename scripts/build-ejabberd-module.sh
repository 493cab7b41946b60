#!/bin/sh
# Compiles server/ejabberd/*.erl (mod_xmpp_maildir and its outbox) against the installed ejabberd,
# offline (ejabberd 23.01 on Debian 12, 24.12 on Debian 13; both build with no warnings). The tests
# run it inside the other generation's root for that generation (harness/generation.ts), so the
# module they load there was built against that ejabberd's own headers.
#
# Output: build/ejabberd/mod_xmpp_maildir/ (or $1), laid out like a module that
# `ejabberdctl module_install` has installed:
#   mod_xmpp_maildir.spec
#   ebin/mod_xmpp_maildir.beam, ebin/mod_xmpp_maildir_outbox.beam,
#   ebin/mod_xmpp_maildir_export.beam (ejabberdctl xmpp_maildir_export, for `import ejabberd+mnesia:`)
# Copy that directory into ejabberd's contrib modules dir ($CONTRIB_MODULES_PATH, by default
# ~ejabberd/.ejabberd-modules, i.e. /var/lib/ejabberd/.ejabberd-modules on Debian): ejabberd puts
# its ebin/ on the code path when it reads its config. See README.md, "Setting it up (ejabberd)".
#
# Finds ejabberd's headers the Debian way (`dpkg -L ejabberd`), or in EJABBERD_LIB (the
# ejabberd-<vsn> dir holding ebin/ and include/) if set, e.g. for ejabberd built from source.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build/ejabberd/mod_xmpp_maildir"}
# $2: another source dir with the .erl files and the .spec (the rolling-upgrade test builds an
# older release's module with it); default server/ejabberd.
src=${2:-"$root/server/ejabberd"}

if ! command -v erlc >/dev/null 2>&1; then
  echo "build-ejabberd-module: erlc not found; install ejabberd (Debian: apt-get install ejabberd)" >&2
  exit 1
fi

# ejabberd's xmpp library: code:lib_dir(xmpp) fails for Debian's p1_xmpp-<vsn> dir (the app is
# called xmpp), so go from the .beam of its main module.
app_dir() {
  erl -noshell -eval "case code:which($1) of P when is_list(P) -> io:format(\"~s\", [filename:dirname(filename:dirname(P))]); _ -> ok end, halt()."
}

if [ -n "${EJABBERD_LIB:-}" ]; then
  ejabberd_lib=$EJABBERD_LIB
else
  include=$(dpkg -L ejabberd 2>/dev/null | grep '/ejabberd-[^/]*/include$' | head -n 1 || true)
  ejabberd_lib=${include%/include}
fi
xmpp_lib=$(app_dir xmpp)
if [ -z "$ejabberd_lib" ] || [ ! -f "$ejabberd_lib/include/logger.hrl" ]; then
  echo "build-ejabberd-module: no ejabberd include dir found (looked in '${ejabberd_lib}'); install ejabberd or set EJABBERD_LIB" >&2
  exit 1
fi
if [ -z "$xmpp_lib" ] || [ ! -f "$xmpp_lib/include/xmpp.hrl" ]; then
  echo "build-ejabberd-module: xmpp.hrl (ejabberd's xmpp library) not found; is ejabberd installed?" >&2
  exit 1
fi

mkdir -p "$out/ebin"
cp "$src/mod_xmpp_maildir.spec" "$out/"
# -pa: the gen_mod behaviour, so erlc checks our callbacks; +warnings_as_errors keeps it clean.
erlc -Wall +warnings_as_errors \
  -I "$ejabberd_lib/include" -I "$xmpp_lib/include" \
  -pa "$ejabberd_lib/ebin" \
  -o "$out/ebin" "$src"/*.erl
echo "build-ejabberd-module: $out/ebin/mod_xmpp_maildir.beam (against $ejabberd_lib)"
