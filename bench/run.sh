#!/usr/bin/env bash
# Benchmark of mcapid (issue 2, "Performance"); `make bench` runs it. See bench/README.md.
#
# Builds mcapid (Release) in build-bench/, starts it on a free loopback port with a fresh data
# dir, starts nginx (2 workers) answering a static JSON body of the same size as mcapid's
# get-account answer, drives both in turn with wrk and bench/signer.lua (every request freshly
# signed), prints requests/s, p50, p99 and the ratio, then starts a fresh mcapid and reads its RSS
# with 1,000 idle keep-alive connections open. Everything it starts is stopped on exit.
#
# Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_THREADS (2), BENCH_CONNECTIONS (50),
# BENCH_IDLE (1000), BENCH_PERF=1 (perf record mcapid during its run, print the top symbols),
# BENCH_REPLAY_MAX (4000000), BENCH_BUILD (build dir), BENCH_NO_BUILD=1 (use the existing binary), MCAPID (a binary to use),
# BENCH_ACCESS_LOG=1 (both servers write their access log to a file: mcapid --access-log on at
# level info, nginx access_log unbuffered; target >= 0.85 x nginx), BENCH_MC_FLAGS (more mcapid flags).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
IDLE=${BENCH_IDLE:-1000}
ROUNDS=${BENCH_ROUNDS:-2}
WARMUP=2
PATH_API=/api/account/get-account
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk wrk
need nginx nginx-light
need curl curl
need cmake cmake
need timeout coreutils
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

# ---- state and clean-up ---------------------------------------------------------------------
bench_init mcapi-bench

# ---- build and self-test --------------------------------------------------------------------
say "== mcapi benchmark ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s shares them with the server)"
build_mcapid
signer_selftest

# Both servers and wrk need more descriptors than the usual 1024 for the idle test.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((IDLE + 200)) ] ||
	die "open-file limit $(ulimit -n) is too low for $IDLE connections"

# ---- the servers: mcapid, then nginx answering the same body ---------------------------------
# Rate limit as high as the configuration allows (1 M calls, one back per ms), and a replay cache
# big enough that no request id of the run is refused for want of room: a generation holds
# REPLAY_MAX/2 ids, 2 M by default, over 60 s at 30 k/s. Not 50 M: the tables are calloc'ed and a
# 1 GB table takes a page fault (and a TLB shoot-down) on nearly every insert for the whole run,
# which measured ~10% of mcapid's CPU; at 4 M the warm-up touches all 32 MB of it.
# --tls-listen off: plain HTTP only (--dev would also listen for HTTPS on the fixed port 8443 and
# put the CONNECT-sorting acceptor in front of the plain listener); bench/tls.sh measures HTTPS.
# Binaries from before HTTPS (MCAPID=..., to compare with an older tree) have no such flag.
# (The help is read once: `grep -q` on the pipe may close it early, and with pipefail the
# SIGPIPE of mcapid would make the test fail at random.)
PLAIN_ONLY=()
MC_HELP=$("$MCAPID" serve --help 2>&1 || true)
if grep -q 'tls.listen' <<<"$MC_HELP"; then PLAIN_ONLY=(--tls-listen off); fi
if grep -q 'smtp.listen' <<<"$MC_HELP"; then PLAIN_ONLY+=(--smtp-listen off); fi
# One user makes every call of the run: its share of the replay cache must not bound it.
if grep -q 'replay.per.user' <<<"$MC_HELP"; then PLAIN_ONLY+=(--replay-per-user 0); fi
# BENCH_ACCESS_LOG=1: the like-for-like comparison with logging on: mcapid's access log (its
# default) into its stderr file, nginx's access_log into a file with no buffer= (one write per
# request, nginx's default).
ACCESS_LOG=${BENCH_ACCESS_LOG:-0}
LOG_FLAGS=()
TARGET=0.60
if [ "$ACCESS_LOG" = 1 ]; then
	LOG_FLAGS=(--access-log=true --log-level info)
	NG_ACCESS_LOG=$WORK/nginx-access.log
	TARGET=0.85
