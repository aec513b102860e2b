#!/usr/bin/env bash
# Benchmarks of the Domain API (issue 3). Not a test: it prints figures next to their targets.
#
#  1. signed get-pending-domain with 10 pending domains: requests/s against nginx serving a
#     static JSON body of the same size, in the same run              (target >= 0.6x nginx)
#  2. the same while 100 verify-domain calls wait on a DNS server that never answers
#                                                                    (target >= 0.9x of 1.)
#  3. create-domain with distinct names, 50 per call: domains/s        (target >= 20,000/s)
#  4. get-internal-domain, one page of 100, in an account of 1,000,000 domains against one of
#     1,000 (same database, seeded with a bulk insert into the stopped server's database; the
#     list-answer cache is off here, so the store's keyset pages are what is measured)
#                                                                    (target <= 2x the time)
#
# Every request is freshly signed (bench/signer.lua; bench/domain_create.lua for create-domain).
# Environment: BENCH_DURATION (s, 10), BENCH_THREADS (2), BENCH_CONNECTIONS (50),
# BENCH_BIG (1000000), BENCH_BUILD (build dir, build-bench), BENCH_NO_BUILD=1, MCAPID (a binary),
# BENCH_LIST_CACHE_MS (passed as --list-cache-ms to 1-3; 0 = measure without the answer cache).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench-domain}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
BIG=${BENCH_BIG:-1000000}
PY=${PYTHON:-/usr/bin/python3}
HELPER=$BENCH/domain_helper.py

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for t in wrk nginx curl timeout; do command -v $t >/dev/null || die "'$t' is not installed"; done

bench_init mcapi-bench-domain

# Starts mcapid on MC_DATA (created if empty) with extra flags "$@"; sets MC_PID, MC_PORT,
# MC_BASE. BENCH_LIST_CACHE_MS, when set, is passed as --list-cache-ms (0 measures the store).
start_mcapid() {
	MC_PORT=$(free_port)
	mkdir -p "$MC_DATA"
	# --tls-listen off: plain HTTP only, no HTTPS listener on --dev's fixed port 8443.
	"$MCAPID" serve --dev --listen "127.0.0.1:$MC_PORT" --tls-listen off --smtp-listen off --data-dir "$MC_DATA" \
		--public-base-url "http://127.0.0.1:$MC_PORT" --access-log=false --log-level warn \
		--per-ip-connections 0 --ip-limit 1000000 --rate-limit 1000000000 --rate-refill-ms 1 \
		--replay-max 20000000 --replay-per-user 0 --dns-servers "127.0.0.1:$SILENT_PORT" --dns-timeout-ms 60000 \
		${BENCH_LIST_CACHE_MS:+--list-cache-ms "$BENCH_LIST_CACHE_MS"} "$@" \
		>>"$MC_DATA/stdout.log" 2>>"$MC_DATA/stderr.log" &
	MC_PID=$!
	PIDS+=("$MC_PID")
	wait_ready "http://127.0.0.1:$MC_PORT/healthz" "$MC_PID" 30 ||
		{ tail -20 "$MC_DATA/stderr.log" >&2; die "mcapid did not start"; }
	MC_BASE=http://127.0.0.1:$MC_PORT
}

