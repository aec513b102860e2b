#!/usr/bin/env bash
# The cost of the acceptor's first-head check (src/server/http/connect.c, option head_check):
# the same mcapid build started twice, with head_check on (the default) and off, each driven by
# wrk on GET /healthz twice: over keep-alive connections (the check runs once per connection,
# so the figures should match) and with `Connection: close` (a new connection, so one check and
# one hand-off, per request: the worst case). Prints requests/s and the on/off ratio per mode.
# Not run by the tests; see bench/README.md.
#
# Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_THREADS (2), BENCH_CONNECTIONS
# (50), BENCH_BUILD, BENCH_NO_BUILD=1, MCAPID (as bench/run.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
# shellcheck disable=SC2034 # read by bench_build (lib.sh)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$BENCH/lib.sh"
need wrk wrk
need curl curl
need cmake cmake
bench_init mcapi-accept
bench_build
say "== acceptor cost ($(nproc) cores, $(load_avg)); wrk -t$THREADS -c$CONNS -d${DURATION}s GET /healthz"

declare -A PORT
for check in 1 0; do
	start_mcapid --tls-listen off --head-check "$check"
	PORT[$check]=$MC_PORT
done

# wrk's requests/s for port $1, extra wrk args after it
rps() {
	local port=$1
	shift
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 2s "$@" \
		"http://127.0.0.1:$port/healthz" 2>&1 | awk '/^Requests\/sec:/ {print $2}'
}

for mode in keep-alive close; do
	args=()
	[ "$mode" = close ] && args=(-H "Connection: close")
	best1=0 best0=0
	for r in $(seq "$ROUNDS"); do
		on=$(rps "${PORT[1]}" "${args[@]}")
		off=$(rps "${PORT[0]}" "${args[@]}")
		say "-- $mode round $r: head_check on ${on:-?} req/s, off ${off:-?} req/s"
		best1=$(awk -v a="$best1" -v b="${on:-0}" 'BEGIN {print (b > a) ? b : a}')
		best0=$(awk -v a="$best0" -v b="${off:-0}" 'BEGIN {print (b > a) ? b : a}')
	done
	awk -v m="$mode" -v a="$best1" -v b="$best0" \
		'BEGIN {printf "%-10s best of rounds: on %.0f, off %.0f req/s, on/off %.2f\n", m, a, b, b ? a / b : 0}'
done
