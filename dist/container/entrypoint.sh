#!/bin/sh
# Start-up script of the mcapid container image (dist/container/Dockerfile), also usable
# outside a container (tests/e2e/test_container_start.py runs it so). Every mcapid option is an
# environment variable MCAPID_<NAME> (mcapid serve --help); this script only sets the defaults
# a container wants and execs mcapid, which then runs as PID 1 and gets SIGTERM itself:
#   - listeners on all interfaces (the published ports choose what is reachable);
#   - the data directory (store, server key, development credentials) on the volume;
#   - development mode unless MCAPID_DEV=0: an account, keys and the control token on an empty
#     store, printed once and kept in $MCAPID_DATA_DIR/dev-credentials.json.
# Arguments are passed on to `mcapid serve` (a later flag wins over the environment).
set -eu

: "${MCAPID_BIN:=mcapid}"
: "${MCAPID_DATA_DIR:=/var/lib/mcapid}"
: "${MCAPID_LISTEN:=0.0.0.0:8080}"
: "${MCAPID_DEV:=1}"
if [ "$MCAPID_DEV" != 0 ]; then
	: "${MCAPID_SMTP_LISTEN:=0.0.0.0:2525}"
	: "${MCAPID_TLS_LISTEN:=0.0.0.0:8443}"
	# clients reach the container through a published port: say which one (the credentials
	# file's base_url); default: the listen port on localhost
	: "${MCAPID_PUBLIC_BASE_URL:=http://localhost:${MCAPID_LISTEN##*:}}"
	export MCAPID_SMTP_LISTEN MCAPID_TLS_LISTEN MCAPID_PUBLIC_BASE_URL
fi
export MCAPID_DATA_DIR MCAPID_LISTEN MCAPID_DEV

if ! mkdir -p "$MCAPID_DATA_DIR" 2>/dev/null || [ ! -w "$MCAPID_DATA_DIR" ]; then
	echo "mcapid-entrypoint: data directory '$MCAPID_DATA_DIR' is not writable by uid $(id -u)" >&2
	exit 1
fi
chmod 0700 "$MCAPID_DATA_DIR" 2>/dev/null || true

exec "$MCAPID_BIN" serve "$@"
