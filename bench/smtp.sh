#!/usr/bin/env bash
# Benchmark of the mail gateway's SMTP intake (issue 8); `make bench` runs it after run.sh. See
# bench/README.md. Not a test: it prints figures next to their targets.
#
# Starts mcapid (Release, fresh SQLite data dir) with its SMTP front on a free loopback port,
# makes bench.example an internal domain of the dev account (created through the Domain API,
# marked verified in the store behind the API's back), and drives it with Postfix's smtp-source
# (20 parallel sessions, one 10 KiB message per session as smtp-source does without -d):
#   1. intake: messages/s answered 250 (each one recorded durably first), with a Python smtplib
#      client timing up to 200 DATA-to-250 transactions during the load (p50/p99), and
#      delivery: the time until every message is a file in the default Maildir route
#      <data_dir>/mail/bench.example/rcpt/new, and messages/s delivered;
#   2. the reference, in the same run: the same smtp-source load against Postfix's smtp-sink, a
#      pure sink (it writes nothing), and the ratio mcapid/smtp-sink;
#   3. signed get-account calls (wrk and bench/signer.lua, as run.sh) without and with the intake
#      running, and the ratio.
# Rounds of 1 and 2 alternate. smtp-source and smtp-sink come from the Debian package postfix,
# installed if missing with its service stopped (lib.sh). Everything started is stopped on exit.
#
# Environment: BENCH_SMTP_MESSAGES (messages per intake run; default: what the warm-up rate
# sends in BENCH_SMTP_SECONDS, 15), BENCH_SMTP_SESSIONS (20), BENCH_SMTP_SIZE (10240),
# BENCH_SMTP_REUSE=1 (smtp-source -d: all of a session's messages over one connection),
# BENCH_ROUNDS (2), BENCH_DURATION (s of each wrk run, 10), BENCH_THREADS (2),
# BENCH_CONNECTIONS (50), BENCH_PERF=1 (perf record -g mcapid during the first intake run, print
# where the time goes; BENCH_PERF_KEEP=FILE keeps its perf.data), BENCH_MCAPID_ARGS (extra
# mcapid flags, e.g. "--delivery-threads 4" or "--mail-nice 0"),
# BENCH_BUILD (build dir, build-bench), BENCH_NO_BUILD=1, MCAPID (a binary to use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
ROUNDS=${BENCH_ROUNDS:-2}
SESSIONS=${BENCH_SMTP_SESSIONS:-20}
SIZE=${BENCH_SMTP_SIZE:-10240}
SECONDS_AIM=${BENCH_SMTP_SECONDS:-15}
DOMAIN=bench.example
RCPT=rcpt@$DOMAIN
SENDER=sender@example.org
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
HELPER=$BENCH/smtp_helper.py

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk wrk
need curl curl
need cmake cmake
need timeout coreutils
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

bench_init mcapi-bench-smtp
say "== SMTP intake benchmark ($(nproc) cores shared by smtp-source, the clients and the server)"
need_postfix_tools
bench_build
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SOURCE_FLAGS=(-M smtp-source.example -s "$SESSIONS" -l "$SIZE" -f "$SENDER" -t "$RCPT")
if [ "${BENCH_SMTP_REUSE:-0}" = 1 ]; then SOURCE_FLAGS+=(-d); fi

# ---- mcapid with its SMTP front, and the internal domain ------------------------------------
MC_PORT=$(free_port)
SMTP_PORT=$(free_port)
MC_DATA=$(mktemp -d "$WORK/data.XXXXXX")
# All the load comes from 127.0.0.1: smtp-source's sessions and the latency client's must fit
# in smtp_per_ip_sessions (default 32).
PER_IP=${BENCH_SMTP_PER_IP:-$((SESSIONS + 8 > 32 ? SESSIONS + 8 : 32))}
# shellcheck disable=SC2086 # BENCH_MCAPID_ARGS is a list of flags
"$MCAPID" serve --dev --listen "127.0.0.1:$MC_PORT" --smtp-listen "127.0.0.1:$SMTP_PORT" --tls-listen off \
	--data-dir "$MC_DATA" --access-log=false --log-level warn --per-ip-connections 0 \
	--ip-limit 1000000 --rate-limit 1000000000 --rate-refill-ms 1 --replay-max 4000000 --replay-per-user 0 \
	--smtp-per-ip-sessions "$PER_IP" ${BENCH_MCAPID_ARGS:-} >"$MC_DATA/stdout.log" 2>"$MC_DATA/stderr.log" &
MC_PID=$!
PIDS+=("$MC_PID")
wait_ready "http://127.0.0.1:$MC_PORT/healthz" "$MC_PID" 20 ||
	{ tail -20 "$MC_DATA/stderr.log" >&2; die "mcapid did not answer /healthz"; }
