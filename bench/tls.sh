#!/usr/bin/env bash
# HTTPS benchmark of mcapid (issue 2: signed get-account over HTTPS with keep-alive >= 0.5x nginx
# serving the same bytes over HTTPS in the same run); `make bench` runs it after bench/run.sh.
# See bench/README.md.
#
# Makes a throw-away CA and server certificate (EC P-256) with openssl, starts mcapid with its
# HTTPS listener (its own HTTP/1.1 server over OpenSSL) on a free loopback port and nginx (OpenSSL) listening
# with TLS on another, with the same certificate, TLS 1.2 and 1.3 only, keep-alive, answering the
# bytes of mcapid's HTTPS get-account answer from memory. Prints the TLS version, cipher suite and
# key-exchange group each one negotiates with OpenSSL's default client (wrk's), then drives both in
# alternating rounds with wrk over https: mcapid with bench/signer.lua (every request freshly
# signed); nginx once with the same signed requests (the client does the same work for both, as
# in run.sh) and once with wrk's static request (the cheapest client). Prints requests/s, p50/p99
# and the ratios. Everything it starts is stopped on exit.
#
# Environment: BENCH_DURATION (s, 10), BENCH_ROUNDS (2), BENCH_THREADS (2), BENCH_CONNECTIONS (50),
# BENCH_REPLAY_MAX (4000000), BENCH_MC_THREADS (mcapid --threads; default one per core),
# BENCH_NGINX_SSL (more nginx directives for its TLS server; default none: both servers are
# OpenSSL with its default groups and suites; e.g. "ssl_conf_command Ciphersuites
# TLS_AES_128_GCM_SHA256;" to try another cipher), BENCH_PERF=1 (perf record mcapid during its first round; with
# BENCH_PERF_CALLERS=1 also inclusive times), BENCH_BUILD (build dir), BENCH_NO_BUILD=1,
# MCAPID (a binary to use).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-50}
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
need openssl openssl
command -v "$PY" >/dev/null 2>&1 || die "'python3' is not installed (Debian package: python3)"

bench_init mcapi-bench-tls

say "== mcapi HTTPS benchmark ($(nproc) cores; wrk -t$THREADS -c$CONNS -d${DURATION}s over TLS shares them with the server)"
build_mcapid
signer_selftest
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# ---- certificates and servers ----------------------------------------------------------------
TLSDIR=$WORK/tls
make_tls_cert "$TLSDIR"
CA=$TLSDIR/ca.pem
say "-- throw-away CA and server certificate (EC P-256, ECDSA-SHA256) in $TLSDIR"

# The same rate-limit and replay-cache settings as run.sh (see there).
MC_TLS_PORT=$(free_port)
start_mcapid --smtp-listen off --tls-listen "127.0.0.1:$MC_TLS_PORT" --tls-cert "$TLSDIR/server.pem" \
	--tls-key "$TLSDIR/server.key" --rate-limit 1000000000 --rate-refill-ms 1 \
	--replay-max "${BENCH_REPLAY_MAX:-4000000}" --replay-per-user 0 ${BENCH_MC_THREADS:+--threads "$BENCH_MC_THREADS"}
CREDS=$MC_DATA/dev-credentials.json
wait_ready "https://127.0.0.1:$MC_TLS_PORT/healthz" "$MC_PID" 10 --cacert "$CA" ||
	{ tail -20 "$MC_DATA/stderr.log" >&2; die "mcapid's HTTPS listener on 127.0.0.1:$MC_TLS_PORT did not answer"; }
MC_URL=https://127.0.0.1:$MC_TLS_PORT$PATH_API
MC_CURL_ARGS="--cacert $CA" # for check_run's comparison call
say "-- mcapid $("$MCAPID" --version 2>/dev/null | head -1) pid $MC_PID, HTTPS on 127.0.0.1:$MC_TLS_PORT" \
	"($([ -n "${BENCH_MC_THREADS:-}" ] && echo "$BENCH_MC_THREADS threads" || echo "one thread per core"))"
BODY=$WORK/get-account.json
if ! "$PY" "$BENCH/mcclient.py" probe --creds "$CREDS" --url "$MC_URL" --cacert "$CA" --out "$BODY" \
	>"$WORK/probe.log" 2>&1; then
	cat "$WORK/probe.log" >&2
	die "a signed get-account over HTTPS did not answer 200 with an empty fail array"
fi
BODY_BYTES=$(wc -c <"$BODY")

# Both servers use OpenSSL's defaults (X25519 for the key exchange), so both handshakes are alike
# (there are only CONNS of them per run with keep-alive).
NG_SSL=${BENCH_NGINX_SSL-}
start_nginx "$BODY" "$TLSDIR/server.pem" "$TLSDIR/server.key" "$NG_SSL" "$CA"
NG_URL=$NG_URL_BASE$PATH_API
NG_BYTES=$(curl -s --max-time 2 --cacert "$CA" -X POST --data-binary '{"data":[]}' "$NG_URL" | wc -c)
[ "$NG_BYTES" = "$BODY_BYTES" ] || die "nginx serves $NG_BYTES bytes over HTTPS, mcapid $BODY_BYTES"
say "-- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') pid $NG_PID, HTTPS on 127.0.0.1:$NG_PORT," \
	"answering the same $BODY_BYTES bytes${NG_SSL:+ ($NG_SSL)}"

