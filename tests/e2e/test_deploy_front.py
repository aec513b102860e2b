"""The deployment of docs/deploy.md, run for real: PostgreSQL, two mcapid nodes on it (same
DSN, same server key file, trusted_proxies = the front) and a real nginx on loopback with
dist/nginx/mcapid-front.conf (only the addresses replaced). Two clients connect to the front
from two loopback source addresses (127.0.0.2 and 127.0.0.3: Linux routes all of 127/8 to
lo), so nginx sees two peers and appends each to X-Forwarded-For; the nodes, which trust only
the front, count the per-IP limit of each client on its own. Also: the API works through the
front, /readyz passes through it, and a stopped node is skipped. And the systemd unit in
dist/systemd passes `systemd-analyze verify`. Runs only with MCAPI_E2E_STORE=postgres."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import mc
from mc import Server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
IP_LIMIT = 3


def nginx_conf(work, listen, a, b):
    with open(os.path.join(ROOT, "dist", "nginx", "mcapid-front.conf")) as f:
        site = f.read().replace("@NODE_A@", a).replace("@NODE_B@", b).replace("@LISTEN@", listen)
    return """worker_processes 1;
daemon off;
pid %(w)s/nginx.pid;
error_log %(w)s/error.log warn;
events { worker_connections 256; }
http {
	access_log %(w)s/access.log;
	client_body_temp_path %(w)s/body;
	proxy_temp_path %(w)s/proxy;
	fastcgi_temp_path %(w)s/fastcgi;
	uwsgi_temp_path %(w)s/uwsgi;
	scgi_temp_path %(w)s/scgi;
%(site)s
}
""" % {"w": work, "site": site}


def request(port, source, method, path, body=None, headers=None):
    """One request to the front from the loopback address source; (status, json, headers)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None), dict(r.getheaders())
    finally:
        c.close()


@pytest.fixture(scope="module")
def front():
    if not mc.PG:
        pytest.skip("needs MCAPI_E2E_STORE=postgres")
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (scripts/install-deps.sh)")
    common = ["--trusted-proxies", "127.0.0.1", "--ip-limit", str(IP_LIMIT),
              "--per-ip-connections", "0"]
    a = Server(args=common).start()
    dsn = mc.store_env(a.data_dir)["MCAPID_PG_DSN"]
    b = Server(data_dir=tempfile.mkdtemp(prefix="mcapid-b-"),
               args=common + ["--key-file", os.path.join(a.data_dir, "server.key")],
               env={"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": dsn}).start()
    work = tempfile.mkdtemp(prefix="mcapi-nginx-")
    os.chmod(work, 0o755)  # nginx's workers may run as another user
    port = mc.free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(work, "127.0.0.1:%d" % port, "127.0.0.1:%d" % a.port,
                           "127.0.0.1:%d" % b.port))
    ng = subprocess.Popen([NGINX, "-p", work, "-c", conf, "-e", os.path.join(work, "error.log")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            assert ng.poll() is None, ng.stderr.read().decode()
            try:
                if request(port, "127.0.0.1", "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield a, b, port
    finally:
        ng.terminate()
        ng.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
        rb, ra = b.stop(), a.stop()
        assert ra == 0 and rb == 0


def discover(port, source):
    return request(port, source, "POST", "/api/login/discover-authentication",
                   {"data": [{"emailAddress": "someone@front.example"}]})


def test_api_and_readiness_through_the_front(front):
    a, b, port = front
    st, body, h = request(port, "127.0.0.1", "GET", "/readyz")
    assert st == 200 and body == {"status": "ready"}
    cl = a.client()
    cl.base = "http://127.0.0.1:%d" % port
    for _ in range(4):  # round robin: both nodes answer, with one store and one key
        r = cl.post("/api/account/get-account")
        assert r.status_code == 200, r.text


def test_per_ip_limits_of_two_clients_through_the_front(front):
    a, b, port = front
    # each node counts on its own until the counters are shared (docs/postgres.md): the
    # client gets at most IP_LIMIT calls per node
    statuses = []
    for _ in range(2 * IP_LIMIT + 1):
        statuses.append(discover(port, "127.0.0.2")[0])
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and IP_LIMIT < len(statuses) <= 2 * IP_LIMIT + 1, statuses
    st, body, h = discover(port, "127.0.0.2")
    assert st == 429 and "Retry-After" in h
    # the other client has its own bucket: not refused for the first one's calls
    st, body, h = discover(port, "127.0.0.3")
    assert st == 200, body
    logs = a.read_log() + b.read_log()
    assert "access ip=127.0.0.2 " in logs and "access ip=127.0.0.3 " in logs
    # what a client claims itself is not used: it stays 127.0.0.2
    st, _, _ = request(port, "127.0.0.2", "POST", "/api/login/discover-authentication",
                       {"data": [{"emailAddress": "x@front.example"}]},
                       headers={"X-Forwarded-For": "203.0.113.77"})
    assert st == 429
    assert "access ip=203.0.113.77" not in a.read_log() + b.read_log()


def test_a_stopped_node_is_skipped(front):
    a, b, port = front
    cl = a.client()
    cl.base = "http://127.0.0.1:%d" % port
    assert b.stop() == 0
    try:
        for _ in range(4):  # connection refused on B: nginx sends the call to A
            r = cl.post("/api/account/get-account")
            assert r.status_code == 200, r.text
    finally:
        b.start()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_unit_verifies(tmp_path):
    unit = tmp_path / "mcapid.service"
    text = open(os.path.join(ROOT, "dist", "systemd", "mcapid.service")).read()
    # verify checks that ExecStart exists: point it at the binary under test
    unit.write_text(text.replace("/usr/local/bin/mcapid", mc.MCAPID))
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                       timeout=60)
    problems = [ln for ln in (p.stdout + p.stderr).splitlines()
                if "mcapid.service" in ln and "Documentation" not in ln]
    assert p.returncode == 0 and not problems, p.stdout + p.stderr