fi
# shellcheck disable=SC2206 # BENCH_MC_FLAGS is a list of flags
MC_FLAGS=(${BENCH_MC_FLAGS:-})
start_mcapid "${PLAIN_ONLY[@]}" --rate-limit 1000000000 --rate-refill-ms 1 \
	--replay-max "${BENCH_REPLAY_MAX:-4000000}" "${LOG_FLAGS[@]}" "${MC_FLAGS[@]}"
CREDS=$MC_DATA/dev-credentials.json
MC_LOG_FILE=$MC_DATA/stderr.log
MC_URL=http://127.0.0.1:$MC_PORT$PATH_API
say "-- mcapid $("$MCAPID" --version 2>/dev/null | head -1) pid $MC_PID on 127.0.0.1:$MC_PORT"
BODY=$WORK/get-account.json
if ! "$PY" "$BENCH/mcclient.py" probe --creds "$CREDS" --url "$MC_URL" --out "$BODY" >"$WORK/probe.log" 2>&1; then
	cat "$WORK/probe.log" >&2
	die "a signed get-account did not answer 200 with an empty fail array"
fi
BODY_BYTES=$(wc -c <"$BODY")

start_nginx "$BODY"
NG_URL=http://127.0.0.1:$NG_PORT$PATH_API
NG_BYTES=$(curl -s --max-time 2 -X POST --data-binary '{"data":[]}' "$NG_URL" | wc -c)
[ "$NG_BYTES" = "$BODY_BYTES" ] || die "nginx serves $NG_BYTES bytes, mcapid $BODY_BYTES"

# ---- throughput: warm-ups, then ROUNDS runs alternating between the two servers --------------
# Alternating rounds spread any other load on the machine over both servers; the report takes
# each server's best round (most requests/s) and lists them all.
# Other work on the machine skews everything: measure how busy the cores are before starting.
# CPU_PIDS: run_wrk also records each server's CPU time per request (see lib.sh).
say_cpu_busy
CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$WARMUP" 1 warm-up
check_run mcapid
CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$WARMUP" 0 warm-up
check_run nginx
for r in $(seq "$ROUNDS"); do
	[ "$r" = 1 ] && perf_start "$MC_PID" $((DURATION - 1)) plain
	CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$DURATION" 0 "round$r"
	check_run mcapid
	perf_report "round 1"
	CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$DURATION" 0 "round$r"
	check_run nginx
done
MC_RSS_AFTER=$(rss_kb "$MC_PID")
stop_pid "$MC_PID"
stop_pid "$NG_PID"

# ---- memory: idle keep-alive connections on a fresh mcapid -----------------------------------
# A new process with the default replay cache, so the figure is the connections' cost and not
# what the throughput runs left in the replay cache; and a second start on its store, as in
# production: the first start also creates the development account (and hashes its password),
# which leaves about 8 MB more heap behind.
IDLE_FLAGS=("${PLAIN_ONLY[@]}" --max-connections $((IDLE + 1000)) --conn-timeout 120 --rate-limit 1000000)
start_mcapid "${IDLE_FLAGS[@]}"
stop_pid "$MC_PID"
REUSE_DATA=$MC_DATA start_mcapid "${IDLE_FLAGS[@]}"
CREDS=$MC_DATA/dev-credentials.json
IDLE_OUT=$WORK/idle.log
timeout 90 "$PY" "$BENCH/mcclient.py" idle --creds "$CREDS" \
	--url "http://127.0.0.1:$MC_PORT$PATH_API" --pid "$MC_PID" -n "$IDLE" >"$IDLE_OUT" 2>&1 ||
	{ cat "$IDLE_OUT" >&2; die "the idle-connection test failed"; }
stop_pid "$MC_PID"

# ---- report ---------------------------------------------------------------------------------
say ""
for label in mcapid nginx; do
	for r in $(seq "$ROUNDS"); do
		say "-- wrk, $label, round $r:"
		sed 's/^/   /' "$WORK/wrk.$label.round$r.log"
	done
