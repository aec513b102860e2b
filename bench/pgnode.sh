#!/usr/bin/env bash
# Benchmark of one mcapid node on PostgreSQL with the shared replay set and rate limits on
# (issue 12; docs/postgres.md). Not a test: it prints figures next to their target.
#
#   signed POST /api/account/get-account (every request freshly signed by bench/signer.lua,
#   so every call claims a new request id and takes a call from the user's bucket in the
#   database: one round trip to PostgreSQL per call, the authentication cache on as by
#   default), requests/s against nginx answering the same body from memory
#                                                                     (target >= 0.40 x nginx)
#
#   and the CPU time per call of mcapid (cpu_us), wrk (client_us) and PostgreSQL (db_us: every
#   process of the server, backends, WAL writer and the rest, read from /proc, so only when
#   the database runs on this machine; "?" otherwise). On two shared cores the sum of mcapid's
#   and the database's CPU per call is what sets the pace.
#
# PostgreSQL: BENCH_PG_DSN (a database the run may fill), else a throw-away PostgreSQL 15 that
# tests/e2e/pgserver.py starts (and removes) around the run. One user makes every call, so all
# calls queue on one bucket row: the worst case for the shared limit.
# Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_THREADS (2),
# BENCH_CONNECTIONS (50), BENCH_BUILD (build dir, build-bench), BENCH_NO_BUILD=1, MCAPID (a
# binary), BENCH_THREADS_MC (mcapid's --threads, 0: its default, one per core, at least two;
# see docs/postgres.md), BENCH_MC_FLAGS (more mcapid flags), BENCH_PERF=1 (perf record of mcapid
# during the first round, as run.sh).
#
#   bench/pgnode.sh                          # the full run (about 1 minute)
#   BENCH_DURATION=2 BENCH_ROUNDS=1 bench/pgnode.sh   # a quick look
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
# shellcheck disable=SC2034 # read by lib.sh
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-2}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
WARMUP=2
TARGET=0.40
PATH_API=/api/account/get-account
PY=${PYTHON:-/usr/bin/python3}

# Without a database given: run again under a throw-away PostgreSQL (pgserver.py sets
# MCAPI_TEST_PG_DSN for the command it wraps).
if [ -z "${BENCH_PG_DSN:-}" ] && [ -z "${MCAPI_TEST_PG_DSN:-}" ]; then
	exec "$PY" "$ROOT/tests/e2e/pgserver.py" --run bash "${BASH_SOURCE[0]}"
fi
DSN=${BENCH_PG_DSN:-$MCAPI_TEST_PG_DSN}

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk wrk
need nginx nginx-light
need curl curl
need timeout coreutils

bench_init mcapi-bench-pgnode
say "== one PostgreSQL node, shared replay set and limits ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine)"
build_mcapid
signer_selftest
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck disable=SC2206 # BENCH_MC_FLAGS is a list of flags
MC_FLAGS=(${BENCH_MC_FLAGS:-})
start_mcapid --tls-listen off --smtp-listen off --store postgres --pg-dsn "$DSN" \
	--threads "${BENCH_THREADS_MC:-0}" --rate-limit 1000000000 --rate-refill-ms 1 "${MC_FLAGS[@]}"
CREDS=$MC_DATA/dev-credentials.json
MC_URL=http://127.0.0.1:$MC_PORT$PATH_API
say "-- mcapid pid $MC_PID on 127.0.0.1:$MC_PORT, store postgres"
BODY=$WORK/get-account.json
"$PY" "$BENCH/mcclient.py" probe --creds "$CREDS" --url "$MC_URL" --out "$BODY" >"$WORK/probe.log" 2>&1 ||
	{ cat "$WORK/probe.log" >&2; die "a signed get-account did not answer 200 with an empty fail array"; }
start_nginx "$BODY"
NG_URL=http://127.0.0.1:$NG_PORT$PATH_API