CREDS=$MC_DATA/dev-credentials.json
DB=$MC_DATA/mcapid.db
MAILDIR=$MC_DATA/mail/$DOMAIN/${RCPT%@*}
"$PY" "$HELPER" internal --creds "$CREDS" --api "http://127.0.0.1:$MC_PORT" --db "$DB" \
	--domain "$DOMAIN" >"$WORK/internal.log" 2>&1 || { cat "$WORK/internal.log" >&2; die "setup failed"; }
say "-- mcapid $("$MCAPID" --version 2>/dev/null | head -1) pid $MC_PID: HTTP 127.0.0.1:$MC_PORT, SMTP 127.0.0.1:$SMTP_PORT; $(cat "$WORK/internal.log")"

SINK_PORT=$(free_port)
SINK_FLAGS=()
[ "$(id -u)" = 0 ] && SINK_FLAGS=(-u nobody) # smtp-sink refuses to run as root without -u
smtp-sink "${SINK_FLAGS[@]}" 127.0.0.1:"$SINK_PORT" 1000 >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
sleep 0.3
kill -0 "$SINK_PID" 2>/dev/null || { cat "$WORK/sink.log" >&2; die "smtp-sink did not start"; }
say "-- smtp-sink pid $SINK_PID on 127.0.0.1:$SINK_PORT"

# ---- helpers --------------------------------------------------------------------------------
now() { date +%s.%N; }
# files delivered to rcpt@ (smtp-source's messages), and to every mailbox of the domain
delivered_rcpt() { find "$MAILDIR/new" -maxdepth 1 -type f 2>/dev/null | wc -l; }
delivered() { find "$MC_DATA/mail/$DOMAIN" -path '*/new/*' -type f 2>/dev/null | wc -l; }
SENT=0 # messages mcapid accepted so far (smtp-source and the latency client)

# source_run LABEL PORT N: runs smtp-source in the foreground; sets SRC_SECS.
source_run() {
	local t0 t1
	t0=$(now)
	timeout 600 smtp-source "${SOURCE_FLAGS[@]}" -m "$3" "127.0.0.1:$2" >"$WORK/source.$1.log" 2>&1 ||
		{ cat "$WORK/source.$1.log" >&2; die "smtp-source failed ($1)"; }
	t1=$(now)
	SRC_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
}

# wait_delivered N TIMEOUT: until N messages are in the Maildir.
wait_delivered() {
	for _ in $(seq $(($2 * 10))); do
		[ "$(delivered)" -ge "$1" ] && return 0
		sleep 0.1
	done
	die "only $(delivered) of $1 messages delivered to $MAILDIR after $2 s ($("$PY" "$HELPER" count --db "$DB"))"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }

# ---- warm-up: sizes the runs ----------------------------------------------------------------
BUSY=$(cpu_busy)
say "-- cores busy with other work before the runs: $BUSY% ($(load_avg))"
[ "$BUSY" -le 10 ] || say "   WARNING: other processes are using the CPU; the figures below will be low and noisy"
source_run warm-up "$SMTP_PORT" 1000
SENT=$((SENT + 1000))
WARM_RATE=$(rate 1000 "$SRC_SECS")
source_run warm-up-sink "$SINK_PORT" 1000
wait_delivered "$SENT" 120
N=${BENCH_SMTP_MESSAGES:-$(awk -v r="$WARM_RATE" -v s="$SECONDS_AIM" \
	'BEGIN {n = int(r * s / 1000 + 0.5) * 1000; if (n < 2000) n = 2000; if (n > 200000) n = 200000; print n}')}
say "-- warm-up: 1000 messages at $WARM_RATE msg/s; $N messages per run (smtp-source ${SOURCE_FLAGS[*]} -m $N)"

# ---- API alone ------------------------------------------------------------------------------
API_URL=http://127.0.0.1:$MC_PORT/api/account/get-account
wrk_signed api-warm-up "$API_URL" 2 "$CREDS"
say "-- signed get-account, wrk -t$THREADS -c$CONNS, ${DURATION} s, no intake ($(load_avg))"
wrk_signed api-alone "$API_URL" "$DURATION" "$CREDS"
say "   $(cat "$RES")"

# ---- intake rounds, alternating with the smtp-sink reference --------------------------------
perf_start() {
	PERF_PID=
	[ "${BENCH_PERF:-0}" = 1 ] || return 0
	need perf linux-perf
	# the whole machine: `perf record -p` would miss the session threads started meanwhile
	perf record -q -a -g -F 499 -o "$WORK/perf.data" -- sleep "$1" >"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
}

