"""Bounded failure of the store (API.md §15, docs/postgres.md "When PostgreSQL fails"):
/healthz is liveness and never touches the store, /readyz is readiness; with PostgreSQL
frozen (SIGSTOP of every postgres process) every call gets 503 within pg_timeout_ms while
/healthz answers at once, and all recovers after SIGCONT without a restart; a node started
while PostgreSQL is down answers /healthz, 503 elsewhere, and becomes ready when it comes up;
after an idle restart of PostgreSQL no call fails; store failures are logged on one line.
The PostgreSQL tests run their own throw-away server (pgserver.py), since they stop it."""
import re
import signal
import socket
import threading
import time

import pytest
import requests

import mc
from mc import Server

needs_pg = pytest.mark.skipif(not mc.PG, reason="needs MCAPI_E2E_STORE=postgres")
TIMEOUT_MS = 1500  # --pg-timeout-ms of these tests
FAST = ["--pg-timeout-ms", str(TIMEOUT_MS), "--pg-connect-timeout-ms", "1000",
        "--auth-cache-ms", "0", "--list-cache-ms", "0"]


def pending(client):
    return client.post("/api/domain/get-pending-domain")


@pytest.fixture
def own_pg():
    import pgserver
    pg = pgserver.PgServer().start()
    try:
        yield pg
    finally:
        pg.signal_all(signal.SIGCONT)
        pg.stop()


def pg_node(pg, args=(), db=None, smtp=False):
    db = db or pg.new_database("fail")
    return Server(args=FAST + list(args), smtp=smtp,
                  env={"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": pg.dsn(db)})


def smtp_greeting(server):
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as c:
        return c.recv(512).decode()


