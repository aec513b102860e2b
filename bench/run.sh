#!/usr/bin/env bash
# Benchmark of mcapid (issue 2, "Performance"); `make bench` runs it. See bench/README.md.
#
# Builds mcapid (Release) in build-bench/, starts it on a free loopback port with a fresh data
# dir, starts nginx (2 workers) answering a static JSON body of the same size as mcapid's
# get-account answer, drives both in turn with wrk and bench/signer.lua (every request freshly
# signed), prints requests/s, p50, p99 and the ratio, then starts a fresh mcapid and reads its RSS
# with 1,000 idle keep-alive connections open. Everything it starts is stopped on exit.
#
# Environment: BENCH_DURATION (s, 10), BENCH_THREADS (2), BENCH_CONNECTIONS (50),
# BENCH_IDLE (1000), BENCH_PERF=1 (perf record mcapid during its run, print the top symbols),
# BENCH_BUILD (build dir), BENCH_NO_BUILD=1 (use the existing binary), MCAPID (a binary to use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
IDLE=${BENCH_IDLE:-1000}
WARMUP=2
PATH_API=/api/account/get-account
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed (Debian package: $2)"; }
need wrk wrk
need nginx nginx-light
need curl curl
need cmake cmake
need timeout coreutils
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

# ---- state and clean-up ---------------------------------------------------------------------
WORK=$(mktemp -d /tmp/mcapi-bench.XXXXXX)
chmod 711 "$WORK" # nginx workers may run as another user: they need to traverse to www/
PIDS=()
cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# mcapid finishes in-flight requests on SIGTERM; give it a few seconds, then insist.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until URL answers 200 to GET, or PID dies, for at most $3 seconds.
wait_ready() {
	local url=$1 pid=$2 limit=$3
	for _ in $(seq $((limit * 10))); do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}

