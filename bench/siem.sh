#!/usr/bin/env bash
# Benchmark of the SIEM log chain (issue 10): events/s served by get-siem-logs and the time per
# file as the store grows. Not a test: it prints figures next to their targets. See
# bench/README.md.
#
# Starts mcapid (Release, fresh SQLite data dir, SMTP front off: the traffic comes from
# `mcapid admin mail generate`, which feeds the same checks in-process), makes bench.example an
# internal domain of the dev account routed to Postfix's smtp-sink (deliveries cost little and
# write nothing), then for each store size in BENCH_SIEM_SIZES (messages; default
# "1000 100000 1000000"):
#   1. generates messages up to that size (--seed 1, --threads BENCH_SIEM_THREADS) and waits
#      until the process stage has gone through all of them (their events are written);
#   2. walks the whole chain from no token to isLastToken (json, zipped, one keep-alive
#      connection; bench/siem_helper.py walk) and reports events/s and the time per file
#      (first byte to last, p50/p99; the mean of the full files, siem_file_max_events events),
#      and the server time per event against the first size's (the file cost, normalised for
#      files that are not full in a small store);
#   3. the reference, in the same run: nginx serving the largest file of the walk as a static
#      file to the same client (the cost of moving those bytes, not of making them).
# Targets: >= 200,000 events/s served; mean file time flat in the store's size (<= 1.5x from
# the smallest to the largest size).
#
# Environment: BENCH_SIEM_SIZES, BENCH_SIEM_THREADS (4), BENCH_SIEM_FORMAT (json),
# BENCH_SIEM_SETTLE (s to wait for the process stage per size, 3600), BENCH_BUILD, BENCH_NO_BUILD,
# MCAPID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
SIZES=${BENCH_SIEM_SIZES:-"1000 100000 1000000"}
GEN_THREADS=${BENCH_SIEM_THREADS:-4}
FORMAT=${BENCH_SIEM_FORMAT:-json}
SETTLE=${BENCH_SIEM_SETTLE:-3600}
DOMAIN=bench.example
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
HELPER=$BENCH/siem_helper.py

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl curl
need nginx nginx
need cmake cmake
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

# kv LINE KEY: the value of KEY in a key=value line
kv() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

bench_init mcapi-bench-siem
say "== SIEM log chain benchmark ($(nproc) cores; $(load_avg))"
need_postfix_tools
bench_build

SINK_PORT=$(free_port)
SINK_FLAGS=()
[ "$(id -u)" = 0 ] && SINK_FLAGS=(-u nobody) # smtp-sink refuses to run as root without -u
smtp-sink "${SINK_FLAGS[@]}" 127.0.0.1:"$SINK_PORT" 1000 >"$WORK/sink.log" 2>&1 &
PIDS+=("$!")

start_mcapid --tls-listen off --smtp-listen off --rate-limit 1000000000 --rate-refill-ms 1 --replay-per-user 0 \
	--delivery-threads 4
CREDS=$MC_DATA/dev-credentials.json
DB=$MC_DATA/mcapid.db
"$PY" "$BENCH/smtp_helper.py" internal --creds "$CREDS" --api "http://127.0.0.1:$MC_PORT" \
	--db "$DB" --domain "$DOMAIN" >"$WORK/internal.log" 2>&1 || { cat "$WORK/internal.log" >&2; die "setup failed"; }
ACCOUNT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["account_code"])' "$CREDS")
"$MCAPID" admin --data-dir "$MC_DATA" domain route --account "$ACCOUNT" --domain "$DOMAIN" \
	--route "smtp://127.0.0.1:$SINK_PORT" >"$WORK/route.log" 2>&1 || { cat "$WORK/route.log" >&2; die "domain route failed"; }
say "-- mcapid pid $MC_PID on 127.0.0.1:$MC_PORT; $DOMAIN delivers to smtp-sink 127.0.0.1:$SINK_PORT"

