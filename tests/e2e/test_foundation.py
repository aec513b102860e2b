"""Foundation end to end: the real mcapid, its store, and real clients (issue: foundation).
Covers API.md §1 (transport and framing), §2 (authentication, every row of §2.2), §3 (the
envelope and §3.1 codes), §4 (Python-literal bodies), §11 (dev bootstrap) and §12."""
import base64
import datetime
import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

import mc
from mc import MCAPID, Server, mc_date, raw_request, run_seed_sample, sign, status_of

def err(body):
    return body["fail"][0]["errors"][0]


def test_seed_python_sample_get_account(server):
    body = run_seed_sample(server, "/api/account/get-account")
    assert body["meta"]["status"] == 200
    assert body["fail"] == []
    acct = body["data"][0]
    for k in ("accountCode", "accountName", "region", "adminEmail", "userCount", "mimecastId",
              "maxRetention", "archive", "gateway", "domain", "type"):
        assert k in acct
    assert acct["userCount"] >= 1
    assert acct["gateway"] is True and acct["archive"] is False
    assert acct["accountCode"] == server.creds["account_code"]


def test_healthz(server):
    r = requests.get(server.base + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_headers_on_every_response(server, client):
    for r in (client.post("/api/account/get-account"),
              requests.post(server.base + "/api/nope/nope", data="{}"),
              requests.get(server.base + "/api/account/get-account")):
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["Pragma"] == "no-cache"
        assert r.headers["X-Robots-Tag"] == "noindex, nofollow"
        assert int(r.headers["X-RateLimit-Limit"]) > 0
        assert r.json()["meta"]["status"] == r.status_code


def test_method_not_allowed_and_not_found(server):
    r = requests.get(server.base + "/api/account/get-account")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert err(r.json())["code"] == "err_xdk_method_not_allowed"
    r = requests.post(server.base + "/api/no/such-thing", data="{}")
    assert r.status_code == 404 and err(r.json())["code"] == "err_xdk_not_found"
    assert r.json()["data"] == [] and "key" not in r.json()["fail"][0]


def test_developer_key_is_http_200(server, client):
    r = client.post("/api/account/get-account", x_mc_app_id=None)
    assert r.status_code == 200
    e = err(r.json())
    assert e["code"] == "err_developer_key" and e["retryable"] is False
    r = client.post("/api/account/get-account", x_mc_app_id="nope-app")
    assert r.status_code == 200 and err(r.json())["message"] == "App ID is invalid: nope-app"


@pytest.mark.parametrize("drop", ["Authorization", "x-mc-date", "x-mc-req-id"])
def test_credentials_missing(client, drop):
    r = client.post("/api/account/get-account", **{drop.replace("-", "_"): None})
    assert r.status_code == 400
    assert err(r.json())["code"] == "err_xdk_credentials_missing"
    assert err(r.json())["message"] == "0001 Credentials are missing from the request"


def test_date_unparseable_and_out_of_window(client):
    r = client.post("/api/account/get-account", date="yesterday at noon")
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_request_date_invalid"
    old = mc_date(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20))
    r = client.post("/api/account/get-account", date=old)
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_request_date_invalid"
    ahead = mc_date(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20))
    r = client.post("/api/account/get-account", date=ahead)
    assert r.status_code == 401


def test_date_forms_real_clients_send(client):
    now = datetime.datetime.now(datetime.timezone.utc)
    for date in (now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                 now.strftime("%a, ") + ("%2d" % now.day) + now.strftime(" %b %Y %H:%M:%S UTC"),
                 now.strftime("%a, ") + str(now.day) + now.strftime(" %b %Y %H:%M:%S UTC")):
        r = client.post("/api/account/get-account", date=date)
        assert r.status_code == 200, (date, r.text)


def test_invalid_signature_cases(server, client):
    uri = "/api/account/get-account"
    h = client.headers(uri)
    h["Authorization"] = h["Authorization"][:-3] + "AAA"
    r = client.post(uri, headers=h)
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_invalid_signature"
    assert err(r.json())["message"] == "0004 Invalid Signature"
    # unknown access key
    other = server.client(access_key="unknown-key")
    assert other.post(uri).status_code == 401
    # wrong app key
    assert server.client(app_key="wrong").post(uri).status_code == 401
    # malformed Authorization
    for bad in ("MC", "Basic abc", "MC nocolon", "MC :sig"):
        h = client.headers(uri)
        h["Authorization"] = bad
        r = client.post(uri, headers=h)
        assert r.status_code == 401, bad