# What each server negotiates with OpenSSL's default client, which is what wrk (OpenSSL, default
# context) offers too. Different versions or ciphers would make the comparison unfair.
MC_TLS=$(tls_session "127.0.0.1:$MC_TLS_PORT" "$CA") || die "openssl s_client could not talk to mcapid"
NG_TLS=$(tls_session "127.0.0.1:$NG_PORT" "$CA") || die "openssl s_client could not talk to nginx"
say "-- TLS negotiated (protocol, cipher suite, group): mcapid $MC_TLS; nginx $NG_TLS"
TLS_SAME=1
if [ "${MC_TLS% *}" != "${NG_TLS% *}" ]; then
	TLS_SAME=0
	say "   WARNING: mcapid and nginx negotiate different TLS versions or ciphers; the ratio below" \
		"compares unlike work (BENCH_NGINX_SSL can align nginx)"
elif [ "$MC_TLS" != "$NG_TLS" ]; then
	say "   note: different key-exchange groups (handshakes only: one per connection with keep-alive)"
fi

# ---- throughput: warm-ups, then ROUNDS rounds of mcapid, nginx (signed), nginx (static) --------
# CPU_PIDS: run_wrk also records each server's CPU time per request (see lib.sh).
say_cpu_busy
CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$WARMUP" 1 warm-up
check_run mcapid
CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$WARMUP" 0 warm-up
check_run nginx
CPU_PIDS=$NG_PIDS run_wrk nginx-static "$NG_URL" "$WARMUP" 0 warm-up unsigned
check_run nginx-static
for r in $(seq "$ROUNDS"); do
	[ "$r" = 1 ] && perf_start "$MC_PID" $((DURATION - 1)) tls
	CPU_PIDS=$MC_PID run_wrk mcapid "$MC_URL" "$DURATION" 0 "round$r"
	check_run mcapid
	perf_report "HTTPS round 1"
	CPU_PIDS=$NG_PIDS run_wrk nginx "$NG_URL" "$DURATION" 0 "round$r"
	check_run nginx
	CPU_PIDS=$NG_PIDS run_wrk nginx-static "$NG_URL" "$DURATION" 0 "round$r" unsigned
	check_run nginx-static
done
stop_pid "$MC_PID"
stop_pid "$NG_PID"

# ---- report ---------------------------------------------------------------------------------
say ""
for label in mcapid nginx nginx-static; do
	for r in $(seq "$ROUNDS"); do
		say "-- wrk, $label, round $r:"
		sed 's/^/   /' "$WORK/wrk.$label.round$r.log"
	done
done
"$PY" - "$WORK" "$ROUNDS" "$BODY_BYTES" "$CONNS" "$DURATION" "$MC_TLS" "$NG_TLS" "$TLS_SAME" <<'EOF'
import re, statistics, sys
def kv(path):
    line = [l for l in open(path) if "=" in l][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", line)}
work, rounds, body, conns, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
mc_tls, ng_tls, same = sys.argv[6], sys.argv[7], sys.argv[8] == "1"
names = ("mcapid", "nginx", "nginx-static")
runs = {s: [kv(f"{work}/result.{s}.round{r}") for r in range(1, rounds + 1)] for s in names}
mc, ng, st = (max(runs[s], key=lambda x: x["rps"]) for s in names)
ratio, ratio_st = mc["rps"] / ng["rps"], mc["rps"] / st["rps"]
ok = lambda b: "ok" if b else "MISSED"
print()
print(f"signed POST /api/account/get-account over HTTPS, keep-alive ({body}-byte body), "
      f"{conns} connections, best of {rounds} x {secs} s per server")
print(f"TLS: mcapid {mc_tls}; nginx {ng_tls}" + ("" if same else "   (NOT the same: see above)"))
print(f"{'':22}{'mcapid':>10}{'nginx':>10}{'mcapid/nginx':>14}   target")
print(f"{'requests/s':22}{mc['rps']:10.0f}{ng['rps']:10.0f}{ratio:14.2f}   >= 0.50 x nginx  {ok(ratio >= 0.5)}")
print(f"{'p50 latency (ms)':22}{mc['p50_us']/1000:10.2f}{ng['p50_us']/1000:10.2f}{mc['p50_us']/ng['p50_us']:14.2f}")
print(f"{'p99 latency (ms)':22}{mc['p99_us']/1000:10.2f}{ng['p99_us']/1000:10.2f}{mc['p99_us']/ng['p99_us']:14.2f}")
print(f"{'max latency (ms)':22}{mc['max_us']/1000:10.2f}{ng['max_us']/1000:10.2f}")
print(f"{'CPU/request (us)':22}{mc['cpu_us']:10.1f}{ng['cpu_us']:10.1f}{mc['cpu_us']/ng['cpu_us']:14.2f}"
      "   the server's user + system time")
print(f"{'wrk CPU/request (us)':22}{mc['client_us']:10.1f}{ng['client_us']:10.1f}"
      "                 the client's, on the same cores")
per = sorted(m["rps"] / n["rps"] for m, n in zip(runs["mcapid"], runs["nginx"]))
print(f"mcapid/nginx round by round (neighbours in time): {', '.join(f'{x:.2f}' for x in per)}; "
      f"median {statistics.median(per):.2f}")
print(f"nginx with wrk's static request (no Lua signing in the client): {st['rps']:.0f} req/s, "
      f"p99 {st['p99_us']/1000:.2f} ms, {st['cpu_us']:.1f} us CPU and wrk {st['client_us']:.1f} us "
      f"per request; mcapid/that = {ratio_st:.2f}   {ok(ratio_st >= 0.5)}")
for s in names:
    print(f"  {s} rounds (req/s / p99 ms / server, wrk CPU us per request): " +
          ", ".join(f"{x['rps']:.0f} / {x['p99_us']/1000:.2f} / {x['cpu_us']:.1f}, {x['client_us']:.1f}"
                    for x in runs[s]))
EOF