# the reference: nginx serving $WORK/ref/file as a static file
NGX=$WORK/nginx-static
mkdir -p "$NGX/ref"
chmod 755 "$NGX" "$NGX/ref"
NGX_PORT=$(free_port)
cat >"$NGX/nginx.conf" <<NGEOF
worker_processes 2;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $NGX/body;
	proxy_temp_path $NGX/proxy;
	fastcgi_temp_path $NGX/fastcgi;
	uwsgi_temp_path $NGX/uwsgi;
	scgi_temp_path $NGX/scgi;
	keepalive_requests 100000000;
	server { listen 127.0.0.1:$NGX_PORT; root $NGX/ref; }
}
NGEOF

have=0
ROWS=()
FIRST_US=
for size in $SIZES; do
	if [ "$size" -gt "$have" ]; then
		t0=$(date +%s.%N)
		"$MCAPID" admin --data-dir "$MC_DATA" mail generate --account "$ACCOUNT" \
			--count $((size - have)) --seed "$size" --threads "$GEN_THREADS" >"$WORK/gen.$size.log" 2>&1 ||
			{ tail -5 "$WORK/gen.$size.log" >&2; die "mail generate failed"; }
		t1=$(date +%s.%N)
		have=$size
		SETTLED=$("$PY" "$HELPER" settle --db "$DB" --timeout "$SETTLE")
		say "-- store of $size messages: generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s; $SETTLED"
	fi
	say "-- walking the chain ($FORMAT, zipped; $(load_avg))"
	RES=$("$PY" "$HELPER" walk --creds "$CREDS" --api "http://127.0.0.1:$MC_PORT" --format "$FORMAT" \
		--save "$NGX/ref/file")
	say "   $RES"
	US=$(kv "$RES" us_per_event)
	[ -n "$FIRST_US" ] || FIRST_US=$US
	ROWS+=("$(printf '%-10s %9s %6s %10s %9s %9s %10s %9s %7s' "$size" "$(kv "$RES" events)" \
		"$(kv "$RES" files)" "$(kv "$RES" events_per_s)" "$(kv "$RES" p50_ms)" "$(kv "$RES" p99_ms)" \
		"$(kv "$RES" full_file_ms)" "$US" "$(awk -v m="$US" -v f="$FIRST_US" 'BEGIN {printf "%.2f", (f > 0 ? m / f : 0)}')")")
	LAST_EPS=$(kv "$RES" events_per_s)
	LAST_RATIO=$(awk -v m="$US" -v f="$FIRST_US" 'BEGIN {printf "%.2f", (f > 0 ? m / f : 0)}')
done

REF="(no file to serve)"
if [ -s "$NGX/ref/file" ]; then
	nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" >"$NGX/stdout.log" 2>&1 &
	PIDS+=("$!")
	wait_ready "http://127.0.0.1:$NGX_PORT/file" "$!" 10 || die "nginx did not start"
	REF=$("$PY" "$HELPER" fetch --url "http://127.0.0.1:$NGX_PORT/file" --count 100)
fi

say ""
say "get-siem-logs chain walk, $FORMAT zipped, one client on one keep-alive connection"
say "messages      events  files   events/s   p50 ms    p99 ms  full file ms  us/event  x first"
for r in "${ROWS[@]}"; do say "$r"; done
say ""
say "events/s served at the largest size: $LAST_EPS (target >= 200000) $(awk -v v="$LAST_EPS" 'BEGIN {print (v >= 200000 ? "ok" : "MISSED")}')"
say "file cost (server time per event), largest size / smallest: $LAST_RATIO (target <= 1.5) $(awk -v v="$LAST_RATIO" 'BEGIN {print (v <= 1.5 ? "ok" : "MISSED")}')"
say "reference: nginx serving the largest file ($(stat -c %s "$NGX/ref/file" 2>/dev/null || echo 0) bytes) to the same client: $REF"
