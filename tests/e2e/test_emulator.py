"""The emulator's control plane under /__mcapi/ (docs/emulator.md): the control token, the
request journal, fault rules and accounts minted per test, against a real mcapid."""
import time

import pytest
import requests

from mc import Client, Server

ACCOUNT = "/api/account/get-account"


@pytest.fixture(scope="module")
def server():
    s = Server(smtp=True).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


@pytest.fixture(scope="module")
def ctl(server):
    # mcapid adds the token to the credentials file once it listens, a moment after
    # /healthz first answers (which is when Server.start returns)
    deadline = time.monotonic() + 10
    while "control_token" not in server.creds and time.monotonic() < deadline:
        time.sleep(0.02)
    token = server.creds["control_token"]
    sess = requests.Session()
    sess.headers["Authorization"] = "Bearer " + token

    def call(method, path, **kw):
        return sess.request(method, server.base + "/__mcapi/" + path, timeout=30, **kw)

    return call


@pytest.fixture(autouse=True)
def no_rules(ctl):
    ctl("DELETE", "faults")
    yield
    ctl("DELETE", "faults")


def test_token_in_credentials_and_stable_across_restarts(server):
    creds = server.creds
    token = creds["control_token"]
    assert token.startswith("mcc_") and len(token) == 47
    assert token not in (creds["secret_key"], creds["access_key"])
    server.stop()
    server.start()
    assert server.creds["control_token"] == token  # derived from the server key
    assert "Authorization: Bearer " + token in server.read_log()


