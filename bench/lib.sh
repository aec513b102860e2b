# Shared by bench/run.sh and bench/domain.sh (sourced, bash): messages, the work directory and
# the clean-up of everything started, free ports, readiness waits, and the nginx reference that
# answers a given body from memory. Needs PY (a python3) set by the caller.

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

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