# Starts mcapid with a fresh data dir; sets MC_PID, MC_PORT, MC_DATA. Extra flags in "$@".
start_mcapid() {
	MC_PORT=$(free_port)
	MC_DATA=$(mktemp -d "$WORK/data.XXXXXX")
	"$MCAPID" serve --dev --listen "127.0.0.1:$MC_PORT" --data-dir "$MC_DATA" \
		--access-log=false --log-level warn --per-ip-connections 0 --ip-limit 1000000 "$@" \
		>"$MC_DATA/stdout.log" 2>"$MC_DATA/stderr.log" &
	MC_PID=$!
	PIDS+=("$MC_PID")
	if ! wait_ready "http://127.0.0.1:$MC_PORT/healthz" "$MC_PID" 20; then
		tail -n 20 "$MC_DATA/stderr.log" "$MC_DATA/stdout.log" >&2 || true
		die "mcapid did not answer /healthz on 127.0.0.1:$MC_PORT within 20 s"
	fi
	[ -s "$MC_DATA/dev-credentials.json" ] || die "mcapid wrote no $MC_DATA/dev-credentials.json"
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Runs wrk against URL with the signer; the figures land in $RES (key=value line).
# $1 label, $2 url, $3 seconds, $4 1 = check every response body (warm-up).
run_wrk() {
	local label=$1 url=$2 secs=$3 check=$4
	RES=$WORK/result.$label.$secs
	: >"$RES"
	MC_CREDENTIALS=$CREDS MC_PATH=$PATH_API MC_CHECK_BODY=$check MC_RESULT_FILE=$RES \
		timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 2s --latency \
		-s "$BENCH/signer.lua" "$url" >"$WORK/wrk.$label.$secs.log" 2>&1 ||
		{ cat "$WORK/wrk.$label.$secs.log" >&2; die "wrk failed against $label"; }
	[ -s "$RES" ] || { cat "$WORK/wrk.$label.$secs.log" >&2; die "wrk reported no figures for $label"; }
	say "-- $label, ${secs} s$([ "$check" = 1 ] && echo ", every body checked"): $(cat "$RES")"
}

field() { sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$1"; }

# Fails loudly if the run in $RES had non-2xx answers, bad bodies or socket errors.
check_run() {
	local label=$1 log=$2 non2xx bad conn
	non2xx=$(field "$RES" non2xx)
	bad=$(field "$RES" bad_body)
	conn=$(field "$RES" connect_err)
	if [ "$non2xx" != 0 ] || [ "$bad" != 0 ] || [ "$conn" != 0 ]; then
		cat "$log" >&2
		say "bench: $label: $non2xx non-2xx answers, $bad bad envelopes, $conn connect errors" >&2
		if [ "$label" = mcapid ]; then
			say "bench: one request signed by mcclient.py, for comparison:" >&2
			"$PY" "$BENCH/mcclient.py" curl --creds "$CREDS" --url "$MC_URL" >&2 || true
			say "" >&2
		fi
		die "$label did not answer every benchmark request with 200"
	fi
}

# ---- build and self-test --------------------------------------------------------------------
say "== mcapi benchmark ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s shares them with the server)"
if [ -n "${MCAPID:-}" ]; then
	[ -x "$MCAPID" ] || die "MCAPID='$MCAPID' is not an executable"
elif [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
	MCAPID=$BUILD/mcapid
	[ -x "$MCAPID" ] || die "no $MCAPID (unset BENCH_NO_BUILD to build it)"
else
	say "-- building mcapid (Release) in $BUILD"
	# Warnings are not errors here: an optimised build can warn where the checked build does not.
	if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMCAPI_WERROR=OFF &&
		cmake --build "$BUILD" -j"$(nproc)" --target mcapid; } >"$WORK/build.log" 2>&1; then
		tail -30 "$WORK/build.log" >&2
		die "build failed (full log above, last 30 lines)"
	fi
	MCAPID=$BUILD/mcapid
fi
MC_SIGNER_SELFTEST=1 MC_VECTORS="$ROOT/../shared/spec/signature-vectors.json" \
	wrk -s "$BENCH/signer.lua" http://127.0.0.1:1/ >"$WORK/selftest.log" 2>&1 ||
	{ cat "$WORK/selftest.log" >&2; die "signer.lua self-test failed"; }
say "-- $(cat "$WORK/selftest.log")"

# Both servers and wrk need more descriptors than the usual 1024 for the idle test.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((IDLE + 200)) ] ||
	die "open-file limit $(ulimit -n) is too low for $IDLE connections"

# ---- throughput: mcapid ---------------------------------------------------------------------
# Rate limit as high as the configuration allows, and a replay cache big enough that no request
# id of the run is refused for want of room (50 M ids; memory is only touched as it fills).
start_mcapid --rate-limit 1000000 --rate-refill-ms 1 --replay-max 50000000
CREDS=$MC_DATA/dev-credentials.json
MC_URL=http://127.0.0.1:$MC_PORT$PATH_API
say "-- mcapid $("$MCAPID" --version 2>/dev/null | head -1) pid $MC_PID on 127.0.0.1:$MC_PORT"
BODY=$WORK/get-account.json
if ! "$PY" "$BENCH/mcclient.py" probe --creds "$CREDS" --url "$MC_URL" --out "$BODY" >"$WORK/probe.log" 2>&1; then
	cat "$WORK/probe.log" >&2
	die "a signed get-account did not answer 200 with an empty fail array"
fi
BODY_BYTES=$(wc -c <"$BODY")

run_wrk mcapid "$MC_URL" "$WARMUP" 1
check_run mcapid "$WORK/wrk.mcapid.$WARMUP.log"
PERF_PID=
if [ "${BENCH_PERF:-0}" = 1 ]; then
	need perf linux-perf
	perf record -q -g -F 999 -p "$MC_PID" -o "$WORK/perf.data" -- sleep $((DURATION - 1)) \
		>"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
fi
run_wrk mcapid "$MC_URL" "$DURATION" 0
check_run mcapid "$WORK/wrk.mcapid.$DURATION.log"
MC_RES=$RES
MC_RSS_AFTER=$(rss_kb "$MC_PID")
if [ -n "$PERF_PID" ]; then
	wait "$PERF_PID" || true
	say "-- perf: top symbols of mcapid during its run (self time)"
	perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -25 || true
fi
stop_pid "$MC_PID"

# ---- throughput: nginx with the same body ---------------------------------------------------
NG=$WORK/nginx
mkdir -p "$NG"
chmod 755 "$NG"
NG_PORT=$(free_port)
# The body is served from memory with `return 200`: nginx's static module refuses POST (405).
# nginx interpolates $ in strings, so a literal $ goes through a variable.
"$PY" - "$BODY" "$NG/body.conf" <<'EOF'
import sys
body = open(sys.argv[1], "rb").read().decode()
esc = body.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}")
open(sys.argv[2], "w").write("return 200 '%s';\n" % esc)
EOF
cat >"$NG/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
	access_log off;
	server_tokens off;
	client_body_temp_path $NG/body;
	proxy_temp_path $NG/proxy;
	fastcgi_temp_path $NG/fastcgi;
	uwsgi_temp_path $NG/uwsgi;
	scgi_temp_path $NG/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 60s;
	geo \$dollar { default "\$"; }
	server {
		listen 127.0.0.1:$NG_PORT;
		location / {
			default_type application/json;
			include $NG/body.conf;
		}
	}
}
EOF
nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_ready "http://127.0.0.1:$NG_PORT/" "$NG_PID" 10 ||
	{ cat "$NG/error.log" "$NG/stdout.log" >&2; die "nginx did not start on 127.0.0.1:$NG_PORT"; }
