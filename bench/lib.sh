# Shared by bench/run.sh, bench/domain.sh and bench/smtp.sh (sourced, bash): messages, the
# work directory and the clean-up of everything started, the Release build, free ports,
# readiness waits, how busy the machine is, the nginx reference that answers a given body from
# memory, and Postfix's smtp-source/smtp-sink. Needs PY (a python3) set by the caller.

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed (Debian package: $2)"; }

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

# Percentage of the CPU in use over one second (by anything: call it before starting load).
cpu_busy() {
	local a b
	a=$(head -1 /proc/stat)
	sleep 1
	b=$(head -1 /proc/stat)
	printf '%s\n%s\n' "$a" "$b" | awk '{idle[NR] = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; tot[NR] = t}
		END {printf "%.0f", 100 * (1 - (idle[2] - idle[1]) / (tot[2] - tot[1]))}'
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

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until URL ($1) answers 200 to GET, or PID ($2) dies, for at most $3 seconds.
wait_ready() {
	for _ in $(seq $(($3 * 10))); do
		kill -0 "$2" 2>/dev/null || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)" = 200 ] && return 0
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

# Starts nginx (2 workers) answering every request with the bytes of file $1; sets NG, NG_PORT
# and NG_PID. The body is served from memory with `return 200`: nginx's static module refuses
# POST (405). nginx interpolates $ in strings, so a literal $ goes through a variable.
start_nginx() {
	NG=$WORK/nginx
	mkdir -p "$NG"
	chmod 755 "$NG"
	NG_PORT=$(free_port)
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
NGEOF
	nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
	NG_PID=$!
	PIDS+=("$NG_PID")
	wait_ready "http://127.0.0.1:$NG_PORT/" "$NG_PID" 10 ||
		{ cat "$NG/error.log" "$NG/stdout.log" >&2; die "nginx did not start on 127.0.0.1:$NG_PORT"; }
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

# Is a Postfix master daemon running (the packaged service)?
postfix_running() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/lib/postfix/sbin/master ] && return 0
	done
	return 1
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
