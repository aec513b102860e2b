#!/bin/sh
# Installs the Debian packages mcapi needs to build, run and test. Idempotent and quiet
# when everything is present; uses sudo when not root.
set -eu

PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
libjansson-dev libssl-dev libsqlite3-dev libpq-dev libc-ares-dev
libidn2-dev libsodium-dev libcurl4-openssl-dev libgmime-3.0-dev libzip-dev libicu-dev libyaml-dev
tzdata
python3 python3-pytest python3-pytest-xdist python3-requests python3-aiosmtpd swaks libnet-ssleay-perl
dnsmasq-base unbound postgresql-15 wrk nginx-light sqlite3 procps scdoc man-db tmux zsh
curl ca-certificates chromium chromium-driver python3-selenium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js and npm for tests/node: a node already on PATH (a machine's own Node 20, say) is used as
# it is; Debian's packages only when there is none.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packaged services are not wanted running: tests start their own on loopback ports.
for s in nginx unbound postgresql; do
	$SUDO service "$s" stop >/dev/null 2>&1 || true
done