def test_control_needs_the_token_never_an_api_key(server, client):
    r = requests.get(server.base + "/__mcapi/requests", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["error"]["code"] == "unauthorized"
    # a correctly signed Mimecast call's headers do not open the control plane
    h = client.headers("/__mcapi/requests")
    r = requests.get(server.base + "/__mcapi/requests", headers=h, timeout=10)
    assert r.status_code == 401
    assert "never an API key" in r.json()["error"]["message"]
    r = requests.get(server.base + "/__mcapi/requests",
                     headers={"Authorization": "Bearer " + "x" * 47}, timeout=10)
    assert r.status_code == 401


def test_control_is_off_without_dev(tmp_path):
    s = Server(data_dir=str(tmp_path), args=["--control", "off"]).start()
    try:
        r = requests.get(s.base + "/__mcapi/requests", timeout=10)
        assert r.status_code == 404
        assert "control_token" not in s.creds
    finally:
        assert s.stop() == 0


def test_journal_explains_a_wrong_secret_without_showing_it(server, client, ctl):
    last = ctl("GET", "requests?limit=1").json()["last_id"]
    bad = Client(client.base, client.app_id, client.app_key, client.access_key,
                 "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=")
    r, body = bad.call(ACCOUNT)
    assert r.status_code == 401
    r, body = client.call(ACCOUNT)
    assert r.status_code == 200
    j = ctl("GET", "requests?since=%d" % last)
    assert j.status_code == 200
    calls = j.json()["requests"]
    assert [c["status"] for c in calls] == [401, 200]
    refused, okay = calls
    assert refused["path"] == ACCOUNT and refused["method"] == "POST"
    assert refused["error_code"] == "err_xdk_invalid_signature"
    assert refused["auth_check"] == "signature_mismatch"
    assert refused["user"] is None
    assert okay["error_code"] is None and okay["auth_check"] is None
    assert okay["user"] == server.creds["email"]
    text = j.text
    for secret in (client.secret_key, bad.secret_key, server.creds["password"],
                   client.access_key):
        assert secret not in text
    # since/limit page through it; DELETE empties it
    assert ctl("GET", "requests?since=%d&limit=1" % last).json()["requests"] == [refused]
    assert ctl("GET", "requests?limit=0").status_code == 400
    assert ctl("DELETE", "requests").status_code == 200
    assert ctl("GET", "requests").json()["requests"] == []


def test_journal_names_other_checks(server, client, ctl):
    last = ctl("GET", "requests?limit=1").json()["last_id"]
    client.call(ACCOUNT, x_mc_app_id="no-such-app")
    client.call(ACCOUNT, date="Tue, 24 Nov 2015 12:50:11 UTC")
    calls = ctl("GET", "requests?since=%d" % last).json()["requests"]
    assert [c["auth_check"] for c in calls] == ["app_id_unknown", "date_outside_window"]
    assert calls[0]["error_code"] == "err_developer_key" and calls[0]["status"] == 200


@pytest.mark.parametrize("rule,status,code", [
    ({"status": 503}, 503, "err_xdk_unavailable"),
    ({"status": 500}, 500, "err_xdk_internal"),
    ({"status": 418}, 418, "err_xdk_binding_expired"),
    ({"status": 429, "retry_after": 7}, 429, "err_xdk_rate_limit_exceeded"),
    ({"error": "err_developer_key"}, 200, "err_developer_key"),
])
def test_each_fault_answers_then_disappears_when_deleted(client, ctl, rule, status, code):
    r = ctl("POST", "faults", json=dict(rule, path=ACCOUNT))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert [x["id"] for x in ctl("GET", "faults").json()["rules"]] == [rid]
    r, body = client.call(ACCOUNT)
    assert r.status_code == status
    assert body["fail"][0]["errors"][0]["code"] == code
    if status == 429:
        assert r.headers["Retry-After"] == "7"
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert r.headers["X-RateLimit-Reset"] == "7000"
    if status == 503:
        assert r.headers["Retry-After"] == "1"
    # another path is not touched
    r2, _ = client.call("/api/domain/get-pending-domain")
    assert r2.status_code == 200
    assert ctl("DELETE", "faults/" + rid).status_code == 200
    assert ctl("DELETE", "faults/" + rid).status_code == 404
    r, body = client.call(ACCOUNT)
    assert r.status_code == 200 and body["fail"] == []


def test_fault_count_probability_account_and_journal(server, client, ctl):
    creds = server.creds
    ctl("POST", "faults", json={"path": "/api/account/*", "status": 503, "count": 2})
    statuses = [client.call(ACCOUNT)[0].status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert ctl("GET", "faults").json()["rules"] == []  # used up
    # another account's rule does not touch this one
    ctl("POST", "faults", json={"account": "CNOSUCH1", "status": 500})
    assert client.call(ACCOUNT)[0].status_code == 200
    ctl("DELETE", "faults")
    rid = ctl("POST", "faults", json={"account": creds["account_code"], "status": 500,
                                      "probability": 1.0}).json()["id"]
    assert client.call(ACCOUNT)[0].status_code == 500
    last = ctl("GET", "requests?limit=1000").json()["requests"][-1]
    assert last["fault"] == rid and last["status"] == 500
    ctl("DELETE", "faults")
    # probability: about half of 200 calls (bounds far outside chance)
    ctl("POST", "faults", json={"path": ACCOUNT, "status": 503, "probability": 0.5})
    n = sum(client.call(ACCOUNT)[0].status_code == 503 for _ in range(200))
    assert 40 < n < 160


def test_latency_fault_delays_without_holding_workers(client, ctl):
    ctl("POST", "faults", json={"path": ACCOUNT, "latency_ms": 800})
    t = time.monotonic()
    r, body = client.call(ACCOUNT)
    took = time.monotonic() - t
    assert r.status_code == 200 and body["fail"] == []
    assert took >= 0.75
    # the server's two workers are free meanwhile: a slow call does not hold them
    import threading
    res = []
    ts = [threading.Thread(target=lambda: res.append(client.call(ACCOUNT)[0].status_code))
          for _ in range(6)]
    t = time.monotonic()
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    assert res == [200] * 6
    assert time.monotonic() - t < 3.0  # six 0.8 s delays on two workers would take 2.4 s+
    ctl("DELETE", "faults")
    ctl("POST", "faults", json={"path": ACCOUNT, "latency_ms": 300, "status": 503})
    t = time.monotonic()
    assert client.call(ACCOUNT)[0].status_code == 503
    assert time.monotonic() - t >= 0.25


def test_bad_rules_are_refused(ctl):
    for rule in ({}, {"status": 404}, {"path": "x", "status": 503}, {"probability": 0},
                 {"status": 503, "error": "err_developer_key"}, {"bogus": 1, "status": 503},
                 {"smtp": {"stage": "rcpt", "code": 250}},
                 {"smtp": {"stage": "rcpt", "code": 451}, "status": 503},
                 {"latency_ms": 60001}):
        r = ctl("POST", "faults", json=rule)
        assert r.status_code == 400, rule
        assert r.json()["error"]["code"] in ("invalid_rule",)
    r = ctl("POST", "faults", data="{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert ctl("PUT", "faults").status_code == 405
    assert ctl("GET", "nothing-here").status_code == 404


def test_smtp_fault(server, ctl):
    import smtplib
    ctl("POST", "faults", json={"smtp": {"stage": "rcpt", "code": 451,
                                         "text": "4.3.2 try again later"}, "count": 1})
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("a@example.org")
        code, text = s.rcpt("b@example.net")
        assert code == 451 and b"4.3.2 try again later" in text
        code, _ = s.rcpt("b@example.net")
        assert code != 451  # count 1: used up


def test_minted_accounts_are_separate_and_work(server, ctl):
    r = ctl("POST", "accounts", json={"name": "Suite A", "domain": "Suite-A.example"})
    assert r.status_code == 201, r.text
    a = r.json()
    b = ctl("POST", "accounts").json()
    for k in ("account_code", "app_id", "app_key", "access_key", "secret_key", "email",
              "password"):
        assert a[k] and b[k] and a[k] != b[k], k
    assert a["domain"] == "suite-a.example" and "domain" not in b
    ca = Client(server.base, a["app_id"], a["app_key"], a["access_key"], a["secret_key"])
    r, body = ca.call(ACCOUNT)
    assert r.status_code == 200
    assert body["data"][0]["accountCode"] == a["account_code"]
    r, body = ca.call("/api/domain/get-internal-domain")
    assert [d["domain"] for d in body["data"]] == ["suite-a.example"]
    # the verified domain is taken now
    r = ctl("POST", "accounts", json={"domain": "suite-a.example"})
    assert r.status_code == 409
    assert ctl("POST", "accounts", json={"domain": "not a domain!"}).status_code == 400