# run_wrk LABEL URL SCRIPT [env...]: the figures land in $WORK/LABEL.res (key=value line).
run_wrk() {
	local label=$1 url=$2 script=$3
	shift 3
	: >"$WORK/$label.res"
	env MC_RESULT_FILE="$WORK/$label.res" "$@" timeout $((DURATION + 60)) \
		wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency -s "$script" "$url" \
		>"$WORK/$label.log" 2>&1 || { cat "$WORK/$label.log" >&2; die "wrk failed ($label)"; }
	local non2xx
	non2xx=$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' "$WORK/$label.res")
	[ "${non2xx:-1}" = 0 ] || { cat "$WORK/$label.log" >&2; die "$label: $non2xx non-2xx answers"; }
	say "   $label: $(cat "$WORK/$label.res")"
}
fig() { sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$WORK/$1.res"; }

# ---- build ------------------------------------------------------------------------------------
bench_build
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "== Domain API benchmark ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine)"

# A DNS "server" that reads queries and never answers.
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True: s.recv(65535)
' >"$WORK/silent.port" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$WORK/silent.port" ] && break; sleep 0.1; done
SILENT_PORT=$(cat "$WORK/silent.port")

# ---- 1 and 2: get-pending-domain, alone and with 100 verifications waiting --------------------
MC_DATA=$WORK/data1
start_mcapid
CREDS=$MC_DATA/dev-credentials.json
ITEMS=$("$PY" -c 'import json; print(json.dumps({"data": [{"domain": "pending%02d.bench" % i, "inboundType": "any"} for i in range(10)]}))')
"$PY" "$HELPER" call --creds "$CREDS" --url "$MC_BASE/api/domain/create-domain" --body "$ITEMS" >/dev/null
"$PY" "$HELPER" call --creds "$CREDS" --url "$MC_BASE/api/domain/get-pending-domain" --out "$WORK/pending.json" >/dev/null
BODY_BYTES=$(wc -c <"$WORK/pending.json")
# the waiting verifications come from a second account, so they do not change the list above
ACCT=$("$MCAPID" admin --data-dir "$MC_DATA" account create --name waiter)
CODE=$(printf '%s' "$ACCT" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("account_code") or d.get("accountCode") or d.get("code"))')
APP=$("$MCAPID" admin --data-dir "$MC_DATA" app create --account "$CODE" --name waiter)
APP_ID=$(printf '%s' "$APP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["app_id"])')
"$MCAPID" admin --data-dir "$MC_DATA" user create --account "$CODE" --email waiter@bench.example --perms admin >/dev/null
KEYS=$("$MCAPID" admin --data-dir "$MC_DATA" keys create --email waiter@bench.example --app-id "$APP_ID")
"$PY" - "$APP" "$KEYS" "$WORK/waiter.json" <<'EOF'
import json, sys
app, keys = json.loads(sys.argv[1]), json.loads(sys.argv[2])
json.dump({"app_id": app["app_id"], "app_key": app["app_key"], "access_key": keys["access_key"],
           "secret_key": keys["secret_key"]}, open(sys.argv[3], "w"))
EOF
for half in 0 1; do
	W=$("$PY" -c "import json; print(json.dumps({'data': [{'domain': 'wait%04d.bench' % i, 'inboundType': 'any'} for i in range($half * 50, $half * 50 + 50)]}))")
	"$PY" "$HELPER" call --creds "$WORK/waiter.json" --url "$MC_BASE/api/domain/create-domain" --body "$W" >/dev/null
done

say "-- 1. signed get-pending-domain, 10 pending domains ($BODY_BYTES-byte answer)"
run_wrk pending_warm "$MC_BASE/api/domain/get-pending-domain" "$BENCH/signer.lua" \
	MC_CREDENTIALS="$CREDS" MC_PATH=/api/domain/get-pending-domain MC_CHECK_BODY=1
run_wrk pending "$MC_BASE/api/domain/get-pending-domain" "$BENCH/signer.lua" \
	MC_CREDENTIALS="$CREDS" MC_PATH=/api/domain/get-pending-domain

say "-- 2. the same while 100 verify-domain calls wait on a silent DNS server"
"$PY" "$HELPER" hold --creds "$WORK/waiter.json" --base "$MC_BASE" -n 100 --seconds $((DURATION + 4)) \
	>"$WORK/hold.log" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
sleep 2
WAITING=$(ls -l /proc/"$MC_PID"/fd 2>/dev/null | grep -c socket || true)
run_wrk pending_hold "$MC_BASE/api/domain/get-pending-domain" "$BENCH/signer.lua" \
	MC_CREDENTIALS="$CREDS" MC_PATH=/api/domain/get-pending-domain
wait "$HOLD_PID" || true
say "   $(cat "$WORK/hold.log") (mcapid had $WAITING sockets open while they waited)"

say "-- 3. create-domain, 50 distinct names per call"
run_wrk create "$MC_BASE" "$BENCH/domain_create.lua" MC_CREDENTIALS="$CREDS" MC_CHECK_BODY=1
CREATED=$("$PY" -c "import sqlite3; print(sqlite3.connect('$MC_DATA/mcapid.db').execute(\"SELECT count(*) FROM domains WHERE name LIKE '%.bench' AND name LIKE 'd%'\").fetchone()[0])")
stop_pid "$MC_PID"

# nginx with a body of the same size as get-pending-domain's
start_nginx "$WORK/pending.json"
NG_BYTES=$(curl -s -X POST --data-binary '{"data":[]}' "http://127.0.0.1:$NG_PORT/api/domain/get-pending-domain" | wc -c)
[ "$NG_BYTES" = "$BODY_BYTES" ] || die "nginx serves $NG_BYTES bytes, mcapid $BODY_BYTES"
say "-- 1. nginx, the same body"
run_wrk nginx "http://127.0.0.1:$NG_PORT/api/domain/get-pending-domain" "$BENCH/signer.lua" \
	MC_CREDENTIALS="$CREDS" MC_PATH=/api/domain/get-pending-domain
stop_pid "$NG_PID"

# ---- 4: get-internal-domain in a big and a small account --------------------------------------
say "-- 4. get-internal-domain, pages of 100: $BIG domains against 1,000"
MC_DATA=$WORK/data4
start_mcapid
BIG_CREDS=$MC_DATA/dev-credentials.json
BIG_CODE=$("$PY" -c "import json; print(json.load(open('$BIG_CREDS'))['account_code'])")
ACCT=$("$MCAPID" admin --data-dir "$MC_DATA" account create --name small)
SMALL_CODE=$(printf '%s' "$ACCT" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("account_code") or d.get("accountCode") or d.get("code"))')
APP=$("$MCAPID" admin --data-dir "$MC_DATA" app create --account "$SMALL_CODE" --name small)
APP_ID=$(printf '%s' "$APP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["app_id"])')
"$MCAPID" admin --data-dir "$MC_DATA" user create --account "$SMALL_CODE" --email small@bench.example --perms admin >/dev/null
KEYS=$("$MCAPID" admin --data-dir "$MC_DATA" keys create --email small@bench.example --app-id "$APP_ID")
"$PY" - "$APP" "$KEYS" "$WORK/small.json" <<'EOF'
import json, sys
app, keys = json.loads(sys.argv[1]), json.loads(sys.argv[2])
json.dump({"app_id": app["app_id"], "app_key": app["app_key"], "access_key": keys["access_key"],
           "secret_key": keys["secret_key"]}, open(sys.argv[3], "w"))
EOF
stop_pid "$MC_PID"
"$PY" "$HELPER" seed --db "$MC_DATA/mcapid.db" --account "$BIG_CODE" -n "$BIG" --state internal | sed 's/^/   /'
"$PY" "$HELPER" seed --db "$MC_DATA/mcapid.db" --account "$SMALL_CODE" -n 1000 --state internal | sed 's/^/   /'
start_mcapid --list-cache-ms 0 # the keyset cost of the store, not the answer cache
PAGE='{"meta":{"pagination":{"pageSize":100}},"data":[]}'
for who in big small; do
	C=$BIG_CREDS
	[ $who = small ] && C=$WORK/small.json
	"$PY" "$HELPER" call --creds "$C" --url "$MC_BASE/api/domain/get-internal-domain" --body "$PAGE" \
		--out "$WORK/page.$who.json" >/dev/null
	# a page in the middle: continue from the token of the first page
	TOKEN=$("$PY" -c "import json; print(json.load(open('$WORK/page.$who.json'))['meta']['pagination']['next'])")
	run_wrk internal_$who "$MC_BASE/api/domain/get-internal-domain" "$BENCH/signer.lua" \
		MC_CREDENTIALS="$C" MC_PATH=/api/domain/get-internal-domain MC_BODY="$PAGE"
	run_wrk internal_${who}_p2 "$MC_BASE/api/domain/get-internal-domain" "$BENCH/signer.lua" \
		MC_CREDENTIALS="$C" MC_PATH=/api/domain/get-internal-domain \
		MC_BODY="{\"meta\":{\"pagination\":{\"pageSize\":100,\"pageToken\":\"$TOKEN\"}},\"data\":[]}"
done
stop_pid "$MC_PID"

# ---- report -----------------------------------------------------------------------------------
"$PY" - "$WORK" "$BODY_BYTES" "$CREATED" "$BIG" <<'EOF'
import re, sys
work, body, created, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def kv(label):
    line = [l for l in open("%s/%s.res" % (work, label)) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
ok = lambda b: "ok" if b else "MISSED"
p, n, h, c = kv("pending"), kv("nginx"), kv("pending_hold"), kv("create")
print()
print("1. get-pending-domain, 10 domains (%d bytes): mcapid %.0f req/s, nginx %.0f req/s: %.2fx   "
      "target >= 0.60x  %s" % (body, p["rps"], n["rps"], p["rps"] / n["rps"], ok(p["rps"] >= 0.6 * n["rps"])))
print("   p50 %.2f ms, p99 %.2f ms (nginx p50 %.2f ms, p99 %.2f ms)" % (
    p["p50_us"] / 1000, p["p99_us"] / 1000, n["p50_us"] / 1000, n["p99_us"] / 1000))
print("2. with 100 verifications waiting on silent DNS: %.0f req/s = %.2fx of 1.   target >= 0.90x  %s"
      % (h["rps"], h["rps"] / p["rps"], ok(h["rps"] >= 0.9 * p["rps"])))
dps = c["rps"] * 50
print("3. create-domain, 50 per call: %.0f calls/s = %.0f domains/s (%d rows created)   "
      "target >= 20000/s  %s" % (c["rps"], dps, created, ok(dps >= 20000)))
for page in ("", "_p2"):
    b, s = kv("internal_big" + page), kv("internal_small" + page)
    print("4. get-internal-domain %s page of 100: %d domains %.0f req/s (p50 %.2f ms), 1000 domains "
          "%.0f req/s (p50 %.2f ms): time ratio %.2fx   target <= 2x  %s" % (
              "first" if not page else "second", big, b["rps"], b["p50_us"] / 1000, s["rps"],
              s["p50_us"] / 1000, s["rps"] / b["rps"], ok(s["rps"] / b["rps"] <= 2)))
EOF
