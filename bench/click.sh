#!/usr/bin/env bash
# Benchmark of the TTP URL protection click endpoint (issue 10): GET /s/<token> as a mail
# reader's browser sends it. Not a test: it prints figures next to their target. See
# bench/README.md and docs/urls.md.
#
# Starts mcapid (Release, fresh SQLite data dir) with its SMTP front on free loopback ports,
# makes bench.example an internal domain (bench/smtp_helper.py internal), sends one message
# with a link over SMTP, takes the rewritten link from the delivered copy in the Maildir and
# drives it with wrk (-t THREADS -c CONNS, keep-alive):
#   1. clicks logged per second: ttp_url events in the store after the run minus before,
#      divided by the run's length (every 302 is sent only after its event is committed, so
#      this is also the rate of answered clicks), with wrk's requests/s and latencies;
#   2. the reference, in the same run: nginx (2 workers) answering every request with the
#      same 302 from its configuration (no logging, no store), and the ratio.
# Rounds of 1 and 2 alternate. Everything started is stopped on exit.
#
# Environment: BENCH_DURATION (s per run, 10), BENCH_THREADS (2), BENCH_CONNECTIONS (100),
# BENCH_ROUNDS (2), BENCH_MCAPID_ARGS (extra mcapid flags, e.g. "--click-batch 256"),
# BENCH_PERF=1 (perf record -g mcapid during the first click run), BENCH_BUILD (build dir,
# build-bench), BENCH_NO_BUILD=1, MCAPID (a binary to use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-100}
ROUNDS=${BENCH_ROUNDS:-2}
DOMAIN=bench.example
TARGET_URL="https://www.example.com/landing?campaign=bench"
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need wrk wrk
need curl curl
need nginx nginx
need cmake cmake
need timeout coreutils

bench_init mcapi-bench-click
say "== TTP click benchmark ($(nproc) cores shared by wrk and the server)"
bench_build
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- mcapid, the internal domain, one delivered message with a rewritten link ----------------
MC_PORT=$(free_port)
SMTP_PORT=$(free_port)
MC_DATA=$(mktemp -d "$WORK/data.XXXXXX")
# shellcheck disable=SC2086 # BENCH_MCAPID_ARGS is a list of flags
"$MCAPID" serve --dev --listen "127.0.0.1:$MC_PORT" --smtp-listen "127.0.0.1:$SMTP_PORT" \
	--tls-listen off --public-base-url "http://127.0.0.1:$MC_PORT" --data-dir "$MC_DATA" \
	--access-log=false --log-level warn --per-ip-connections 0 --ip-limit 1000000 \
	--max-connections 4096 ${BENCH_MCAPID_ARGS:-} >"$MC_DATA/stdout.log" 2>"$MC_DATA/stderr.log" &
MC_PID=$!
PIDS+=("$MC_PID")
wait_ready "http://127.0.0.1:$MC_PORT/healthz" "$MC_PID" 20 ||
	{ tail -20 "$MC_DATA/stderr.log" >&2; die "mcapid did not answer /healthz"; }
CREDS=$MC_DATA/dev-credentials.json
DB=$MC_DATA/mcapid.db
"$PY" "$BENCH/smtp_helper.py" internal --creds "$CREDS" --api "http://127.0.0.1:$MC_PORT" \
	--db "$DB" --domain "$DOMAIN" >"$WORK/internal.log" 2>&1 ||
	{ cat "$WORK/internal.log" >&2; die "setup failed"; }
LINK=$("$PY" - "$SMTP_PORT" "$DOMAIN" "$TARGET_URL" "$MC_DATA/mail/$DOMAIN/reader/new" <<'PYEOF'
import glob, re, smtplib, sys, time
from email.message import EmailMessage
port, domain, url, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "sender@example.org", "reader@" + domain, "click bench"
m.set_content("Please read %s today.\n" % url)
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.send_message(m)
end = time.time() + 60
while time.time() < end:
    for f in glob.glob(maildir + "/*"):
        links = re.findall(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+", open(f).read())
        if links:
            print(links[0])
            sys.exit(0)
    time.sleep(0.1)
sys.exit("no delivered copy with a rewritten link in " + maildir)
PYEOF
) || die "could not get a rewritten link"
LOC=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$LINK")
[ "$LOC" = "302 $TARGET_URL" ] || die "the link answers '$LOC', not a 302 to $TARGET_URL"
say "-- mcapid pid $MC_PID, link of $((${#LINK} - ${#MC_PORT} - 20))-character token -> 302 $TARGET_URL"

# ---- nginx answering the same 302 ------------------------------------------------------------
NG=$WORK/nginx
mkdir -p "$NG"
chmod 755 "$NG"
NG_PORT=$(free_port)
cat >"$NG/nginx.conf" <<NGEOF
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
	server {
		listen 127.0.0.1:$NG_PORT;
		location /healthz { return 200 'ok'; }
		location / {
			add_header Cache-Control no-store always;
			add_header Referrer-Policy no-referrer always;
			return 302 '$TARGET_URL';
		}
	}
}
NGEOF
nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
NG_PID=$!
PIDS+=("$NG_PID")
wait_ready "http://127.0.0.1:$NG_PORT/healthz" "$NG_PID" 10 ||
	{ cat "$NG/error.log" >&2; die "nginx did not start"; }