# The PostgreSQL server's processes: the postmaster (the checkpointer's parent) and its
# children, found after the warm-up so that mcapid's connections exist.
pg_pids() {
	local ck pm
	ck=$(psql -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" "$DSN" 2>/dev/null) || return 0
	[ -n "$ck" ] && [ -r "/proc/$ck/stat" ] || return 0
	pm=$(sed 's/.*) //' "/proc/$ck/stat" | awk '{print $2}')
	echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
# CPU ticks of the processes $@ that still exist (a backend may end during the run).
pg_ticks() {
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
	done
	echo "$t"
}
# run_wrk for mcapid, with db_us (the database's CPU per call) added to its result line.
run_mcapid() {
	local d0
	d0=$(pg_ticks $PG_PIDS)
	[ "$3" != round1 ] || perf_start "$MC_PID" "$1" "$3"
	CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$@"
	[ "$3" != round1 ] || perf_report "$3"
	if [ -n "$PG_PIDS" ]; then
		awk -v t=$(($(pg_ticks $PG_PIDS) - d0)) -v hz="$(getconf CLK_TCK)" -v n="$(field "$RES" requests)" \
			'BEGIN {n = n ? n : 1; printf " db_us=%.1f", t * 1e6 / hz / n}' >>"$RES"
		say "   database CPU per call: $(field "$RES" db_us) us"
	fi
}

say_cpu_busy
PG_PIDS=
CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$WARMUP" 1 warm-up
check_run mcapid
PG_PIDS=$(pg_pids)
[ -n "$PG_PIDS" ] || say "-- PostgreSQL's processes not found on this machine: no db_us"
CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$WARMUP" 0 warm-up
check_run nginx
for r in $(seq "$ROUNDS"); do
	run_mcapid "$DURATION" 0 "round$r"
	check_run mcapid
	CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$DURATION" 0 "round$r"
	check_run nginx
done
# every call of the run recorded its request id in the database
IDS=$("$PY" - "$DSN" <<'PYEOF'
import subprocess, sys
out = subprocess.run(["psql", "-Atc", "SELECT count(*) FROM replay_ids", sys.argv[1]],
                     capture_output=True, text=True)
print(out.stdout.strip() or "?")
PYEOF
)
stop_pid "$MC_PID"
stop_pid "$NG_PID"

"$PY" - "$WORK" "$ROUNDS" "$TARGET" "$IDS" <<'PYEOF'
import sys
work, rounds, target, ids = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def kv(path):
    out = {}
    for tok in open(path).read().split():
        k, _, v = tok.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out
runs = {s: [kv(f"{work}/result.{s}.round{r}") for r in range(1, rounds + 1)] for s in ("mcapid", "nginx")}
mc, ng = (max(runs[s], key=lambda x: x["rps"]) for s in ("mcapid", "nginx"))
ratio = mc["rps"] / ng["rps"]
print(f"signed get-account on one PostgreSQL node (request ids in replay_ids after the run: {ids})")
print(f"{'':22}{'mcapid':>10}{'nginx':>10}{'mcapid/nginx':>14}   target")
print(f"{'requests/s':22}{mc['rps']:10.0f}{ng['rps']:10.0f}{ratio:14.2f}   >= {target:.2f} x nginx  "
      f"{'ok' if ratio >= target else 'BELOW TARGET'}")
for k in ("p50_us", "p99_us", "cpu_us", "client_us"):
    if k in mc and k in ng:
        print(f"{k:22}{mc[k]:10.1f}{ng[k]:10.1f}")
if "db_us" in mc:
    print(f"{'db_us':22}{mc['db_us']:10.1f}{'':10}   (PostgreSQL's CPU per call)")
    print(f"{'cpu_us + db_us':22}{mc['cpu_us'] + mc['db_us']:10.1f}{ng['cpu_us']:10.1f}"
          "   (server side CPU per call, shared-machine figure)")
for s in ("mcapid", "nginx"):
    print(f"  {s} rounds: " + ", ".join(f"{x['rps']:.0f}/s" for x in runs[s]))
PYEOF
