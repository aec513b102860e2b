# Shared by bench/run.sh, bench/tls.sh and bench/domain.sh (sourced, bash): messages, tools, the
# build, the work directory and the clean-up of everything started, free ports, readiness waits,
# mcapid with a fresh data dir, the wrk runs with bench/signer.lua and their checks, how busy the
# cores are, a throw-away CA and server certificate, and the nginx reference that answers a given
# body from memory (plain or over TLS). Needs PY (a python3) set by the caller; the mcapid and wrk
# helpers also read ROOT, BENCH, BUILD, THREADS, CONNS, PATH_API and CREDS. (domain.sh defines its
# own start_mcapid and run_wrk after sourcing this: per-label result files, more flags.)

# The servers measured run as in production: without the emulator's control plane, which
# --dev turns on (its journal records every call; docs/emulator.md). An environment variable,
# so that older binaries (MCAPID=...) without the option are not given an unknown flag.
export MCAPID_CONTROL=off

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed (Debian package: $2)"; }

# Creates WORK (a temporary directory named after $1) and arranges that every PID in PIDS is
# stopped and WORK removed on exit.
bench_init() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 711 "$WORK" # nginx workers may run as another user: they traverse to its files
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		# mcapid finishes in-flight requests on SIGTERM; give it a few seconds, then insist.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
	exit $rc
}

# Sets MCAPID: $MCAPID if given, $BUILD/mcapid with BENCH_NO_BUILD=1, else a Release build of it
# in $BUILD (warnings not errors: an optimised build can warn where the checked build does not).
build_mcapid() {
	if [ -n "${MCAPID:-}" ]; then
		[ -x "$MCAPID" ] || die "MCAPID='$MCAPID' is not an executable"
	elif [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
		MCAPID=$BUILD/mcapid
		[ -x "$MCAPID" ] || die "no $MCAPID (unset BENCH_NO_BUILD to build it)"
	else
		say "-- building mcapid (Release) in $BUILD"
		if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMCAPI_WERROR=OFF &&
			cmake --build "$BUILD" -j"$(nproc)" --target mcapid; } >"$WORK/build.log" 2>&1; then
			tail -30 "$WORK/build.log" >&2
			die "build failed (full log above, last 30 lines)"
		fi
		MCAPID=$BUILD/mcapid
	fi
}

# Runs the signer's self-test inside wrk's own LuaJIT and prints its verdict.
signer_selftest() {
	local vectors=$ROOT/tests/data/signature-vectors.json
	[ -f "$vectors" ] || vectors= # then only the built-in first vector
	MC_SIGNER_SELFTEST=1 MC_VECTORS=$vectors \
		wrk -s "$BENCH/signer.lua" http://127.0.0.1:1/ >"$WORK/selftest.log" 2>&1 ||
		{ cat "$WORK/selftest.log" >&2; die "signer.lua self-test failed"; }
	say "-- $(cat "$WORK/selftest.log")"
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until URL ($1) answers 200 to GET, or PID ($2) dies, for at most $3 seconds. Further
# arguments go to curl (e.g. --cacert for https).
wait_ready() {
	local url=$1 pid=$2 secs=$3
	shift 3
	for _ in $(seq $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" || true)" = 200 ] &&
			return 0
		sleep 0.1
	done
	return 1
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Starts mcapid (--dev) on a free loopback port with a fresh data dir, or on $REUSE_DATA if set,
# and waits for /readyz on its plain listener; sets MC_PID, MC_PORT, MC_DATA. Access log off,
# log level warn, no per-IP limits; extra flags in "$@" (without --tls-listen, --dev would also
# listen for HTTPS on 127.0.0.1:8443: callers that do not want HTTPS pass --tls-listen off).
start_mcapid() {
	MC_PORT=$(free_port)
	MC_DATA=${REUSE_DATA:-$(mktemp -d "$WORK/data.XXXXXX")}
	"$MCAPID" serve --dev --listen "127.0.0.1:$MC_PORT" --data-dir "$MC_DATA" \
		--access-log=false --log-level warn --per-ip-connections 0 --ip-limit 1000000 "$@" \
		>"$MC_DATA/stdout.log" 2>"$MC_DATA/stderr.log" &
	MC_PID=$!
	PIDS+=("$MC_PID")
	# /readyz: the store is open (/healthz answers as soon as the process listens)
	if ! wait_ready "http://127.0.0.1:$MC_PORT/readyz" "$MC_PID" 20; then
		tail -n 20 "$MC_DATA/stderr.log" "$MC_DATA/stdout.log" >&2 || true
		die "mcapid did not answer /readyz on 127.0.0.1:$MC_PORT within 20 s"
	fi
	[ -s "$MC_DATA/dev-credentials.json" ] || die "mcapid wrote no $MC_DATA/dev-credentials.json"
}

# CPU time (user + system, in clock ticks) used so far by the processes $@, all threads.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
	echo "$t"
}

# CPU time (clock ticks) of this shell's finished children so far (wrk, through timeout).
child_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }

# Runs wrk (-t THREADS -c CONNS) against URL with bench/signer.lua; sets RES (file with one
# key=value line of figures) and LOG (wrk's output). $1 label, $2 url (http or https), $3 seconds,
# $4 1 = check every body, $5 tag, $6 "unsigned" = the same POST without the signed headers, sent
# as wrk's static request (no Lua per request: the cheapest client, for a reference server).
# With CPU_PIDS (process ids of the server under test) the line also gets cpu_us, the server's
# CPU time per request in microseconds (other load on the machine disturbs it much less than
# requests/s), and client_us, wrk's.
run_wrk() {
	local label=$1 url=$2 secs=$3 check=$4 tag=$5 unsigned=0 t0=0 c0 line
	[ "${6:-}" = unsigned ] && unsigned=1
	RES=$WORK/result.$label.$tag
	LOG=$WORK/wrk.$label.$tag.log
	: >"$RES"
	# shellcheck disable=SC2086
	[ -z "${CPU_PIDS:-}" ] || t0=$(cpu_ticks $CPU_PIDS)
	c0=$(child_ticks)
	MC_CREDENTIALS=$CREDS MC_PATH=$PATH_API MC_CHECK_BODY=$check MC_RESULT_FILE=$RES \
		MC_UNSIGNED=$unsigned timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" \
		--timeout 2s --latency -s "$BENCH/signer.lua" "$url" >"$LOG" 2>&1 ||
		{ cat "$LOG" >&2; die "wrk failed against $label"; }
	[ -s "$RES" ] || { cat "$LOG" >&2; die "wrk reported no figures for $label"; }
	if [ -n "${CPU_PIDS:-}" ]; then
		# shellcheck disable=SC2086
		line="$(cat "$RES") $(awk -v t=$(($(cpu_ticks $CPU_PIDS) - t0)) -v c=$(($(child_ticks) - c0)) \
			-v hz="$(getconf CLK_TCK)" -v n="$(field "$RES" requests)" \
			'BEGIN {n = n ? n : 1; printf "cpu_us=%.1f client_us=%.1f", t * 1e6 / hz / n, c * 1e6 / hz / n}')"
		printf '%s\n' "$line" >"$RES"
	fi
	say "-- $label $tag, ${secs} s$([ "$check" = 1 ] && echo ", every body checked"): $(cat "$RES")"
}

field() { sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$1"; }

# Fails loudly if the last run had non-2xx answers, bad bodies, connect errors (TLS handshakes
# included) or read errors. $1 label; for mcapid also prints a call signed by mcclient.py to
# MC_URL (with curl args in MC_CURL_ARGS, e.g. --cacert).
check_run() {
	local label=$1 non2xx bad conn rd
	non2xx=$(field "$RES" non2xx)
	bad=$(field "$RES" bad_body)
	conn=$(field "$RES" connect_err)
	rd=$(field "$RES" read_err)
	if [ "$non2xx" != 0 ] || [ "$bad" != 0 ] || [ "$conn" != 0 ] || [ "$rd" != 0 ]; then
		cat "$LOG" >&2
		say "bench: $label: $non2xx non-2xx answers, $bad bad envelopes, $conn connect errors," \
			"$rd read errors" >&2
		if [ "$label" = mcapid ]; then
			say "bench: one request signed by mcclient.py, for comparison:" >&2
			# shellcheck disable=SC2086
			"$PY" "$BENCH/mcclient.py" curl --creds "$CREDS" --url "$MC_URL" ${MC_CURL_ARGS:-} >&2 ||
				true
			say "" >&2
		fi
		die "$label did not answer every benchmark request with 200"
	fi
}

# Percentage of the machine's CPU time spent busy (not idle or iowait) over the next second.
cpu_busy() {
	local a b
	a=$(head -1 /proc/stat)
	sleep 1
	b=$(head -1 /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '{idle[NR] = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; tot[NR] = t}
		END {printf "%.0f", 100 * (1 - (idle[2] - idle[1]) / (tot[2] - tot[1]))}'
}

# Prints how busy the cores are just before the runs, with a warning above 10%.
say_cpu_busy() {
	local busy
	busy=$(cpu_busy)
	say "-- cores busy with other work just before the runs: $busy% (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	[ "$busy" -le 10 ] || say "   WARNING: other processes are using the CPU; the figures below will be low and noisy"
}

# Makes a throw-away CA and a server certificate for 127.0.0.1 and localhost signed by it, both
# EC P-256 (ECDSA with SHA-256), valid for two days, in directory $1: ca.pem, server.pem (the
# server's certificate followed by the CA's, the chain a server sends) and server.key.
make_tls_cert() {
	local d=$1
	mkdir -p "$d"
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 \
			-keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=mcapi bench throw-away CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
				-keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" &&
			printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
				"basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
				"extendedKeyUsage=serverAuth" >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -sha256 -days 2 -extfile "$d/server.ext" -out "$d/leaf.pem"
	} >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "openssl could not make the certificates"; }
	cat "$d/leaf.pem" "$d/ca.pem" >"$d/server.pem"
	chmod 644 "$d"/*.pem
}

# The TLS session with host:port $1 as openssl s_client (OpenSSL's defaults, which are wrk's too)
# negotiates it, verified against CA file $2: one line "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519"
# (protocol, cipher suite, key-exchange group; P-256 shows as prime256v1).
tls_session() {
	local out
	out=$(timeout 5 openssl s_client -brief -connect "$1" -CAfile "$2" \
		-verify_return_error </dev/null 2>&1) || { say "$out" >&2; return 1; }
	printf '%s\n' "$out" | awk -F': *' '
		/^Protocol version/ {p = $2} /^Ciphersuite/ {c = $2}
		/^(Server|Peer) Temp Key/ {n = split($2, g, ", *"); k = (g[1] == "ECDH" && n > 2) ? g[2] : g[1]}
		/^Negotiated TLS1.3 group/ {k = $2}
		END {print p " " c " " k}'
}

# Starts nginx (2 workers) answering every request with the bytes of file $1; sets NG, NG_PORT,
# NG_PID, NG_PIDS (with the workers) and NG_URL_BASE. The body is served from memory with `return 200`: nginx's static module
# refuses POST (405). nginx interpolates $ in strings, so a literal $ goes through a variable.
# With $2 (certificate chain) and $3 (key) it listens with TLS (1.2 and 1.3) instead; $4 = more
# directives for the server block (e.g. ssl_ciphers), $5 = the CA file to check it with.
start_nginx() {
	local tls_conf="" listen_opt="" scheme=http ready_args=()
	NG=$WORK/nginx
	mkdir -p "$NG"
	chmod 755 "$NG"
	NG_PORT=$(free_port)
	if [ -n "${2:-}" ]; then
		listen_opt=" ssl"
		scheme=https
		ready_args=(--cacert "$5")
		tls_conf="ssl_certificate $2;
		ssl_certificate_key $3;
		ssl_protocols TLSv1.2 TLSv1.3;
		${4:-}"
	fi
	"$PY" - "$1" "$NG/body.conf" <<'PYEOF'
import sys
body = open(sys.argv[1], "rb").read().decode()
esc = body.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}")
open(sys.argv[2], "w").write("return 200 '%s';\n" % esc)
PYEOF
	cat >"$NG/nginx.conf" <<NGEOF
worker_processes 2;
daemon off;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
	access_log ${NG_ACCESS_LOG:-off};
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
		listen 127.0.0.1:$NG_PORT$listen_opt;
		$tls_conf
		location / {
			default_type application/json;
			include $NG/body.conf;
		}
	}
}
NGEOF
	nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
	NG_PID=$!
	PIDS+=("$NG_PID")
	NG_URL_BASE=$scheme://127.0.0.1:$NG_PORT
	wait_ready "$NG_URL_BASE/" "$NG_PID" 10 "${ready_args[@]}" ||
		{ cat "$NG/error.log" "$NG/stdout.log" >&2; die "nginx did not start on $NG_URL_BASE"; }
	# shellcheck disable=SC2034 # for the callers' CPU_PIDS
	NG_PIDS="$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')" # the master and its workers
}

# BENCH_PERF=1: `perf record -g` of process $1 for $2 seconds in the background (PERF_PID, the
# data in $WORK/perf.$3.data); perf_report prints the top symbols by self time, and with
# BENCH_PERF_CALLERS=1 also the call graphs (caller view) of the heaviest ones.
PERF_PID=
perf_start() {
	PERF_PID=
	[ "${BENCH_PERF:-0}" = 1 ] || return 0
	need perf linux-perf
	PERF_DATA=$WORK/perf.$3.data
	perf record -q -g -F 999 -p "$1" -o "$PERF_DATA" -- sleep "$2" >"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
}

perf_report() {
	[ -n "$PERF_PID" ] || return 0
	wait "$PERF_PID" || true
	PERF_PID=
	say "-- perf: top symbols of mcapid during $1 (self time)"
	perf report -i "$PERF_DATA" --stdio --no-children --sort dso,symbol 2>"$WORK/perf.err" |
		grep -E '^ +[0-9.]+%' | head -"${BENCH_PERF_TOP:-25}" || true
	if [ -s "$WORK/perf.err" ]; then head -5 "$WORK/perf.log" "$WORK/perf.err"; fi
	if [ "${BENCH_PERF_CALLERS:-0}" = 1 ]; then
		say "-- perf: inclusive time by symbol (children), top ${BENCH_PERF_TOP:-25}"
		perf report -i "$PERF_DATA" --stdio --children --sort symbol -g none 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -"${BENCH_PERF_TOP:-25}" || true
	fi
	[ -z "${BENCH_PERF_KEEP:-}" ] || cp "$PERF_DATA" "$BENCH_PERF_KEEP"
}

# ---- bench/smtp.sh: the Release build on its own, Postfix tools, signed wrk ----

# Sets MCAPID: $MCAPID if set, else $BUILD/mcapid, built (Release, warnings not fatal: an
# optimised build can warn where the checked build does not) unless BENCH_NO_BUILD=1.
bench_build() {
	if [ -n "${MCAPID:-}" ]; then
		[ -x "$MCAPID" ] || die "MCAPID='$MCAPID' is not an executable"
		return 0
	fi
	MCAPID=$BUILD/mcapid
	if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
		[ -x "$MCAPID" ] || die "no $MCAPID (unset BENCH_NO_BUILD to build it)"
		return 0
	fi
	say "-- building mcapid (Release) in $BUILD"
	if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMCAPI_WERROR=OFF &&
		cmake --build "$BUILD" -j"$(nproc)" --target mcapid; } >"$WORK/build.log" 2>&1; then
		tail -30 "$WORK/build.log" >&2
		die "build failed (full log above, last 30 lines)"
	fi
}

# "load average 0.31 0.40 0.52": to print with every figure measured on a shared machine.
load_avg() { printf 'load average %s' "$(cut -d' ' -f1-3 /proc/loadavg)"; }

# Creates WORK (a temporary directory named after $1) and arranges that every PID in PIDS is
# stopped and WORK removed on exit.
bench_init() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 711 "$WORK" # nginx workers may run as another user: they traverse to its files
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

# Makes sure Postfix's test tools smtp-source and smtp-sink are on PATH (they live in /usr/sbin
# and need no Postfix daemon). When they are missing, installs the Debian package postfix
# without a mail configuration ("No configuration": no main.cf, so it cannot deliver anything)
# and stops the packaged service, which must never run for the benchmark.
need_postfix_tools() {
	local sudo=
	case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
	if ! command -v smtp-source >/dev/null 2>&1 || ! command -v smtp-sink >/dev/null 2>&1; then
		if [ "$(id -u)" != 0 ]; then
			command -v sudo >/dev/null 2>&1 ||
				die "smtp-source/smtp-sink missing: install the Debian package postfix (needs root)"
			sudo=sudo
		fi
		if apt-get install -s --no-install-recommends postfix 2>/dev/null | grep -q '^Remv'; then
			die "installing postfix would replace this machine's mail server; install smtp-source and smtp-sink another way"
		fi
		say "-- installing the Debian package postfix for smtp-source and smtp-sink (service kept stopped)"
		echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
		if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
			postfix >"$WORK/apt.log" 2>&1; then
			DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
			DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
				postfix >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; die "cannot install postfix"; }
		fi
		$sudo service postfix stop >/dev/null 2>&1 || true
		$sudo postfix stop >/dev/null 2>&1 || true
		for _ in $(seq 50); do postfix_running || break; sleep 0.1; done
		postfix_running && die "the packaged postfix service is running; stop it (service postfix stop)"
	fi
	command -v smtp-source >/dev/null 2>&1 || die "no smtp-source after installing postfix"
	postfix_running && say "   note: a Postfix master daemon runs on this machine; the benchmark does not use it"
	return 0
}

# Is a Postfix master daemon running (the packaged service)?
postfix_running() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/lib/postfix/sbin/master ] && return 0
	done
	return 1
}

# Runs wrk with bench/signer.lua (every request freshly signed) for $3 seconds against URL $2
# with the credentials file $4 (MC_PATH from the URL); sets RES to a file holding its key=value
# figures (rps, p50_us, p99_us, non2xx, ...) and LOG to wrk's output; dies on non-2xx answers.
# Uses THREADS and CONNS. $1 is a label for the file names.
wrk_signed() {
	local label=$1 url=$2 secs=$3 creds=$4 path non2xx
	path=/${url#*://*/}
	RES=$WORK/wrk.$label.res
	LOG=$WORK/wrk.$label.log
	: >"$RES"
	MC_CREDENTIALS=$creds MC_PATH=$path MC_RESULT_FILE=$RES \
		timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 2s --latency \
		-s "$BENCH/signer.lua" "$url" >"$LOG" 2>&1 || { cat "$LOG" >&2; die "wrk failed ($label)"; }
	[ -s "$RES" ] || { cat "$LOG" >&2; die "wrk reported no figures ($label)"; }
	non2xx=$(sed -n 's/.*\bnon2xx=\([0-9]*\).*/\1/p' "$RES")
	[ "${non2xx:-1}" = 0 ] || { cat "$LOG" >&2; die "$label: $non2xx non-2xx answers"; }
}
