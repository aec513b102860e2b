#!/bin/sh
# Installs the Debian packages mcapi needs to build, run and test. Idempotent and quiet
# when everything is present; uses sudo when not root.
set -eu

PKGS="build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
libmicrohttpd-dev libjansson-dev libssl-dev libsqlite3-dev libpq-dev libc-ares-dev
libidn2-dev libsodium-dev libcurl4-openssl-dev libgmime-3.0-dev
python3 python3-pytest python3-requests python3-aiosmtpd swaks libnet-ssleay-perl
dnsmasq-base unbound postgresql-15 wrk nginx-light sqlite3 procps postfix"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# postfix (for bench/smtp.sh) must not replace a mail server the machine already has
case " $missing " in *" postfix "*)
	if apt-get install -s --no-install-recommends postfix 2>/dev/null | grep -q '^Remv'; then
		echo "install-deps: not installing postfix, it would replace this machine's MTA" \
			"(bench/smtp.sh needs its smtp-source and smtp-sink)" >&2
		missing=$(echo "$missing" | sed 's/ postfix//')
	fi
	;;
esac
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# postfix is there for bench/smtp.sh (smtp-source, smtp-sink): installed without a mail
# configuration, so it has no main.cf and cannot deliver anything
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The packaged services are not wanted running: tests start their own on loopback ports.
for s in nginx unbound postgresql postfix; do
	$SUDO service "$s" stop >/dev/null 2>&1 || true
done
