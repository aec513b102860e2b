#!/usr/bin/env bash
# Two mcapid nodes behind the nginx front of docs/deploy.md against one (issue 12, "many
# nodes"): a throw-away PostgreSQL (tests/e2e/pgserver.py), node A and node B on it (same DSN,
# A's key file, trusted_proxies = the front), nginx with dist/nginx/mcapid-front.conf (the
# addresses filled in), and wrk with bench/signer.lua (every request freshly signed) through
# the front: ROUNDS rounds alternating "one node" (both upstream entries are A) and "two nodes".
# Prints requests/s, p50/p99 and the ratio (target: two >= 1.5 x one), and where the CPU went
# per request: the mcapid nodes, nginx, PostgreSQL and wrk, which all share the machine's
# cores, so the ratio is bounded by what the nodes' share of them can grow to.
#
# Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_THREADS (wrk threads, 2),
# BENCH_CONNECTIONS (50), BENCH_NODE_THREADS (HTTP threads per node, 2), BENCH_BUILD,
# BENCH_NO_BUILD=1, MCAPID, BENCH_MC_FLAGS (more flags for both nodes), PYTHON.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
# The PostgreSQL server lives as long as this script: pgserver.py runs it and sets the DSN.
if [ -z "${MCAPI_TEST_PG_DSN:-}" ]; then
	exec "$PY" "$ROOT/tests/e2e/pgserver.py" --run bash "${BASH_SOURCE[0]}" "$@"
fi
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
ROUNDS=${BENCH_ROUNDS:-2}
NODE_THREADS=${BENCH_NODE_THREADS:-2}
WARMUP=2
PATH_API=/api/account/get-account
DSN=$MCAPI_TEST_PG_DSN
PSQL=${MCAPI_PG_BIN:-/usr/lib/postgresql/15/bin}/psql

. "$BENCH/lib.sh"
need wrk wrk
need nginx nginx-light
need curl curl
need cmake cmake
need timeout coreutils

bench_init mcapi-front2
say "== two nodes behind nginx vs one ($(nproc) cores shared by wrk -t$THREADS -c$CONNS, nginx, PostgreSQL and the nodes)"
build_mcapid
signer_selftest
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- PostgreSQL's processes (for the CPU split) ----------------------------------------------
PG_DATA=$("$PSQL" -X -At -d "$DSN" -c "SHOW data_directory") || die "cannot query PostgreSQL"
PG_MASTER=$(head -1 "$PG_DATA/postmaster.pid")
pg_pids() { echo "$PG_MASTER $(pgrep -P "$PG_MASTER" | tr '\n' ' ')"; }

# ---- the nodes -------------------------------------------------------------------------------
# shellcheck disable=SC2206 # BENCH_MC_FLAGS is a list of flags
NODE_FLAGS=(--store postgres --pg-dsn "$DSN" --threads "$NODE_THREADS" --tls-listen off
	--smtp-listen off --trusted-proxies 127.0.0.1 --rate-limit 1000000000 --rate-refill-ms 1
	--replay-per-user 0 ${BENCH_MC_FLAGS:-})
start_mcapid "${NODE_FLAGS[@]}"
A_PID=$MC_PID A_PORT=$MC_PORT A_DATA=$MC_DATA
CREDS=$A_DATA/dev-credentials.json
# B: its own data dir, A's key and database; no --dev (A made the credentials)
B_PORT=$(free_port)
B_DATA=$(mktemp -d "$WORK/data.XXXXXX")
"$MCAPID" serve --listen "127.0.0.1:$B_PORT" --data-dir "$B_DATA" --key-file "$A_DATA/server.key" \
	--access-log=false --log-level warn --per-ip-connections 0 --ip-limit 1000000 \
	"${NODE_FLAGS[@]}" >"$B_DATA/stdout.log" 2>"$B_DATA/stderr.log" &
B_PID=$!
PIDS+=("$B_PID")
wait_ready "http://127.0.0.1:$B_PORT/readyz" "$B_PID" 20 ||
	{ tail -20 "$B_DATA/stderr.log" >&2; die "node B did not become ready"; }
say "-- node A pid $A_PID :$A_PORT, node B pid $B_PID :$B_PORT, PostgreSQL pid $PG_MASTER"