: >"$WORK/rounds"
for r in $(seq "$ROUNDS"); do
	base=$(delivered_rcpt)
	stop=$WORK/stop.$r
	"$PY" "$HELPER" watch --dir "$MAILDIR" --base "$base" --expect "$N" --timeout 600 \
		--out "$WORK/watch.$r.json" &
	WATCH_PID=$!
	PIDS+=("$WATCH_PID")
	# about 220 transactions over the run's expected length; at most 200 are timed
	interval=$(awk -v n="$N" -v r="$WARM_RATE" 'BEGIN {i = n / r / 220; if (i < 0.02) i = 0.02; printf "%.3f", i}')
	"$PY" "$HELPER" latency --port "$SMTP_PORT" --to "lat@$DOMAIN" --size "$SIZE" \
		--interval "$interval" --max 200 --stop-file "$stop" >"$WORK/latency.$r" 2>&1 &
	LAT_PID=$!
	PIDS+=("$LAT_PID")
	PERF_PID=
	if [ "$r" = 1 ]; then
		perf_start "$(awk -v n="$N" -v r="$WARM_RATE" 'BEGIN {printf "%d", n / r * 0.8 + 1}')"
	fi
	load=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(now)
	source_run "mcapid.$r" "$SMTP_PORT" "$N"
	touch "$stop"
	mc_secs=$SRC_SECS
	wait "$LAT_PID" || { cat "$WORK/latency.$r" >&2; die "the latency client failed"; }
	wait "$WATCH_PID" || die "the Maildir watcher failed"
	if [ -n "$PERF_PID" ]; then wait "$PERF_PID" || true; fi
	lat_n=$(sed -n 's/.*count=\([0-9]*\).*/\1/p' "$WORK/latency.$r")
	SENT=$((SENT + N + lat_n))
	"$PY" - "$WORK/watch.$r.json" "$t0" "$N" >"$WORK/deliv.$r" <<'EOF'
import json, sys
w, t0, n = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
if w["count"] < n:
    sys.exit("only %d of %d delivered in time" % (w["count"], n))
print("%.3f" % (w["marks"]["100"] - t0))
EOF
	dl_secs=$(cat "$WORK/deliv.$r")
	source_run "sink.$r" "$SINK_PORT" "$N"
	sink_secs=$SRC_SECS
	echo "round=$r load=$load mc_secs=$mc_secs deliv_secs=$dl_secs sink_secs=$sink_secs $(cat "$WORK/latency.$r")" >>"$WORK/rounds"
	say "-- round $r (load $load): mcapid $(rate "$N" "$mc_secs") msg/s accepted, all delivered" \
		"after $dl_secs s ($(rate "$N" "$dl_secs") msg/s); smtp-sink $(rate "$N" "$sink_secs") msg/s;" \
		"latency $(cat "$WORK/latency.$r")"
done
wait_delivered "$SENT" 300