def test_authorization_quirks(client):
    uri = "/api/account/get-account"
    h = client.headers(uri)
    ak, sig = h["Authorization"][3:].split(":", 1)
    for form in ("MC %s: %s" % (ak, sig), "mc %s:%s" % (ak, sig), "MC  %s : %s " % (ak, sig)):
        h2 = client.headers(uri)
        ak2, sig2 = h2["Authorization"][3:].split(":", 1)
        h2["Authorization"] = form.replace(ak, ak2).replace(sig, sig2)
        r = client.post(uri, headers=h2)
        assert r.status_code == 200, form
    # header names in any case
    h = {k.upper(): v for k, v in client.headers(uri).items()}
    assert client.post(uri, headers=h).status_code == 200


def test_signature_over_path_and_query(server, client):
    uri = "/api/account/get-account"
    date, rid = mc_date(), str(uuid.uuid4())
    c = server.creds
    h = client.headers(uri, date=date, req_id=rid)
    h["Authorization"] = "MC %s:%s" % (c["access_key"], sign(c["secret_key"], date, rid, uri + "?x=1", c["app_key"]))
    r = requests.post(server.base + uri + "?x=1", data="{}", headers=h)
    assert r.status_code == 200, r.text


def test_replay_refused(client):
    uri = "/api/account/get-account"
    h = client.headers(uri)
    assert client.post(uri, headers=h).status_code == 200
    r = client.post(uri, headers=h)
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_request_replayed"


def test_expired_binding_is_418(server):
    c = server.creds
    keys = server.admin_json("keys", "create", "--email", c["email"], "--app-id", c["app_id"],
                             "--ttl", "1500")
    cl = server.client(access_key=keys["access_key"], secret_key=keys["secret_key"])
    assert cl.post("/api/account/get-account").status_code == 200
    time.sleep(2)
    r = cl.post("/api/account/get-account")
    assert r.status_code == 418
    assert err(r.json())["code"] == "err_xdk_binding_expired"
    assert err(r.json())["message"] == "AccessKey Has Expired"


def test_revoked_key_is_418_and_other_app_is_invalid(server):
    c = server.creds
    keys = server.admin_json("keys", "create", "--email", c["email"], "--app-id", c["app_id"])
    cl = server.client(access_key=keys["access_key"], secret_key=keys["secret_key"])
    assert cl.post("/api/account/get-account").status_code == 200
    server.admin("keys", "revoke", "--access-key", keys["access_key"])
    # another process changed the store: the server sees it within auth_cache_ms (1 s)
    deadline = time.time() + 3
    while cl.post("/api/account/get-account").status_code != 418:
        assert time.time() < deadline, "revocation never took effect"
        time.sleep(0.1)
    # a key of this user presented with another registered application: invalid signature
    app = server.admin_json("app", "create", "--account", c["account_code"], "--name", "other")
    cl2 = server.client(app_id=app["app_id"], app_key=app["app_key"])
    r = cl2.post("/api/account/get-account")
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_invalid_signature"


def test_forbidden_without_permission(server):
    c = server.creds
    server.admin("user", "create", "--account", c["account_code"], "--email", "reader@dev.mcapi.local",
                 "--perms", "dir.internal.read")
    keys = server.admin_json("keys", "create", "--email", "reader@dev.mcapi.local", "--app-id", c["app_id"])
    cl = server.client(access_key=keys["access_key"], secret_key=keys["secret_key"])
    r = cl.post("/api/account/get-account")
    assert r.status_code == 403
    e = err(r.json())
    assert e["code"] == "err_xdk_forbidden" and "Account | Dashboard | Read" in e["message"]


def test_rate_limit_headers(client):
    r = client.post("/api/account/get-account")
    assert int(r.headers["X-RateLimit-Limit"]) == 800
    assert 0 <= int(r.headers["X-RateLimit-Remaining"]) < 800
    assert int(r.headers["X-RateLimit-Reset"]) >= 0


def test_python_literal_bodies(client):
    uri = "/api/account/get-account"
    for raw in (str({"data": []}), "{'data': [], 'meta': None}", "", "{}", '{"data": null}',
                "{'data': [{}], 'meta': {'pagination': {'pageSize': 5}}}", " {\"unknown\": True} "):
        r = client.post(uri, raw=raw)
        assert r.status_code == 200, (raw, r.text)


