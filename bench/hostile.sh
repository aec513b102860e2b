#!/usr/bin/env bash
# The hardening issue's HTTP attacks on mcapid with its default limits, and the figures the
# issue gave before them (not a test: it prints figures next to their targets; see
# bench/README.md):
#   1. 1,000 unauthenticated connections each sending 1 MiB - 1 of body (issue: RSS 37 MB ->
#      1,062 MB): now refused from their headers, so RSS stays near its start;
#   2. the same signed (an authenticated attacker): the body budget holds at most 64 MiB;
#   3. slowloris, 4,200 connections sending one header line every 3 s (issue: slots held and new
#      clients locked out for 30 s): cut header_timeout (10 s) after their accept; a new client
#      tries a signed call every 0.25 s throughout.
# The attacks come from other loopback addresses (127.0.1.x, 127.0.2.x), the new client from
# 127.0.0.1. Environment: BENCH_HOSTILE_N (connections of 1 and 2, 1000), BENCH_SLOWLORIS_N
# (4200), BENCH_MCAPID_ARGS, BENCH_BUILD (build-bench), BENCH_NO_BUILD=1, MCAPID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
N=${BENCH_HOSTILE_N:-1000}
SLOW_N=${BENCH_SLOWLORIS_N:-4200}
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
HELPER=$BENCH/hostile_helper.py

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl curl
need cmake cmake
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

bench_init mcapi-bench-hostile
say "== hostile HTTP clients ($(nproc) cores shared by the attackers and the server)"
bench_build
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# the defaults of the limits, whatever lib.sh's start_mcapid relaxes for throughput runs
LIMITS=(--tls-listen off --smtp-listen off --per-ip-connections 64 --ip-limit 20)

for signed in "" --signed; do
	start_mcapid "${LIMITS[@]}" ${BENCH_MCAPID_ARGS:-}
	timeout 300 "$PY" "$HELPER" bodies --creds "$MC_DATA/dev-credentials.json" --port "$MC_PORT" \
		--pid "$MC_PID" -n "$N" $signed | tee -a "$WORK/results.log"
	stop_pid "$MC_PID"
done
start_mcapid "${LIMITS[@]}" ${BENCH_MCAPID_ARGS:-}
timeout 300 "$PY" "$HELPER" slowloris --creds "$MC_DATA/dev-credentials.json" --port "$MC_PORT" \
	--pid "$MC_PID" -n "$SLOW_N" --every 3 --seconds 40 | tee -a "$WORK/results.log"
stop_pid "$MC_PID"

"$PY" - "$WORK/results.log" <<'PYEOF'
import re, sys
lines = [l.strip() for l in open(sys.argv[1]) if l.startswith("RESULT")]
def kv(l):
    return dict(re.findall(r"(\w+)=([^ ]+)", l))
for l in lines:
    d = kv(l)
    if l.startswith("RESULT bodies"):
        grow = (int(d["rss_peak_kb"]) - int(d["rss_base_kb"])) / 1024
        bound = 8 if d["signed"] == "0" else 64 + 48
        print(f"{'signed' if d['signed'] == '1' else 'unsigned'} bodies x {d['conns']}: RSS "
              f"+{grow:.1f} MB (target < {bound} MB: {'ok' if grow < bound else 'MISSED'}; "
              f"issue: +1,025 MB unsigned)")
    else:
        # every connection is cut within 12 s of its accept: the last accept came at most
        # open_seconds after the start
        cut, opened = float(d["last_cut_s"]), float(d["open_seconds"])
        first = float(d["new_client_first_ok_s"])
        print(f"slowloris x {d['conns']} ({d['opened']} opened in {opened:.1f} s): all cut "
              f"{cut:.1f} s after the start (target <= {opened:.1f} + 12: "
              f"{'ok' if 0 <= cut <= opened + 12 else 'MISSED'}); a new client's first success "
              f"after {first} s (target <= 12: {'ok' if 0 <= first <= 12 else 'MISSED'}), "
              f"{d['new_client_failed']} failed tries, p99 {d['new_client_p99_ms']} ms "
              f"(issue: locked out for 30 s)")
PYEOF