NG_URL=http://127.0.0.1:$NG_PORT$PATH_API
NG_BYTES=$(curl -s --max-time 2 -X POST --data-binary '{"data":[]}' "$NG_URL" | wc -c)
[ "$NG_BYTES" = "$BODY_BYTES" ] || die "nginx serves $NG_BYTES bytes, mcapid $BODY_BYTES"
run_wrk nginx "$NG_URL" "$WARMUP" 0
check_run nginx "$WORK/wrk.nginx.$WARMUP.log"
run_wrk nginx "$NG_URL" "$DURATION" 0
check_run nginx "$WORK/wrk.nginx.$DURATION.log"
NG_RES=$RES
stop_pid "$NG_PID"

# ---- memory: idle keep-alive connections on a fresh mcapid -----------------------------------
# A fresh process with the default replay cache, so the figure is the connections' cost and not
# what the throughput run left in the replay cache.
start_mcapid --max-connections $((IDLE + 1000)) --conn-timeout 120 --rate-limit 1000000
CREDS=$MC_DATA/dev-credentials.json
IDLE_OUT=$WORK/idle.log
timeout 90 "$PY" "$BENCH/mcclient.py" idle --creds "$CREDS" \
	--url "http://127.0.0.1:$MC_PORT$PATH_API" --pid "$MC_PID" -n "$IDLE" >"$IDLE_OUT" 2>&1 ||
	{ cat "$IDLE_OUT" >&2; die "the idle-connection test failed"; }
stop_pid "$MC_PID"

# ---- report ---------------------------------------------------------------------------------
say ""
say "-- wrk, mcapid:"; sed 's/^/   /' "$WORK/wrk.mcapid.$DURATION.log"
say "-- wrk, nginx:"; sed 's/^/   /' "$WORK/wrk.nginx.$DURATION.log"
say "-- $(grep RESULT "$IDLE_OUT")"
"$PY" - "$MC_RES" "$NG_RES" "$IDLE_OUT" "$BODY_BYTES" "$MC_RSS_AFTER" "$CONNS" "$IDLE" <<'EOF'
import re, sys
def kv(path):
    line = [l for l in open(path) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
mc, ng, idle = kv(sys.argv[1]), kv(sys.argv[2]), kv(sys.argv[3])
body, rss_after, conns, n = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
ratio = mc["rps"] / ng["rps"]
rss_mb = idle["rss_kb"] / 1024
ok = lambda b: "ok" if b else "MISSED"
print()
print(f"signed POST /api/account/get-account ({body}-byte body), {conns} connections")
print(f"{'':24}{'mcapid':>12}{'nginx':>12}{'mcapid/nginx':>14}   target")
print(f"{'requests/s':24}{mc['rps']:12.0f}{ng['rps']:12.0f}{ratio:14.2f}   >= 0.60x nginx  {ok(ratio >= 0.6)}")
print(f"{'p50 latency (ms)':24}{mc['p50_us']/1000:12.2f}{ng['p50_us']/1000:12.2f}{mc['p50_us']/ng['p50_us']:14.2f}")
print(f"{'p99 latency (ms)':24}{mc['p99_us']/1000:12.2f}{ng['p99_us']/1000:12.2f}{mc['p99_us']/ng['p99_us']:14.2f}   mcapid <= 5 ms  {ok(mc['p99_us'] <= 5000)}")
print(f"{'max latency (ms)':24}{mc['max_us']/1000:12.2f}{ng['max_us']/1000:12.2f}")
print(f"{'requests in run':24}{mc['requests']:12.0f}{ng['requests']:12.0f}")
print()
print(f"mcapid RSS, {n} idle keep-alive connections: {rss_mb:.1f} MB "
      f"(fresh process: {idle['rss_base_kb']/1024:.1f} MB before them, "
      f"{(idle['rss_kb']-idle['rss_base_kb'])/n:.1f} KB each)   target <= 50 MB  {ok(rss_mb <= 50)}")
print(f"  {int(idle['alive'])}/{n} connections still open when RSS was read; mcapid had "
      f"{int(idle['fds'])} descriptors open")
print(f"mcapid RSS after the throughput run (its replay cache holds every request id): "
      f"{rss_after/1024:.1f} MB")
EOF