done
say "-- $(grep RESULT "$IDLE_OUT")"
if [ "$ACCESS_LOG" = 1 ]; then
	say "-- access logs on: mcapid wrote $(grep -c ' access ' "$MC_LOG_FILE") lines," \
		"nginx $(wc -l <"$NG_ACCESS_LOG") lines"
fi
"$PY" - "$WORK" "$ROUNDS" "$IDLE_OUT" "$BODY_BYTES" "$MC_RSS_AFTER" "$CONNS" "$IDLE" "$DURATION" "$TARGET" "$ACCESS_LOG" <<'EOF'
import re, statistics, sys
def kv(path):
    line = [l for l in open(path) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
work, rounds = sys.argv[1], int(sys.argv[2])
idle, body, rss_after = kv(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
conns, n, secs = sys.argv[6], int(sys.argv[7]), sys.argv[8]
target, logs = float(sys.argv[9]), sys.argv[10] == "1"
runs = {s: [kv(f"{work}/result.{s}.round{r}") for r in range(1, rounds + 1)] for s in ("mcapid", "nginx")}
mc, ng = (max(runs[s], key=lambda x: x["rps"]) for s in ("mcapid", "nginx"))
ratio = mc["rps"] / ng["rps"]
rss_mb = idle["rss_kb"] / 1024
ok = lambda b: "ok" if b else "MISSED"
print()
print(f"signed POST /api/account/get-account ({body}-byte body), {conns} connections, "
      f"best of {rounds} x {secs} s per server, access logs {'ON (both, to files)' if logs else 'off'}")
print(f"{'':22}{'mcapid':>10}{'nginx':>10}{'mcapid/nginx':>14}   target")
print(f"{'requests/s':22}{mc['rps']:10.0f}{ng['rps']:10.0f}{ratio:14.2f}   >= {target:.2f} x nginx  {ok(ratio >= target)}")
print(f"{'p50 latency (ms)':22}{mc['p50_us']/1000:10.2f}{ng['p50_us']/1000:10.2f}{mc['p50_us']/ng['p50_us']:14.2f}")
print(f"{'p99 latency (ms)':22}{mc['p99_us']/1000:10.2f}{ng['p99_us']/1000:10.2f}{mc['p99_us']/ng['p99_us']:14.2f}   mcapid <= 5 ms   {ok(mc['p99_us'] <= 5000)}")
print(f"{'max latency (ms)':22}{mc['max_us']/1000:10.2f}{ng['max_us']/1000:10.2f}")
print(f"{'CPU/request (us)':22}{mc['cpu_us']:10.1f}{ng['cpu_us']:10.1f}{mc['cpu_us']/ng['cpu_us']:14.2f}"
      "   the server's user + system time")
print(f"{'wrk CPU/request (us)':22}{mc['client_us']:10.1f}{ng['client_us']:10.1f}"
      "                 the client's, on the same cores")
per = sorted(m["rps"] / n["rps"] for m, n in zip(runs["mcapid"], runs["nginx"]))
print(f"mcapid/nginx round by round (neighbours in time): {', '.join(f'{x:.2f}' for x in per)}; "
      f"median {statistics.median(per):.2f}")
for s in ("mcapid", "nginx"):
    print(f"  {s} rounds (req/s / p99 ms / server, wrk CPU us per request): " +
          ", ".join(f"{x['rps']:.0f} / {x['p99_us']/1000:.2f} / {x['cpu_us']:.1f}, {x['client_us']:.1f}"
                    for x in runs[s]))
print()
print(f"mcapid RSS, {n} idle keep-alive connections: {rss_mb:.1f} MB "
      f"(new process, second start: {idle['rss_base_kb']/1024:.1f} MB before them, "
      f"{(idle['rss_kb']-idle['rss_base_kb'])/n:.1f} KB each)   target <= 50 MB  {ok(rss_mb <= 50)}")
print(f"  {int(idle['alive'])}/{n} connections still open when RSS was read; mcapid had "
      f"{int(idle['fds'])} descriptors open")
print(f"mcapid RSS after the throughput runs (replay cache holding their request ids): "
      f"{rss_after/1024:.1f} MB")
EOF