# ---- API with the intake running ------------------------------------------------------------
BEST_SECS=$(sed -n 's/.* mc_secs=\([0-9.]*\).*/\1/p' "$WORK/rounds" | sort -n | head -1)
N_API=$(awk -v n="$N" -v s="$BEST_SECS" -v d="$DURATION" 'BEGIN {printf "%d", n / s * (d + 4)}')
say "-- signed get-account again, with smtp-source sending $N_API messages meanwhile ($(load_avg))"
t0=$(now)
smtp-source "${SOURCE_FLAGS[@]}" -m "$N_API" "127.0.0.1:$SMTP_PORT" >"$WORK/source.api.log" 2>&1 &
SRC_PID=$!
PIDS+=("$SRC_PID")
sleep 1
wrk_signed api-intake "$API_URL" "$DURATION" "$CREDS"
t_wrk_end=$(now)
wait "$SRC_PID" || { cat "$WORK/source.api.log" >&2; die "smtp-source failed (with the API)"; }
t1=$(now)
SENT=$((SENT + N_API))
say "   $(cat "$RES")"
src_api_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
still=$(awk -v a="$t_wrk_end" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
say "   intake meanwhile: $N_API messages in $src_api_secs s ($(rate "$N_API" "$src_api_secs") msg/s); it ran $still s past the end of wrk's run"
wait_delivered "$SENT" 300
RECORDED=$("$PY" "$HELPER" count --db "$DB")

# ---- where the time went ------------------------------------------------------------------
if [ "${BENCH_PERF:-0}" = 1 ] && [ -s "$WORK/perf.data" ]; then
	perf_top() { perf report -i "$WORK/perf.data" --stdio "$@" 2>/dev/null | grep -E '^ +[0-9.]+%' || true; }
	say ""
	say "-- perf, the whole machine during intake run 1: CPU by command"
	perf_top --no-children --sort comm -g none | head -8
	say "-- mcapid by thread: the process worker and the delivery workers live long, each SMTP"
	say "   session has a thread of its own (the rest)"
	perf_top --comm mcapid --no-children --sort pid -g none >"$WORK/perf.pid"
	head -4 "$WORK/perf.pid"
	awk 'NR > 4 {s += $1; n++} END {printf "    %5.2f%%  the other %d threads\n", s, n}' "$WORK/perf.pid"
	say "-- mcapid by shared object (self time)"
	perf_top --comm mcapid --no-children --sort dso -g none | head -10
	say "-- mcapid, top symbols (self time)"
	perf_top --comm mcapid --no-children --sort dso,symbol -g none | head -30
	say "-- mcapid, inclusive time (kernel call chains are whole; user ones need a build with"
	say "   -fno-omit-frame-pointer, e.g. MCAPID=... from CMAKE_C_FLAGS=-fno-omit-frame-pointer)"
	perf_top --comm mcapid --children --sort symbol -g none | head -40
	if [ -n "${BENCH_PERF_KEEP:-}" ]; then cp "$WORK/perf.data" "$BENCH_PERF_KEEP"; fi
fi

# ---- report ---------------------------------------------------------------------------------
"$PY" - "$WORK/rounds" "$N" "$SESSIONS" "$SIZE" "$WORK/wrk.api-alone.res" "$WORK/wrk.api-intake.res" \
	"$RECORDED" "$SENT" "$(delivered)" <<'EOF'
import re, sys
def kv(line):
    return {k: float(v) if re.fullmatch(r"[0-9.]+", v) else v for k, v in re.findall(r"(\w+)=(\S+)", line)}
rounds = [kv(l) for l in open(sys.argv[1]) if l.strip()]
n, sessions, size = int(sys.argv[2]), sys.argv[3], sys.argv[4]
alone, busy = (kv(open(p).read()) for p in sys.argv[5:7])
recorded, sent, delivered = sys.argv[7], int(sys.argv[8]), int(sys.argv[9])
ok = lambda b: "ok" if b else "MISSED"
best = min(rounds, key=lambda x: x["mc_secs"])
sink = min(rounds, key=lambda x: x["sink_secs"])
mc_rate, sink_rate = n / best["mc_secs"], n / sink["sink_secs"]
dl_rate = n / best["deliv_secs"]
ratio = mc_rate / sink_rate
api = busy["rps"] / alone["rps"]
print()
print(f"smtp-source -s {sessions} -l {size}, {n} messages per run, best of {len(rounds)} runs")
print(f"{'':34}{'value':>12}   target")
print(f"{'mcapid accepted (250), msg/s':34}{mc_rate:12.0f}   >= 1000           {ok(mc_rate >= 1000)}")
print(f"{'smtp-sink, msg/s':34}{sink_rate:12.0f}")
print(f"{'mcapid / smtp-sink':34}{ratio:12.2f}   >= 0.10           {ok(ratio >= 0.1)}")
print(f"{'delivered to the Maildir, msg/s':34}{dl_rate:12.0f}   (all {n} {best['deliv_secs']:.1f} s after the start; intake took {best['mc_secs']:.1f} s)")
print(f"{'DATA-to-250 p50 (ms)':34}{best['p50_ms']:12.2f}   ({int(best['count'])} timed transactions during the load, {int(best['errors'])} refused)")
print(f"{'DATA-to-250 p99 (ms)':34}{best['p99_ms']:12.2f}   <= 50             {ok(best['p99_ms'] <= 50)}")
print(f"{'signed get-account alone, req/s':34}{alone['rps']:12.0f}")
print(f"{'... with the intake running':34}{busy['rps']:12.0f}   ({api:.2f}x; p99 {alone['p99_us']/1000:.2f} -> {busy['p99_us']/1000:.2f} ms)")
print(f"{'API slowdown':34}{(1 - api) * 100:11.0f}%   <= 20%            {ok(api >= 0.8)}")
print("  runs (load average at the start: mcapid msg/s, delivered msg/s, smtp-sink msg/s, p50/p99 ms):")
for r in rounds:
    print(f"    {r['load']}: {n / r['mc_secs']:.0f}, {n / r['deliv_secs']:.0f}, {n / r['sink_secs']:.0f}, "
          f"{r['p50_ms']:.1f}/{r['p99_ms']:.1f}")
print(f"  store: {recorded} messages recorded; {sent} accepted by mcapid in all, {delivered} delivered")
ok_all = recorded.startswith(f"total={sent} ") and delivered == sent
if not ok_all:
    print("  MISMATCH between the messages accepted, recorded and delivered")
    sys.exit(1)
EOF