def test_healthz_and_readyz():
    s = Server().start()
    try:
        r = requests.get(s.base + "/healthz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        r = requests.get(s.base + "/readyz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ready"}
        assert r.headers["Content-Type"] == "application/json"
        assert requests.head(s.base + "/readyz", timeout=5).status_code == 200
        assert requests.post(s.base + "/readyz", timeout=5).status_code == 405
    finally:
        assert s.stop() == 0


def test_store_failure_is_logged_on_one_line():
    s = Server().start()
    try:
        cl = s.client()
        mc.db_exec(s, "DROP TABLE domains")
        rid = 'req "quoted" id'
        r = cl.post("/api/domain/get-pending-domain", req_id=rid)
        assert r.status_code == 500
        log = s.read_log()
        lines = [ln for ln in log.splitlines() if 'msg="store failure"' in ln]
        assert lines, log
        ln = lines[-1]
        # area, operation, the request id and the backend's message, quoted and escaped
        assert re.search(r'level=error domain msg="store failure" op=\S+ '
                         r'req_id="req \\"quoted\\" id" rc=("[^"]*"|\S+) error="(?:[^"\\]|\\.)*domains', ln), ln
        assert 'msg=""' not in log
    finally:
        assert s.stop() == 0


@needs_pg
def test_frozen_postgres_gives_bounded_503_and_recovers(own_pg):
    # the default thread count on PostgreSQL (one per core, at least two; mc.Server passes 2
    # otherwise)
    s = pg_node(own_pg, args=["--threads", "0"]).start()
    try:
        cl = s.client()
        assert pending(cl).status_code == 200
        own_pg.signal_all(signal.SIGSTOP)
        frozen_at = time.time()
        calls = []  # (status, seconds) of the calls of three clients running meanwhile
        stop = threading.Event()

        def hammer():
            c = s.client()
            while not stop.is_set():
                t0 = time.time()
                r = pending(c)
                calls.append((r.status_code, time.time() - t0, r))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        try:
            [t.start() for t in threads]
            checks = 0
            while time.time() - frozen_at < 10:
                # liveness at once on a new connection, although both workers get calls:
                # after the first call ran out of time, the breaker lets one call at a time
                # wait (before, the calls in flight may hold both workers: docs/postgres.md)
                t0 = time.time()
                h = requests.get(s.base + "/healthz", timeout=5)
                if t0 - frozen_at > TIMEOUT_MS / 1000 + 0.5:
                    assert h.status_code == 200 and time.time() - t0 < 0.5, time.time() - t0
                t0 = time.time()
                assert requests.get(s.base + "/readyz", timeout=5).status_code == 503
                assert time.time() - t0 < TIMEOUT_MS / 1000 + 1.0
                checks += 1
                time.sleep(0.2)
            stop.set()
            [t.join() for t in threads]
            assert h.status_code == 200 and checks >= 5 and len(calls) >= 6
            for status, took, r in calls:
                assert status == 503, r.text
                assert took < TIMEOUT_MS / 1000 + 1.0, took  # the bound, and some slack
                e = r.json()["fail"][0]["errors"][0]
                assert e["code"] == "err_xdk_unavailable" and e["retryable"] is True
                assert r.headers["Retry-After"]
            # the breaker: most calls failed at once instead of each waiting the timeout
            assert sum(1 for _, took, _ in calls if took < 0.5) > len(calls) / 2
        finally:
            stop.set()
            own_pg.signal_all(signal.SIGCONT)
        deadline = time.time() + 15
        while time.time() < deadline and pending(cl).status_code != 200:
            time.sleep(0.2)
        for _ in range(6):  # every worker's connection works again
            assert pending(cl).status_code == 200
        assert requests.get(s.base + "/readyz", timeout=5).status_code == 200
        log = s.read_log()
        line = [ln for ln in log.splitlines() if 'msg="store failure"' in ln][-1]
        assert re.search(r'op=\S+ req_id=\S+ rc=unavailable error="[^"\n]*PostgreSQL', line), line
    finally:
        assert s.stop() == 0


@needs_pg
def test_a_waiting_gate_holds_no_worker(own_pg):
    """One HTTP worker. Signed calls whose gate waits on a frozen PostgreSQL park their
    requests instead of holding the worker: it answers /healthz at once meanwhile, and each
    call gets its 503 within the timeout. (When the gate held its worker, /healthz waited
    behind the calls for up to pg_timeout_ms each.) requests writes a call's head and body
    apart, so this also checks that a body not yet read with the head parks too."""
    # caches on; a longer timeout than FAST's, so that a worker held by a gate would keep
    # /healthz waiting far beyond the bound below, also in a sanitizer build under load
    timeout_s = 3.0
    args = [{"0": "60000", str(TIMEOUT_MS): str(int(timeout_s * 1000))}.get(a, a)
            for a in FAST] + ["--threads", "1"]
    s = Server(args=args, env={"MCAPID_STORE": "postgres",
                               "MCAPID_PG_DSN": own_pg.dsn(own_pg.new_database("gate"))}).start()
    try:
        # the credentials cached (after the listener's first flush at start)
        assert s.client().post("/api/account/get-account").status_code == 200
        time.sleep(1)
        assert s.client().post("/api/account/get-account").status_code == 200
        own_pg.signal_all(signal.SIGSTOP)
        results = []

        def call():
            t0 = time.time()
            r = s.client().post("/api/account/get-account")
            results.append((r.status_code, time.time() - t0))

        threads = [threading.Thread(target=call) for _ in range(4)]
        [t.start() for t in threads]
        time.sleep(0.3)  # the calls are in; their gate waits for the database
        t0 = time.time()
        h = requests.get(s.base + "/healthz", timeout=5)
        took = time.time() - t0
        assert h.status_code == 200 and took < (1.0 if mc.SLOW else 0.5), took
        assert len(results) == 0  # the calls were still waiting: /healthz did not queue behind them
        [t.join() for t in threads]
        assert [st for st, _ in results] == [503] * 4, results
        assert all(t < timeout_s + 1.0 for _, t in results), results
    finally:
        own_pg.signal_all(signal.SIGCONT)
        assert s.stop() == 0


@needs_pg
def test_node_started_before_postgres_becomes_ready(own_pg):
    db = own_pg.new_database("late")
    own_pg.stop_proc()
    s = pg_node(own_pg, db=db, smtp=True)
    s.start(ready=False)
    try:
        r = requests.get(s.base + "/readyz", timeout=5)
        assert r.status_code == 503 and r.json()["status"] == "starting", r.text
        assert smtp_greeting(s).startswith("421 4.3.2 ")  # a sending MTA retries later
        assert r.headers["Retry-After"]
        r = requests.post(s.base + "/api/login/discover-authentication",
                          json={"data": [{"emailAddress": "a@b.example"}]}, timeout=5)
        assert r.status_code == 503 and r.headers["Retry-After"], r.text
        assert r.json()["fail"][0]["errors"][0]["code"] == "err_xdk_unavailable"
        assert s.proc.poll() is None
        own_pg.restart_proc()
        deadline = time.time() + 20
        while time.time() < deadline:
            if requests.get(s.base + "/readyz", timeout=5).status_code == 200:
                break
            time.sleep(0.2)
        assert requests.get(s.base + "/readyz", timeout=5).status_code == 200, s.read_log()
        # --dev made its credentials once the store opened, and they work
        assert pending(s.client()).status_code == 200
        assert smtp_greeting(s).startswith("220 ")
    finally:
        assert s.stop() == 0, s.read_log()


@needs_pg
def test_stop_while_waiting_for_postgres(own_pg):
    db = own_pg.new_database("never")
    own_pg.stop_proc()
    s = pg_node(own_pg, db=db)
    s.start(ready=False)
    t0 = time.time()
    assert s.stop() == 0, s.read_log()
    assert time.time() - t0 < 5


@needs_pg
def test_idle_restart_of_postgres_fails_no_call(own_pg):
    s = pg_node(own_pg).start()
    try:
        cl = s.client()
        results = []

        def hit():
            results.append(pending(s.client()).status_code)

        ts = [threading.Thread(target=hit) for _ in range(4)]  # warm both workers
        [t.start() for t in ts]
        [t.join() for t in ts]
        own_pg.stop_proc()
        own_pg.restart_proc()
        results.clear()
        for _ in range(3):
            ts = [threading.Thread(target=hit) for _ in range(4)]
            [t.start() for t in ts]
            [t.join() for t in ts]
        assert results == [200] * 12, (results, s.read_log())
        assert pending(cl).status_code == 200
    finally:
        assert s.stop() == 0


def test_trusted_proxies_name_the_client():
    s = Server(args=["--trusted-proxies", "127.0.0.1, 10.0.0.0/8", "--ip-limit", "3"]).start()
    plain = Server(args=["--ip-limit", "3"]).start()
    try:
        def discover(server, xff):
            return requests.post(server.base + "/api/login/discover-authentication",
                                 json={"data": [{"emailAddress": "x@y.example"}]},
                                 headers={"X-Forwarded-For": xff}, timeout=5).status_code

        # behind the trusted proxy, each client has its own per-IP bucket; what a client
        # prepends to the header is not read
        assert [discover(s, "6.6.6.%d, 198.51.100.1" % i) for i in range(4)] == \
            [200, 200, 200, 429]
        assert discover(s, "198.51.100.2, 10.1.1.1") == 200
        assert discover(s, "198.51.100.1") == 429
        log = s.read_log()
        assert "access ip=198.51.100.2 " in log and "access ip=6.6.6." not in log
        # Forwarded (RFC 7239) when there is no X-Forwarded-For
        r = requests.post(s.base + "/api/login/discover-authentication",
                          json={"data": [{"emailAddress": "x@y.example"}]},
                          headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=http'}, timeout=5)
        assert r.status_code == 200 and "access ip=2001:db8::7 " in s.read_log()
        # several header lines are one list, the last line being the proxy's (HAProxy adds
        # a line): however many a client sends first, the last one counts
        lines = "".join("X-Forwarded-For: 6.6.6.%d\r\n" % i for i in range(12))
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
            c.sendall(("GET /healthz HTTP/1.1\r\nHost: x\r\n%sX-Forwarded-For: 198.51.100.9"
                       "\r\nConnection: close\r\n\r\n" % lines).encode())
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
        log = s.read_log()
        assert "access ip=198.51.100.9 " in log and "access ip=6.6.6." not in log
        # without trusted_proxies the header is ignored: every "client" is 127.0.0.1
        assert [discover(plain, "198.51.100.%d" % i) for i in range(4)] == [200, 200, 200, 429]
    finally:
        assert s.stop() == 0
        assert plain.stop() == 0


def test_bad_trusted_proxies_stop_the_start():
    s = Server(args=["--trusted-proxies", "10.0.0.0/40"])
    with pytest.raises(AssertionError) as ex:
        s.start()
    assert "10.0.0.0/40" in str(ex.value)


def test_systemd_notify(tmp_path):
    """Type=notify (dist/systemd): READY=1 once listening, STOPPING=1 on SIGTERM, sent to
    the datagram socket named by $NOTIFY_SOCKET as systemd does."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    s = Server(env={"NOTIFY_SOCKET": path}).start()
    try:
        got = [sock.recv(512).decode()]
        while not any("READY=1" in m.split("\n") for m in got) and len(got) < 5:
            got.append(sock.recv(512).decode())
        assert any("READY=1" in m.split("\n") for m in got), got
        assert "STATUS=ready" in got, got
    finally:
        assert s.stop() == 0
    seen = []
    sock.settimeout(0.5)  # stop() returned: everything it sent is queued already
    try:
        while True:
            seen.append(sock.recv(512).decode())
    except socket.timeout:
        pass
    finally:
        sock.close()
    assert any("STOPPING=1" in m for m in seen), seen
