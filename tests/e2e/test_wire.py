"""The exact wire real clients rely on (docs/api.md §1, §2.2, §7): the header set of every
answer type, compared with the recordings of the real service when they are there; request ids
used up only when the function runs, so a client that retries a 429 or a 503 with identical
headers succeeds; pageSize in every form real clients send."""
import glob
import json
import os
import sqlite3
import time
import uuid

import pytest
import requests

import mc
from mc import ROOT, Server, mc_date, raw_request, status_of

FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures", "jupiterone-graph-mimecast")

API_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Robots-Tag": "noindex, nofollow",
}


def err(body):
    return body["fail"][0]["errors"][0]


def rl(r):
    return tuple(int(r.headers["X-RateLimit-" + k]) for k in ("Limit", "Remaining", "Reset"))


def check_headers(r, status):
    assert r.status_code == status, r.text
    for k, v in API_HEADERS.items():
        assert r.headers.get(k) == v, (status, k, r.headers)
    limit, remaining, reset = rl(r)
    assert limit >= 1 and 0 <= remaining <= limit and reset >= 0
    assert r.json()["meta"]["status"] == status
    if status == 429:
        assert int(r.headers["Retry-After"]) >= 1


@pytest.fixture(scope="module")
def server():
    s = Server(args=["--ip-limit", "1000", "--rate-limit", "3", "--rate-refill-ms", "1500",
                     "--db-busy-timeout-ms", "300"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


_n = [0]


def fresh_client(server, perms="admin"):
    _n[0] += 1
    email = "wire%d@dev.mcapi.local" % _n[0]
    server.admin("user", "create", "--account", server.creds["account_code"], "--email", email,
                 "--perms", perms)
    k = server.admin_json("keys", "create", "--email", email, "--app-id", server.creds["app_id"])
    return server.client(access_key=k["access_key"], secret_key=k["secret_key"])


def test_every_answer_type_has_the_api_headers(server):
    c = fresh_client(server)
    check_headers(c.post("/api/account/get-account"), 200)
    # 200 with a function-level failure
    r = c.post("/api/domain/get-verification-code", {"data": [{"domain": "nope.example"}]})
    check_headers(r, 200)
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_domain_not_found"
    # 200 err_developer_key: no user known, so the client IP's bucket
    r = c.post("/api/account/get-account", headers=c.headers("/api/account/get-account",
                                                             x_mc_app_id="INVALID"))
    check_headers(r, 200)
    assert err(r.json())["code"] == "err_developer_key" and rl(r)[0] == 1000
    # 400, 404, 405, 413 before anything is authenticated: the IP's bucket too
    check_headers(c.post("/api/account/get-account", headers=c.headers(
        "/api/account/get-account", Authorization=None)), 400)
    check_headers(requests.post(server.base + "/api/no/such", data="{}"), 404)
    check_headers(requests.get(server.base + "/api/account/get-account"), 405)
    # 403: the user is known, so the user's bucket
    weak = fresh_client(server, perms="dir.internal.read")
    r = weak.post("/api/account/get-account")
    check_headers(r, 403)
    assert rl(r)[0] == 3
    # 418 after logout: the user is known
    gone = fresh_client(server)
    assert gone.post("/api/login/logout").status_code == 200
    r = gone.post("/api/account/get-account")
    check_headers(r, 418)
    assert rl(r)[0] == 3


def test_signature_failures_show_the_ip_bucket_then_429_with_retry_after():
    s = Server(args=["--ip-limit", "3"]).start()
    try:
        c = s.client()
        c.secret_key = "AAAA" + c.secret_key[4:]
        seen = []
        for _ in range(4):
            r = c.post("/api/account/get-account")
            seen.append((r.status_code, rl(r)))
        assert [x[0] for x in seen[:3]] == [401, 401, 401]
        assert [x[1][1] for x in seen[:3]] == [2, 1, 0] and all(x[1][0] == 3 for x in seen)
        r = c.post("/api/account/get-account")
        check_headers(r, 429)
        assert err(r.json())["code"] == "err_xdk_too_many_failures"
        assert 1 <= int(r.headers["Retry-After"]) <= 20
        # the reason of each refusal is logged, never the signature or the secret
        log = "\n".join(x for x in s.read_log().splitlines() if x.startswith("ts="))
        assert "reason=signature_mismatch" in log
        assert c.secret_key not in log and s.creds["secret_key"] not in log
        assert s.creds["access_key"] not in log and s.creds["access_key"][:8] in log
    finally:
        assert s.stop() == 0


def test_headers_match_the_recordings_of_the_real_service(server):
    hars = sorted(glob.glob(os.path.join(FIXTURES, "*", "recording.har")))
    if not hars:
        pytest.skip("no recordings in ../shared/fixtures")
    c = fresh_client(server)
    ours = {
        200: c.post("/api/account/get-account"),
        401: c.post("/api/account/get-account", headers=c.headers(
            "/api/account/get-account", Authorization="MC %s:bad" % c.access_key)),
    }
    bad_app = c.post("/api/account/get-account",
                     headers=c.headers("/api/account/get-account", x_mc_app_id="INVALID"))
    skip = {"date", "content-length", "connection"}
    compared = 0
    for path in hars:
        for e in json.load(open(path))["log"]["entries"]:
            if not e["request"]["url"].endswith("/api/account/get-account"):
                continue
            resp = e["response"]
            body = json.loads(resp["content"]["text"])
            mine = ours.get(resp["status"])
            if body["fail"] and err(body)["code"] == "err_developer_key":
                mine = bad_app
            if mine is None:
                continue
            theirs = {h["name"].lower(): h["value"] for h in resp["headers"]}
            got = {k.lower(): v for k, v in mine.headers.items()}
            for name, value in theirs.items():
                if name in skip:
                    continue
                assert name in got, (path, name)
                if not name.startswith("x-ratelimit"):
                    assert got[name] == value, (path, name, got[name], value)
            if body["fail"]:
                assert err(mine.json())["code"] == err(body)["code"]
                assert err(mine.json())["message"].split(":")[0] == \
                    err(body)["message"].split(":")[0]
            compared += 1
    assert compared >= 3


def test_a_429_retried_with_identical_headers_succeeds(server):
    c = fresh_client(server)
    for _ in range(3):
        assert c.post("/api/account/get-account").status_code == 200
    h = c.headers("/api/account/get-account")
    r = c.post("/api/account/get-account", headers=h)
    check_headers(r, 429)
    wait = rl(r)[2] / 1000.0
    assert int(r.headers["Retry-After"]) >= wait
    time.sleep(wait + 0.05)
    r = c.post("/api/account/get-account", headers=h)  # the same request, unchanged
    assert r.status_code == 200, r.text
    time.sleep(1.6)
    r = c.post("/api/account/get-account", headers=h)  # executed once: now a replay
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_request_replayed"


def test_a_403_leaves_the_request_id_free(server):
    weak = fresh_client(server, perms="dir.internal.read")
    h = weak.headers("/api/account/get-account")
    assert weak.post("/api/account/get-account", headers=h).status_code == 403
    assert weak.post("/api/account/get-account", headers=h).status_code == 403  # not "replay"


@pytest.mark.skipif(mc.PG, reason="holds SQLite's file lock")
def test_a_503_retried_with_identical_headers_succeeds_once(server):
    c = fresh_client(server)
    body = {"data": [{"domain": "retry503.example.com", "inboundType": "any"}]}
    h = c.headers("/api/domain/create-domain")
    other = sqlite3.connect(os.path.join(server.data_dir, "mcapid.db"), timeout=5,
                            isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = c.post("/api/domain/create-domain", body, headers=h)
        check_headers(r, 503)
    finally:
        other.execute("ROLLBACK")
        other.close()
    r = c.post("/api/domain/create-domain", body, headers=h)
    assert r.status_code == 200 and r.json()["data"][0]["domain"] == "retry503.example.com"
    r = c.post("/api/domain/create-domain", body, headers=h)
    assert r.status_code == 401 and err(r.json())["code"] == "err_xdk_request_replayed"


def test_concurrent_copies_of_one_request_run_once(server):
    import concurrent.futures
    c = fresh_client(server)
    h = c.headers("/api/domain/get-pending-domain")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(lambda _: requests.post(
            server.base + "/api/domain/get-pending-domain", data="{}", headers=h).status_code,
            range(3)))
    assert sorted(codes).count(200) == 1 and codes.count(200) + codes.count(401) + \
        codes.count(429) == 3


@pytest.mark.parametrize("pagination", [{"pageSize": 1}, {"pageSize": "1"}, {"page_size": 1},
                                        {"page_size": "1"}, {"pageSize": 1, "pageToken": None}])
def test_page_size_in_every_form(server, pagination):
    c = fresh_client(server)
    for d in ("pga.example.com", "pgb.example.com"):
        c.call("/api/domain/create-domain", [{"domain": d, "inboundType": "any"}])
    time.sleep(1.6)  # a fresh bucket for the next calls
    r, body = c.call("/api/domain/get-pending-domain", meta={"pagination": pagination})
    assert r.status_code == 200, body
    assert body["meta"]["pagination"]["pageSize"] == 1 and len(body["data"]) == 1
    assert body["meta"]["pagination"]["next"]


def test_connect_is_refused_without_the_proxy(server):
    out = raw_request(server.port, b"CONNECT api.mimecast.com:443 HTTP/1.1\r\n"
                                   b"Host: api.mimecast.com:443\r\n\r\n")
    assert status_of(out) == 403


def test_request_dates_and_ids_as_real_clients_send_them(server):
    c = fresh_client(server)
    d = mc_date().replace("UTC", "GMT")
    r = c.post("/api/account/get-account", headers=c.headers("/api/account/get-account", date=d,
                                                             req_id=str(uuid.uuid4()).upper()))
    assert r.status_code == 200


def test_absolute_form_targets_are_served_as_origin_form(server):
    """RFC 9112 §3.2.2: a server accepts absolute-form; older axios sends it to its proxy."""
    c = fresh_client(server)
    uri = "/api/account/get-account"
    h = c.headers(uri)
    head = "POST https://api.mimecast.com%s HTTP/1.1\r\nHost: api.mimecast.com\r\n" % uri
    head += "".join("%s: %s\r\n" % kv for kv in h.items())
    out = raw_request(server.port, (head + "Content-Length: 11\r\nConnection: close\r\n\r\n"
                                    '{"data":[]}').encode())
    assert status_of(out) == 200, out[:300]
    out = raw_request(server.port, b"GET http://x.example/healthz HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(out) == 200