# ---- the front: dist/nginx/mcapid-front.conf, with both entries A (one) or A and B (two) -----
start_front() { # $1 label, $2 node a, $3 node b; sets NG_PID, NG_PORT, NG_PIDS
	local ng=$WORK/nginx.$1
	mkdir -p "$ng"
	chmod 755 "$ng"
	NG_PORT=$(free_port)
	{
		printf 'worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n' "$ng" "$ng"
		printf 'events { worker_connections 4096; }\nhttp {\n\taccess_log off;\n'
		for t in client_body proxy fastcgi uwsgi scgi; do printf '\t%s_temp_path %s/%s;\n' "$t" "$ng" "$t"; done
		sed -e "s/@NODE_A@/$2/" -e "s/@NODE_B@/$3/" -e "s/@LISTEN@/127.0.0.1:$NG_PORT/" \
			"$ROOT/dist/nginx/mcapid-front.conf"
		printf '}\n'
	} >"$ng/nginx.conf"
	nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" >"$ng/stdout.log" 2>&1 &
	NG_PID=$!
	PIDS+=("$NG_PID")
	wait_ready "http://127.0.0.1:$NG_PORT/readyz" "$NG_PID" 10 ||
		{ cat "$ng/error.log" >&2; die "nginx ($1) did not start"; }
	NG_PIDS="$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')"
}

# run LABEL TAG SECS NODE_PIDS: one wrk run through the front; appends the CPU split
run() { # shellcheck disable=SC2046 # pid lists are words
	local g0 p0 line
	# shellcheck disable=SC2086
	g0=$(cpu_ticks $NG_PIDS) p0=$(cpu_ticks $(pg_pids))
	CPU_PIDS="$4" run_wrk "$1" "http://127.0.0.1:$NG_PORT$PATH_API" "$3" 0 "$2"
	check_run "$1"
	# shellcheck disable=SC2086
	line="$(cat "$RES") $(awk -v g=$(($(cpu_ticks $NG_PIDS) - g0)) -v p=$(($(cpu_ticks $(pg_pids)) - p0)) \
		-v hz="$(getconf CLK_TCK)" -v n="$(field "$RES" requests)" \
		'BEGIN {n = n ? n : 1; printf "nginx_us=%.1f pg_us=%.1f", g * 1e6 / hz / n, p * 1e6 / hz / n}')"
	printf '%s\n' "$line" >"$RES"
	say "   CPU per request (us): $(grep -o 'cpu_us=.*' "$RES")"
}

MC_URL=http://127.0.0.1:$A_PORT$PATH_API
say_cpu_busy
for r in $(seq "$ROUNDS"); do
	start_front one "127.0.0.1:$A_PORT" "127.0.0.1:$A_PORT"
	[ "$r" = 1 ] && run one warm-up "$WARMUP" "$A_PID"
	run one "round$r" "$DURATION" "$A_PID"
	stop_pid "$NG_PID"
	start_front two "127.0.0.1:$A_PORT" "127.0.0.1:$B_PORT"
	[ "$r" = 1 ] && run two warm-up "$WARMUP" "$A_PID $B_PID"
	run two "round$r" "$DURATION" "$A_PID $B_PID"
	stop_pid "$NG_PID"
done

# ---- report ---------------------------------------------------------------------------------
"$PY" - "$WORK" "$ROUNDS" "$CONNS" "$DURATION" "$(nproc)" <<'PYEOF'
import re, sys
def kv(path):
    line = [l for l in open(path) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
work, rounds, conns, secs, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
runs = {s: [kv(f"{work}/result.{s}.round{r}") for r in range(1, rounds + 1)] for s in ("one", "two")}
one, two = (max(runs[s], key=lambda x: x["rps"]) for s in ("one", "two"))
ratio = two["rps"] / one["rps"]
print()
print(f"signed POST /api/account/get-account through nginx, {conns} connections, best of "
      f"{rounds} x {secs} s, PostgreSQL store, {cores} cores for everything")
print(f"{'':26}{'one node':>10}{'two nodes':>11}{'two/one':>9}   target")
print(f"{'requests/s':26}{one['rps']:10.0f}{two['rps']:11.0f}{ratio:9.2f}   >= 1.50  "
      f"{'ok' if ratio >= 1.5 else 'MISSED'}")
print(f"{'p50 latency (ms)':26}{one['p50_us']/1000:10.2f}{two['p50_us']/1000:11.2f}")
print(f"{'p99 latency (ms)':26}{one['p99_us']/1000:10.2f}{two['p99_us']/1000:11.2f}")
print("CPU per request (us of user + system time), and its share:")
for s, x in (("one node", one), ("two nodes", two)):
    parts = {"mcapid": x["cpu_us"], "nginx": x["nginx_us"], "PostgreSQL": x["pg_us"],
             "wrk": x["client_us"]}
    tot = sum(parts.values()) or 1
    print(f"  {s:10} " + ", ".join(f"{k} {v:.1f} ({100 * v / tot:.0f}%)" for k, v in parts.items())
          + f"; total {tot:.1f} us = at most {cores * 1e6 / tot:.0f} req/s on {cores} cores")
for s in ("one", "two"):
    print(f"  {s} rounds (req/s): " + ", ".join(f"{x['rps']:.0f}" for x in runs[s]))
PYEOF
