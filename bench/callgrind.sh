#!/usr/bin/env bash
# Instructions per signed get-account (issue 11), counted by callgrind: deterministic, so it can
# be compared across changes on a machine too busy for throughput figures. Starts mcapid under
# valgrind with the access log on, warms it up (each worker thread's first calls open its store
# connection), zeroes the counters, sends BENCH_CALLS signed calls over one keep-alive connection
# (bench/mcclient.py), dumps the counters and prints the instructions per call: in all, in memset,
# and without memset (valgrind counts one instruction per byte for the `rep stosb` of glibc's
# memset, which costs far less than that: read memset as bytes written), then the functions with
# the most inclusive instructions per call.
#
# Environment: BENCH_CALLS (2000), BENCH_TOP (40), BENCH_BUILD, BENCH_NO_BUILD=1, MCAPID (as for
# run.sh), BENCH_KEEP=FILE (keep the callgrind output there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
CALLS=${BENCH_CALLS:-2000}
TOP=${BENCH_TOP:-40}
PATH_API=/api/account/get-account
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need valgrind valgrind
need curl curl
need cmake cmake

bench_init mcapi-callgrind
build_mcapid
OUT=$WORK/callgrind.out
PORT=$(free_port)
DATA=$WORK/data
mkdir -p "$DATA"
valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$OUT" "$MCAPID" serve --dev \
	--control off --listen "127.0.0.1:$PORT" --tls-listen off --smtp-listen off --data-dir "$DATA" \
	--access-log=true --log-level info --per-ip-connections 0 --ip-limit 1000000 \
	--rate-limit 1000000 --rate-refill-ms 1 --replay-per-user 0 \
	>"$WORK/stdout.log" 2>"$WORK/stderr.log" &
VG_PID=$!
PIDS+=("$VG_PID")
wait_ready "http://127.0.0.1:$PORT/healthz" "$VG_PID" 120 || die "mcapid under valgrind did not start"

drive() { # $1 connections, $2 calls on each
	"$PY" - "$BENCH" "$PORT" "$DATA/dev-credentials.json" "$1" "$2" <<'EOF'
import socket, sys
sys.path.insert(0, sys.argv[1])
import mcclient
port, creds = int(sys.argv[2]), mcclient.load_creds(sys.argv[3])
for _ in range(int(sys.argv[4])):
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        for _ in range(int(sys.argv[5])):
            s.sendall(mcclient.raw_request("127.0.0.1", port, "/api/account/get-account",
                                           mcclient.signed_headers(creds, "/api/account/get-account")))
            status, body = mcclient.read_response(s)
            if not mcclient.ok_envelope(status, body):
                sys.exit(f"unexpected answer {status}: {body[:300]!r}")
EOF
}

say "== instructions per signed get-account (callgrind, $CALLS calls, access log on)"
drive 6 20
callgrind_control -z "$VG_PID" >/dev/null
drive 1 "$CALLS"
callgrind_control -d "$VG_PID" >/dev/null
stop_pid "$VG_PID"
DUMP=$(ls "$OUT".* | head -1)
[ -n "${BENCH_KEEP:-}" ] && cp "$DUMP" "$BENCH_KEEP"
callgrind_annotate --inclusive=yes --threshold=100 "$DUMP" 2>/dev/null | sed 's/,//g' >"$WORK/inc.txt"
awk -v n="$CALLS" -v top="$TOP" '
	/PROGRAM TOTALS/ { total = $1 }
	/__memset_[a-z0-9_]*unaligned_erms/ && !ms { ms = $1 }
	/file:function/ { body = 1; next }
	body && $1 ~ /^[0-9]+$/ && shown < top {
		line = $0; sub(/^ *[0-9]+ *\([^)]*\) */, "", line); sub(/ \[.*\]$/, "", line)
		rows[shown++] = sprintf("%9.0f  %s", $1 / n, line)
	}
	END {
		printf "per call: %.0f instructions, %.0f of them memset (bytes), %.0f without memset\n",
			total / n, ms / n, (total - ms) / n
		print "inclusive instructions per call, top " top ":"
		for (i = 0; i < shown; i++) print rows[i]
	}' "$WORK/inc.txt"