@pytest.mark.parametrize("raw", ["{", "[1,2]", "{'data': 5}", "{'data': [1]}", "{'meta': []}",
                                 "\xff\xfe", "{'data': [], 'x': nan}", "[" * 100 + "]" * 100])
def test_malformed_bodies(client, raw):
    r = client.post("/api/account/get-account", raw=raw.encode("latin-1"))
    assert r.status_code == 400
    assert err(r.json())["code"] == "err_xdk_malformed_body"


def test_body_too_large_413(server):
    s = Server(args=["--max-body", "2048"]).start()
    try:
        cl = s.client()
        r = cl.post("/api/account/get-account", raw="{'data': [], 'x': '%s'}" % ("a" * 4000))
        assert r.status_code == 413
        assert err(r.json())["code"] == "err_xdk_request_too_large"
        # chunked over the limit too
        h = cl.headers("/api/account/get-account")
        r = requests.post(s.base + "/api/account/get-account", headers=h,
                          data=iter([b"{'data': [], 'x': '", b"a" * 3000, b"'}"]))
        assert r.status_code == 413
    finally:
        assert s.stop() == 0


PROBES = {
    "duplicate content-length": b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "content-length with chunked": b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\n"
                                   b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "gzip, chunked": b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "no host": b"POST /api/account/get-account HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "two hosts": b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\nHost: y\r\n"
                 b"Content-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_framing_probes_400_and_close(server, name):
    t = time.time()
    resp = raw_request(server.port, PROBES[name], timeout=5)
    assert status_of(resp) == 400, (name, resp[:200])
    assert time.time() - t < 3, "connection was not closed promptly"


def test_huge_content_length_413_at_once(server):
    t = time.time()
    resp = raw_request(server.port, b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 1000000000000000\r\n\r\n", timeout=5)
    assert status_of(resp) == 413
    assert time.time() - t < 3


def test_header_block_too_large_431(server):
    # the server answers 431 and closes with the rest of the block unread; a client that
    # has sent everything at once may see the reset before the answer, so this one pauses
    # after the first 15 kB, as a slow client would, and then reads.
    block = (b"POST /api/account/get-account HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 40000 +
             b"\r\nContent-Length: 2\r\n\r\n{}")
    c = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    t = time.time()
    c.sendall(block[:15000])
    time.sleep(0.2)
    try:
        c.sendall(block[15000:])
    except OSError:
        pass
    time.sleep(0.2)
    assert status_of(c.recv(4096)) == 431
    assert time.time() - t < 3
    c.close()


def test_keepalive_and_pipelining(server, client):
    uri = "/api/account/get-account"
    reqs = b""
    for _ in range(3):
        h = client.headers(uri)
        body = b'{"data":[]}'
        reqs += ("POST %s HTTP/1.1\r\nHost: x\r\n" % uri).encode()
        reqs += "".join("%s: %s\r\n" % kv for kv in h.items()).encode()
        reqs += b"Content-Length: %d\r\n\r\n" % len(body) + body
    resp = raw_request(server.port, reqs, timeout=2)
    assert resp.count(b"HTTP/1.1 200") == 3, resp[:500]


def test_dev_credentials_file(server):
    path = os.path.join(server.data_dir, "dev-credentials.json")
    assert os.stat(path).st_mode & 0o777 == 0o600
    key = os.path.join(server.data_dir, "server.key")
    assert os.stat(key).st_mode & 0o777 == 0o600
    c = server.creds
    for k in ("base_url", "account_code", "app_id", "app_key", "access_key", "secret_key", "email", "password"):
        assert c[k]
    # secrets are not readable from the database file alone (PostgreSQL: test_store_pg.c)
    if not mc.PG:
        db = open(os.path.join(server.data_dir, "mcapid.db"), "rb").read()
        wal = os.path.join(server.data_dir, "mcapid.db-wal")
        if os.path.exists(wal):
            db += open(wal, "rb").read()
        assert c["app_key"].encode() not in db
        assert c["secret_key"].encode() not in db
        assert base64.b64decode(c["secret_key"]) not in db
    # the server log never shows secrets
    log = server.read_log()
    assert c["secret_key"] not in log and c["password"] not in log


def test_restart_reuses_store_and_kill9_durability():
    s = Server().start()
    try:
        creds = s.creds
        p = s.admin("user", "create", "--account", creds["account_code"], "--email",
                    "durable@dev.mcapi.local", "--perms", "admin")
        assert p.returncode == 0
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        s.log.close()
        s.proc = None
        s.start()
        assert s.creds == creds  # not re-created
        users = json.loads(s.admin("user", "list").stdout)
        assert "durable@dev.mcapi.local" in json.dumps(users)
        assert s.client().post("/api/account/get-account").status_code == 200
        # a write acknowledged through the API survives kill -9 as well (binding by admin here)
    finally:
        assert s.stop() == 0


def test_version_and_help():
    out = subprocess.run([MCAPID, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mcapid ")
    out = subprocess.run([MCAPID, "--help"], capture_output=True, text=True)
    assert "--listen" in out.stdout and "--max-body" in out.stdout
    out = subprocess.run([MCAPID, "--no-such-flag"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown option" in out.stderr
    out = subprocess.run([MCAPID, "--threads", "abc"], capture_output=True, text=True)
    assert out.returncode == 2 and "threads" in out.stderr


def test_user_count_follows_the_store(server, client):
    before = client.call("/api/account/get-account")[1]["data"][0]["userCount"]
    server.admin("user", "create", "--account", server.creds["account_code"], "--email",
                 "counted@dev.mcapi.local", "--perms", "dir.internal.read")
    deadline = time.time() + 3  # another process wrote it: visible within auth_cache_ms
    while client.call("/api/account/get-account")[1]["data"][0]["userCount"] != before + 1:
        assert time.time() < deadline
        time.sleep(0.1)


def test_acknowledged_api_writes_survive_kill9():
    s = Server().start()
    try:
        cl = s.client()
        r, b = cl.call("/api/domain/create-domain",
                       [{"domain": "durable%d.example.com" % i, "inboundType": "any"} for i in range(20)])
        assert r.status_code == 200 and len(b["data"]) == 20
        basic = base64.b64encode(("%s:%s" % (s.creds["email"], s.creds["password"])).encode()).decode()
        login = requests.post(s.base + "/api/login/login",
                              data='{"data": [{"userName": "%s"}]}' % s.creds["email"],
                              headers={"x-mc-app-id": s.creds["app_id"],
                                       "Authorization": "Basic-Cloud " + basic})
        assert login.status_code == 200, login.text
        keys = login.json()["data"][0]
        s.proc.send_signal(signal.SIGKILL)  # right after the answers: no clean shutdown
        s.proc.wait()
        s.log.close()
        s.proc = None
        s.start()
        r, b = cl.call("/api/domain/get-pending-domain")
        assert sorted(d["domain"] for d in b["data"]) == sorted("durable%d.example.com" % i for i in range(20))
        fresh = s.client(access_key=keys["accessKey"], secret_key=keys["secretKey"])
        assert fresh.post("/api/account/get-account").status_code == 200
    finally:
        assert s.stop() == 0


def test_configuration_file_environment_and_flags(tmp_path):
    """One option table, four sources: defaults < file < environment < flags."""
    conf = tmp_path / "mcapid.conf"
    conf.write_text("# a comment\nmax_body = 4096\nrate_limit = 7\nregion = 'de'\n")
    s = Server(args=["--config-file", str(conf), "--rate-limit", "9"],
               env={"MCAPID_MAX_BODY": "3000", "MCAPID_RATE_LIMIT": "8"}).start()
    try:
        cl = s.client()
        r = cl.post("/api/account/get-account")
        assert r.headers["X-RateLimit-Limit"] == "9"          # flag beats environment and file
        big = "{'data': [], 'x': '%s'}" % ("a" * 3500)
        assert cl.post("/api/account/get-account", raw=big).status_code == 413  # env 3000 beats file 4096
    finally:
        assert s.stop() == 0
    bad = tmp_path / "bad.conf"
    bad.write_text("no_such_option = 1\n")
    p = subprocess.run([MCAPID, "--config", str(bad)], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option 'no_such_option'" in p.stderr and ":1:" in p.stderr
    p = subprocess.run([MCAPID, "--max-body", "10"], capture_output=True, text=True)
    assert p.returncode == 2 and "max_body" in p.stderr
