#!/usr/bin/env bash
# What the access log costs (issue 11, item 8). One run, rounds alternating between four
# servers answering the same signed get-account: mcapid with the access log off, mcapid with it
# on and each line written at once (--log-flush-ms 0, the behaviour before buffering), mcapid with
# it on and buffered (the default), and nginx with its access log on (a file, no buffer=: one
# write per request, nginx's default). Prints requests/s and CPU per request of each, and the
# ratios to nginx of the same round (neighbours in time: the machine may be shared).
#
# Environment: BENCH_DURATION (s, 8), BENCH_ROUNDS (3), BENCH_THREADS (2), BENCH_CONNECTIONS (50),
# BENCH_BUILD, BENCH_NO_BUILD=1, MCAPID (as for run.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-8}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
ROUNDS=${BENCH_ROUNDS:-3}
PATH_API=/api/account/get-account
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk wrk
need nginx nginx-light
need curl curl
need cmake cmake

bench_init mcapi-logcost
say "== access-log cost ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds)"
build_mcapid
signer_selftest

COMMON=(--tls-listen off --smtp-listen off --replay-per-user 0 --rate-limit 1000000000
	--rate-refill-ms 1 --replay-max 4000000)
declare -A PID PORT CRED
for cfg in off direct buffered; do
	case $cfg in
	off) flags=(--access-log=false) ;;
	direct) flags=(--access-log=true --log-level info --log-flush-ms 0) ;;
	buffered) flags=(--access-log=true --log-level info) ;;
	esac
	start_mcapid "${COMMON[@]}" "${flags[@]}"
	PID[$cfg]=$MC_PID PORT[$cfg]=$MC_PORT CRED[$cfg]=$MC_DATA/dev-credentials.json
done
CREDS=${CRED[off]}
BODY=$WORK/get-account.json
"$PY" "$BENCH/mcclient.py" probe --creds "$CREDS" --url "http://127.0.0.1:${PORT[off]}$PATH_API" \
	--out "$BODY" >"$WORK/probe.log" 2>&1 || { cat "$WORK/probe.log" >&2; die "probe failed"; }
NG_ACCESS_LOG=$WORK/nginx-access.log
start_nginx "$BODY"

say_cpu_busy
for r in 0 $(seq "$ROUNDS"); do
	secs=$DURATION
	[ "$r" = 0 ] && secs=2 # warm-up
	for cfg in off direct buffered; do
		CREDS=${CRED[$cfg]} MC_URL=http://127.0.0.1:${PORT[$cfg]}$PATH_API
		CPU_PIDS=${PID[$cfg]} run_wrk "$cfg" "$MC_URL" "$secs" 0 "round$r"
		check_run mcapid
	done
	CREDS=${CRED[off]}
	CPU_PIDS=$NG_PIDS run_wrk nginx "http://127.0.0.1:$NG_PORT$PATH_API" "$secs" 0 "round$r"
	check_run nginx
done
say "-- lines written: mcapid direct $(grep -c ' access ' "$(dirname "${CRED[direct]}")/stderr.log"), buffered $(grep -c ' access ' "$(dirname "${CRED[buffered]}")/stderr.log"), nginx $(wc -l <"$NG_ACCESS_LOG")"

"$PY" - "$WORK" "$ROUNDS" <<'PYEOF'
import re, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def kv(path):
    line = [l for l in open(path) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
names = ("off", "direct", "buffered", "nginx")
runs = {n: [kv(f"{work}/result.{n}.round{r}") for r in range(1, rounds + 1)] for n in names}
print()
print(f"{'':34}{'req/s (median)':>16}{'CPU us/req':>12}{'x nginx, per round':>30}")
for n in names:
    rps = statistics.median(x["rps"] for x in runs[n])
    cpu = statistics.median(x["cpu_us"] for x in runs[n])
    per = [m["rps"] / g["rps"] for m, g in zip(runs[n], runs["nginx"])]
    label = {"off": "mcapid, access log off", "direct": "mcapid, log on, written at once",
             "buffered": "mcapid, log on, buffered (default)", "nginx": "nginx, access log on"}[n]
    print(f"{label:34}{rps:16.0f}{cpu:12.1f}{'  '.join(f'{p:.2f}' for p in per):>30}")
med = lambda n: statistics.median(m["rps"] / g["rps"] for m, g in zip(runs[n], runs["nginx"]))
cpu = lambda n: statistics.median(x["cpu_us"] for x in runs[n])
print(f"\nmedian ratio to nginx (log on): direct {med('direct'):.2f}, buffered {med('buffered'):.2f}"
      f"   target >= 0.85 {'ok' if med('buffered') >= 0.85 else 'MISSED'}")
print(f"log cost in mcapid CPU per request: direct +{cpu('direct') - cpu('off'):.1f} us, "
      f"buffered +{cpu('buffered') - cpu('off'):.1f} us (over {cpu('off'):.1f} us with it off)")
PYEOF