NG_LINK=http://127.0.0.1:$NG_PORT${LINK#http://127.0.0.1:$MC_PORT}
NG_PIDS="$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')" # the master and its workers

# ---- runs ------------------------------------------------------------------------------------
events() { "$PY" -c "import sqlite3,sys; print(sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True).execute(\"SELECT count(*) FROM mail_events WHERE type = 'ttp_url'\").fetchone()[0])" "$DB"; }

# wrk_run LABEL URL [PIDS]: sets RPS, P50, P99 (ms), REQS, ERRS (socket errors and timeouts),
# and CPU_US: the CPU time of the processes PIDS (all threads) per request, in microseconds,
# which other load on the machine disturbs much less than requests/s.
wrk_run() {
	local log=$WORK/wrk.$1.log t0=0
	[ -z "${3:-}" ] || t0=$(cpu_ticks $3)
	timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s \
		--latency "$2" >"$log" 2>&1 || { cat "$log" >&2; die "wrk failed ($1)"; }
	RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$log")
	REQS=$(awk '/requests in/ {print $1}' "$log")
	P50=$(awk '$1 == "50%" {print $2}' "$log")
	P99=$(awk '$1 == "99%" {print $2}' "$log")
	ERRS=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$log")
	ERRS=${ERRS:-0}
	CPU_US=-
	[ -z "${3:-}" ] || CPU_US=$(awk -v t=$(($(cpu_ticks $3) - t0)) -v hz="$(getconf CLK_TCK)" \
		-v n="$REQS" 'BEGIN {printf "%.1f", n ? t * 1e6 / hz / n : 0}')
}

say_cpu_busy
wrk_run warm-up "$LINK" # warms the message cache, the statement caches and the WAL
printf '%s\n' "round clicks_logged/s wrk_req/s p50 p99 errors cpu_us/click | nginx_req/s p50 p99 cpu_us/req | ratio" >"$WORK/table"
BEST=0
for r in $(seq "$ROUNDS"); do
	E0=$(events)
	[ "$r" = 1 ] && perf_start "$MC_PID" "$DURATION" click
	T0=$(date +%s.%N)
	wrk_run mcapid.$r "$LINK" "$MC_PID"
	T1=$(date +%s.%N)
	[ "$r" = 1 ] && perf_report "the first click run"
	E1=$(events)
	LOGGED=$((E1 - E0))
	CPS=$(awk -v n="$LOGGED" -v a="$T0" -v b="$T1" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}')
	# every answered click must be logged: wrk's count of completed requests is a lower bound
	[ "$LOGGED" -ge "$REQS" ] || die "round $r: $REQS clicks answered but only $LOGGED logged"
	M="$CPS $RPS $P50 $P99 $ERRS $CPU_US"
	wrk_run nginx.$r "$NG_LINK" "$NG_PIDS"
	printf '%s\n' "$r $M | $RPS $P50 $P99 $CPU_US | $(awk -v a="$CPS" -v b="$RPS" 'BEGIN {printf "%.2fx", a / b}')" >>"$WORK/table"
	[ "$CPS" -gt "$BEST" ] && BEST=$CPS
done
say ""
column -t "$WORK/table" 2>/dev/null || cat "$WORK/table"
say ""
if [ "$BEST" -ge 20000 ]; then V=ok; else V=MISSED; fi
say "clicks logged: best $BEST/s (each 302 sent after its ttp_url event committed)   target >= 20000/s  $V"
say "store: $(events) ttp_url events in total"
