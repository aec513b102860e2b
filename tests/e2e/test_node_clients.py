"""Real Node.js clients against mcapid, used the way integrations written for the real service use
them (tests/node: got, axios with axios-retry, https-proxy-agent; each call signed once, as the
service's documentation shows): the header set of every answer type as Node sees it, got's and
axios-retry's own retries of a 429 or 503 with identical headers, and HTTPS through the
development CONNECT proxy with a Mimecast URL and NODE_EXTRA_CA_CERTS. Which clients follow
HTTPS_PROXY by themselves and which need an agent is measured with a recording proxy, never by
letting a client reach a real host."""
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

import mc
from mc import ROOT, Server, clean_env, make_ca

NODE = shutil.which("node")
NODE_DIR = os.path.join(ROOT, "tests", "node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

API_HEADERS = {"content-type": "application/json", "cache-control": "no-store",
               "pragma": "no-cache", "x-robots-tag": "noindex, nofollow"}


@pytest.fixture(scope="module", autouse=True)
def node_modules():
    """The pinned packages of tests/node (make node-deps: npm ci when missing or stale)."""
    p = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "node-deps"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr


def node(script, job, env=None, timeout=60):
    """Runs tests/node/<script> with job (JSON) and returns the JSON line it prints."""
    p = subprocess.run([NODE, os.path.join(NODE_DIR, script), json.dumps(job)],
                       capture_output=True, text=True, timeout=timeout, env=clean_env(env))
    assert p.returncode == 0 and p.stdout.strip(), (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def creds_of(server, email=None, perms="admin"):
    """The signing credentials of the dev user, or of a new user (a bucket of its own)."""
    c = server.creds
    if email:
        server.admin("user", "create", "--account", c["account_code"], "--email", email,
                     "--perms", perms)
        k = server.admin_json("keys", "create", "--email", email, "--app-id", c["app_id"])
        c = dict(c, access_key=k["access_key"], secret_key=k["secret_key"])
    return {k: c[k] for k in ("app_id", "app_key", "access_key", "secret_key")}


def code(body):
    return body["fail"][0]["errors"][0]["code"]


def check_headers(seen, status):
    """What real clients read: Content-Type compared with ===, X-RateLimit-* on every answer."""
    h = seen["headers"]
    assert seen["status"] == status, seen
    assert seen["ctStrict"] is True, h
    for k, v in API_HEADERS.items():
        assert h.get(k) == v, (status, k, h)
    for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
        assert re.fullmatch(r"[0-9]+", h.get(k, "")), (status, k, h)
    assert seen["body"]["meta"]["status"] == status
    if status == 429:
        assert int(h["retry-after"]) >= 1, h


def access_lines(server, req_id):
    lines = [ln for ln in server.read_log().splitlines()
             if " access " in ln and "req_id=%s " % req_id in ln]
    return sorted(lines, key=lambda ln: ln.split(" ", 1)[0])  # workers' lines come in batches


CLIENTS = {"got": "client_got.mjs", "axios": "client_axios.mjs"}


# -- the header set of every answer type -------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    s = Server(args=["--ip-limit", "1000", "--rate-limit", "3", "--rate-refill-ms", "1500",
                     "--db-busy-timeout-ms", "300"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_every_answer_type_as_node_sees_it(server, client):
    me = creds_of(server, "node-%s@dev.mcapi.local" % client)
    weak = creds_of(server, "node-%s-weak@dev.mcapi.local" % client, perms="dir.internal.read")
    gone = creds_of(server, "node-%s-gone@dev.mcapi.local" % client)
    dry = creds_of(server, "node-%s-dry@dev.mcapi.local" % client)
    server.client(**gone).post("/api/login/logout")
    acct = "/api/account/get-account"
    calls = [
        {"name": "200", "path": acct, "creds": me},
        {"name": "200 fail[]", "path": "/api/domain/get-verification-code", "creds": me,
         "body": {"data": [{"domain": "nope.example"}]}},
        {"name": "200 developer key", "path": acct, "headers": {"x-mc-app-id": "INVALID"}},
        {"name": "400", "path": acct, "headers": {"Authorization": None}},
        {"name": "401", "path": acct, "creds": dict(me, secret_key="AAAA" + me["secret_key"][4:])},
        {"name": "403", "path": acct, "creds": weak},
        {"name": "404", "path": "/api/no/such", "unsigned": True},
        {"name": "405", "path": acct, "method": "GET"},
        {"name": "418", "path": acct, "creds": gone},
    ] + [{"name": "spend", "path": acct, "creds": dry}] * 3 + [
        {"name": "429", "path": acct, "creds": dry},
    ]
    out = {s["name"]: s for s in node(CLIENTS[client], {"mode": "calls", "base": server.base,
                                                         "creds": creds_of(server),
                                                         "calls": calls})}
    for name in ("200", "200 fail[]", "200 developer key", "400", "401", "403", "404", "405",
                 "418", "429"):
        check_headers(out[name], int(name[:3]))
    assert out["200"]["body"]["data"][0]["accountCode"] == server.creds["account_code"]
    assert code(out["200 fail[]"]["body"]) == "err_domain_not_found"
    assert code(out["200 developer key"]["body"]) == "err_developer_key"
    assert code(out["401"]["body"]) == "err_xdk_invalid_signature"
    assert code(out["418"]["body"]) == "err_xdk_binding_expired"
    assert code(out["429"]["body"]) == "err_xdk_rate_limit_exceeded"
    assert out["405"]["headers"]["allow"] == "POST"


@pytest.mark.skipif(mc.PG, reason="holds SQLite's file lock")
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_503_as_node_sees_it(server, client):
    me = creds_of(server, "node-%s-busy@dev.mcapi.local" % client)
    call = {"name": "503", "path": "/api/domain/create-domain", "creds": me,
            "body": {"data": [{"domain": "busy-%s.example.com" % client, "inboundType": "any"}]}}
    with store_locked(server):
        out = node(CLIENTS[client], {"mode": "calls", "base": server.base, "calls": [call]})
    check_headers(out[0], 503)
    assert int(out[0]["headers"]["retry-after"]) >= 1


class store_locked:
    """Holds SQLite's write lock (a second writer), so the server answers 503 meanwhile."""

    def __init__(self, server):
        self.db = sqlite3.connect(os.path.join(server.data_dir, "mcapid.db"), timeout=5,
                                  isolation_level=None)

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def release(self):
        if self.db:
            self.db.execute("ROLLBACK")
            self.db.close()
            self.db = None

    def __exit__(self, *exc):
        self.release()


# -- the clients' own retries ------------------------------------------------------------------

@pytest.fixture(scope="module")
def slow_server():
    """One call per user, one back every 1.5 s: the second call of a user is a 429."""
    s = Server(args=["--ip-limit", "1000", "--rate-limit", "1", "--rate-refill-ms", "1500",
                     "--db-busy-timeout-ms", "300"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


def check_retried(server, out, first_status):
    """One failed attempt, then the same request (same x-mc-req-id) again after Retry-After,
    and success; the server saw that id twice and ran the function once."""
    first, second = out["attempts"]
    assert first["status"] == first_status and second["status"] == 200, out
    assert first["reqId"] == second["reqId"]
    assert [r["status"] for r in out["retries"]] == [first_status]
    wait = int(first["retryAfter"])
    assert wait >= 1 and second["at"] - first["at"] >= wait * 1000 - 100, out  # honoured
    assert out["final"]["status"] == 200 and out["final"]["ctStrict"] is True, out
    lines = access_lines(server, first["reqId"])
    assert [re.search(r"status=(\d+)", ln).group(1) for ln in lines] == \
        [str(first_status), "200"], lines


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_clients_own_retry_of_a_429_succeeds(slow_server, client):
    me = creds_of(slow_server, "node-%s-retry@dev.mcapi.local" % client)
    out = node(CLIENTS[client], {"mode": "retry", "base": slow_server.base, "creds": me,
                                 "spend": 1, "call": {"path": "/api/account/get-account"}})
    assert out["spent"] == [200], out
    check_retried(slow_server, out, 429)
    assert out["final"]["body"]["data"][0]["accountCode"] == slow_server.creds["account_code"]


@pytest.mark.skipif(mc.PG, reason="holds SQLite's file lock")
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_clients_own_retry_of_a_503_succeeds(server, client):
    email = "node-%s-retry503@dev.mcapi.local" % client
    me = creds_of(server, email)
    domain = "retry503-%s.example.com" % client
    job = {"mode": "retry", "base": server.base, "creds": me, "spend": 0, "statusCodes": [503],
           "call": {"path": "/api/domain/create-domain",
                    "body": {"data": [{"domain": domain, "inboundType": "any"}]}}}
    with store_locked(server) as lock:
        p = subprocess.Popen([NODE, os.path.join(NODE_DIR, CLIENTS[client]), json.dumps(job)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env())
        deadline = time.time() + 30
        while not re.search(r"status=503 .* user=%s " % re.escape(email), server.read_log()):
            assert time.time() < deadline and p.poll() is None, server.read_log()
            time.sleep(0.05)
        lock.release()  # before the client's retry (Retry-After is at least 1 s)
        stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    out = json.loads(stdout)
    check_retried(server, out, 503)
    assert out["final"]["body"]["data"][0]["domain"] == domain


# -- HTTPS through the development CONNECT proxy -----------------------------------------------

@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="mcapi-pki-")
    yield make_ca(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server(pki):
    ca, crt, key = pki
    s = Server(tls=True, args=["--tls-cert", crt, "--tls-key", key, "--connect-proxy", "on"])
    s.start()
    yield s
    assert s.stop() == 0, s.read_log()


class RecordingProxy:
    """A loopback listener that notes the first line each client sends and answers 502: tells
    CONNECT (a tunnel) from an absolute-form request (HTTPS sent in clear) from nothing at all
    (the client went straight to its target, which the tests keep on loopback)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lines = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        b = c.recv(4096)
                        if not b:
                            break
                        data += b
                    self.lines.append(data.split(b"\r\n", 1)[0].decode(errors="replace"))
                    c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.sock.close()


# What each client does with HTTPS_PROXY alone (agent False) or given an https-proxy-agent.
HONOURS_HTTPS_PROXY = [
    ("axios", False, "CONNECT"),          # axios >= 1.16.1 tunnels by itself
    ("axios-legacy", False, "absolute"),  # axios 1.7: the request in clear to the proxy
    ("got", False, "direct"),             # got reads no proxy variables
    ("https", False, "direct"),           # nor does node:https
    ("fetch", False, "direct"),           # nor Node 20's fetch (undici)
    ("axios-legacy", True, "CONNECT"),
    ("got", True, "CONNECT"),
    ("https", True, "CONNECT"),
]


@pytest.mark.parametrize("client,agent,expect", HONOURS_HTTPS_PROXY)
def test_which_node_clients_follow_https_proxy(tls_server, pki, client, agent, expect):
    rec = RecordingProxy()
    target = "localhost:%d" % tls_server.tls_port  # if a client goes direct, it reaches mcapid
    try:
        out = node("client_proxy.mjs", {"client": client, "agent": agent,
                                         "url": "https://" + target, "call": {"path": "/healthz"}},
                   env={"HTTPS_PROXY": rec.url, "https_proxy": rec.url,
                        "NODE_EXTRA_CA_CERTS": pki[0]})
    finally:
        rec.close()
    if expect == "CONNECT":
        assert rec.lines == ["CONNECT %s HTTP/1.1" % target], (rec.lines, out)
    elif expect == "absolute":
        assert rec.lines == ["GET https://%s/healthz HTTP/1.1" % target], (rec.lines, out)
    else:
        assert rec.lines == [] and out["status"] == 200, (rec.lines, out)


@pytest.mark.parametrize("client,agent,host", [("axios", False, "api.mimecast.com"),
                                               ("axios", False, "eu-api.mimecast.com"),
                                               ("axios", True, "api.mimecast.com"),
                                               ("axios-legacy", True, "us-api.mimecast.com"),
                                               ("got", True, "eu-api.mimecast.com"),
                                               ("https", True, "api.mimecast.com")])
def test_get_account_through_the_proxy_with_a_mimecast_url(tls_server, pki, client, agent, host):
    proxy = "http://127.0.0.1:%d" % tls_server.port
    out = node("client_proxy.mjs", {"client": client, "agent": agent, "url": "https://" + host,
                                     "creds": creds_of(tls_server),
                                     "call": {"path": "/api/account/get-account",
                                              "body": {"data": []}}},
               env={"HTTPS_PROXY": proxy, "https_proxy": proxy, "NODE_EXTRA_CA_CERTS": pki[0]})
    check_headers(out, 200)
    assert out["body"]["data"][0]["accountCode"] == tls_server.creds["account_code"]
