"""Two mcapid nodes on one PostgreSQL database (docs/postgres.md, docs/policies.md,
docs/gateway.md): node A is started as usual, node B gets a data dir of its own but A's DSN and
A's server key file (--key-file). They act as one (API.md §15): a request A ran is a replay on
B; a user's rate-limit bucket and a client IP's counter are one for both; a logout on A is
refused by B on the very next call with the default caches on (LISTEN/NOTIFY); concurrent wrong
passwords spread over both never check more passwords than the lock-out allows. A
blocked-sender policy made through A's API is enforced by B's very next SMTP transaction (550
in the session), and a message B accepts is found through A's message-finder search. Runs only
with MCAPI_E2E_STORE=postgres: two processes sharing one SQLite file is not a supported
deployment."""
import concurrent.futures
import os
import tempfile

import pytest

import mc
from mc import Server
from test_gateway import last_reply, search, swaks, unbound, verified, wait_for  # noqa: F401
from test_login import login, new_user

pytestmark = pytest.mark.skipif(not mc.PG, reason="needs MCAPI_E2E_STORE=postgres")

URI = "/api/account/get-account"


def start_pair(tmp_path_factory, args, smtp=False):
    def mail(name):
        return ["--maildir-root", str(tmp_path_factory.mktemp(name))] if smtp else []
    a = Server(smtp=smtp, args=args + mail("mail_a"))
    a.start()
    dsn = mc.store_env(a.data_dir)["MCAPID_PG_DSN"]
    b_dir = tempfile.mkdtemp(prefix="mcapid-b-")
    # B's own data dir, A's database and key: the env given to B wins over store_env(b_dir)
    b = Server(data_dir=b_dir, smtp=smtp,
               args=args + mail("mail_b") + ["--key-file", os.path.join(a.data_dir, "server.key")],
               env={"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": dsn})
    try:
        b.start()
    except Exception:
        a.stop()
        raise
    # B really runs on A's database and key: nothing of its own was created
    assert not os.path.exists(os.path.join(b_dir, "mcapid.db"))
    assert not os.path.exists(os.path.join(b_dir, "server.key"))
    assert not os.path.exists(os.path.join(b_dir, "dev-credentials.json"))
    return a, b


def stop_pair(a, b):
    try:
        assert b.stop() == 0, b.read_log()
    finally:
        assert a.stop() == 0, a.read_log()


@pytest.fixture(scope="module")
def nodes(unbound, tmp_path_factory):
    a, b = start_pair(tmp_path_factory, ["--dns-servers", "127.0.0.1:%d" % unbound,
                                         "--retry-min", "1", "--retry-max", "2",
                                         "--ip-limit", "100000"], smtp=True)
    yield a, b
    stop_pair(a, b)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Two nodes with a user limit of 5 calls (one back a minute) and 8 calls a minute per
    client IP."""
    a, b = start_pair(tmp_path_factory, ["--rate-limit", "5", "--rate-refill-ms", "60000",
                                         "--ip-limit", "8"])
    yield a, b
    stop_pair(a, b)


@pytest.fixture(scope="module")
def leasing(tmp_path_factory):
    """Two nodes with a user limit of 64 calls (none back for 10 minutes): a busy node may
    lease 4 (64/16) of them at a time (docs/postgres.md, Rate-limit leases)."""
    a, b = start_pair(tmp_path_factory, ["--rate-limit", "64", "--rate-refill-ms", "600000",
                                         "--ip-limit", "100000", "--pg-gate-lease", "256"])
    yield a, b
    stop_pair(a, b)


def on(node, client):
    """The same client (application and binding) talking to another node."""
    return mc.Client(node.base, client.app_id, client.app_key, client.access_key,
                     client.secret_key)


_n = [0]


def new_client(node, perms="admin"):
    _n[0] += 1
    email = "nodes%d@dev.mcapi.local" % _n[0]
    node.admin("user", "create", "--account", node.creds["account_code"], "--email", email,
               "--perms", perms)
    k = node.admin_json("keys", "create", "--email", email, "--app-id", node.creds["app_id"])
    return node.client(access_key=k["access_key"], secret_key=k["secret_key"])


def code(r):
    return r.json()["fail"][0]["errors"][0]["code"]


def test_a_request_run_by_a_is_a_replay_on_b(nodes):
    a, b = nodes
    ca = new_client(a)
    cb = on(b, ca)
    h = ca.headers(URI)
    assert ca.post(URI, headers=h).status_code == 200
    r = cb.post(URI, headers=h)
    assert r.status_code == 401 and code(r) == "err_xdk_request_replayed", r.text
    # the case: a replayed create-domain does not bring a deleted domain back
    uri = "/api/domain/create-domain"
    body = '{"data":[{"domain":"replayed-once.test","inboundType":"any"}]}'
    h = ca.headers(uri)
    r = ca.post(uri, raw=body, headers=h)
    assert r.status_code == 200 and r.json()["data"], r.text
    r, out = ca.call("/api/domain/delete-pending-domain", [{"domain": "replayed-once.test"}])
    assert r.status_code == 200 and not out["fail"], out
    r = cb.post(uri, raw=body, headers=h)
    assert r.status_code == 401 and code(r) == "err_xdk_request_replayed", r.text
    r, out = cb.call("/api/domain/get-pending-domain")
    assert all(d.get("domain") != "replayed-once.test" for d in out["data"]), out
    # a call refused before it ran (403) leaves its id free on every node
    weak = new_client(a, perms="dir.internal.read")
    h = weak.headers(URI)
    assert weak.post(URI, headers=h).status_code == 403
    assert on(b, weak).post(URI, headers=h).status_code == 403


def test_a_limit_drained_on_a_leaves_b_empty(limited):
    a, b = limited
    ca = new_client(a)
    cb = on(b, ca)
    for i in range(5):
        r = (ca if i % 2 else cb).post(URI)
        assert r.status_code == 200, r.text
        assert r.headers["X-RateLimit-Remaining"] == str(4 - i)
    for c in (ca, cb):
        r = c.post(URI)
        assert r.status_code == 429 and code(r) == "err_xdk_rate_limit_exceeded", r.text
        assert r.headers["X-RateLimit-Remaining"] == "0"
        assert 0 < int(r.headers["X-RateLimit-Reset"]) <= 60000
    # another user is not affected
    assert on(b, new_client(a)).post(URI).status_code == 200


def test_leases_never_let_two_busy_nodes_pass_the_limit(leasing):
    a, b = leasing
    ca = new_client(a)
    clients = [on(a, ca), on(b, ca)] * 8

    def call(i):
        return clients[i % len(clients)].post(URI).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(call, range(160)))
    # then each node's rest, if it holds leased calls (at most one lease: 4)
    for c in (on(a, ca), on(b, ca)):
        got += [c.post(URI).status_code for _ in range(5)]
        assert got[-1] == 429
    assert set(got) <= {200, 429}, got
    # never more than the limit over both nodes; fewer only by leased calls dropped unused
    # (a lease lasts 1 s)
    assert 64 - 2 * 4 <= got.count(200) <= 64, got.count(200)


def test_the_per_ip_limit_is_one_for_both(limited):
    a, b = limited
    app = a.creds["app_id"]
    codes = []
    for i in range(12):  # unauthenticated: every login counts against the client IP
        r = login(a if i % 2 else b, "ip-limit@dev.mcapi.local", "wrong", app_id=app)
        codes.append(r.status_code)
    # 8 a minute in all, not 8 per node (6 each would all pass); one may come back meanwhile
    assert codes.count(429) >= 2, codes


def test_logout_on_a_is_refused_by_b_on_the_next_call(nodes):
    a, b = nodes
    for _ in range(3):  # not a lucky timing: several rounds
        ca = new_client(a)
        cb = on(b, ca)
        assert cb.post(URI).status_code == 200  # B caches the binding (auth_cache_ms 1000)
        r, out = ca.call("/api/login/logout")
        assert r.status_code == 200, out
        r = cb.post(URI)
        assert r.status_code == 418 and code(r) == "err_xdk_binding_expired", r.text
    # a key revoked by the operator (mcapid admin, outside both nodes) likewise
    ca = new_client(a)
    cb = on(b, ca)
    assert cb.post(URI).status_code == 200
    a.admin("keys", "revoke", "--access-key", ca.access_key)
    r = cb.post(URI)
    assert r.status_code == 418, r.text


def test_concurrent_wrong_passwords_never_exceed_the_lockout(nodes):
    a, b = nodes
    app = a.creds["app_id"]
    email, pw = new_user(a, "lockrace@dev.mcapi.local")
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as ex:
        rs = list(ex.map(lambda i: login(a if i % 2 else b, email, "wrong-%d" % i, app_id=app),
                         range(12)))
    codes = [code(r) for r in rs]
    assert codes.count("err_xdk_authentication_failed") <= 5, codes
    assert codes.count("err_xdk_authentication_failed") + \
        codes.count("err_xdk_account_locked") == 12, codes
    # a correct password after the lock is refused on both nodes
    for node in (a, b):
        r = login(node, email, pw, app_id=app)
        assert r.status_code == 401 and code(r) == "err_xdk_account_locked", r.text


def refused_550(p):
    return any(x.startswith("<** 550") for x in last_reply(p))


def test_policy_made_on_a_is_enforced_by_b_at_once(nodes):
    a, b = nodes
    client = a.client()
    d = verified(a, client, "twonodes.test")
    # B knows the domain A verified and accepts the sender before the policy exists
    p = swaks(b, "frank@" + d, sender="villain@evil.example")
    assert p.returncode == 0, p.stdout + b.read_log()
    r, body = client.call("/api/policy/blockedsenders/create-policy", [{
        "option": "block_sender",
        "policy": {"description": "no villains", "fromPart": "envelope_from",
                   "fromType": "individual_email_address", "fromValue": "villain@evil.example",
                   "toType": "everyone"}}])
    assert r.status_code == 200 and body["data"], body
    pid = body["data"][0]["id"]
    # the very next transaction on B is refused
    p = swaks(b, "frank@" + d, sender="villain@evil.example")
    assert p.returncode != 0 and refused_550(p), p.stdout
    # a managed block made through A acts on B just as fast
    r, body = client.call("/api/managedsender/permit-or-block-sender",
                          [{"sender": "pest@pests.example", "to": "gina@" + d, "action": "block"}])
    assert body["data"] and not body["fail"], body
    assert refused_550(swaks(b, "gina@" + d, sender="pest@pests.example"))
    # deleting the policy on A lets the sender in on B's next transaction
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": pid}])
    assert swaks(b, "frank@" + d, sender="villain@evil.example").returncode == 0


def test_message_accepted_by_b_is_found_through_a(nodes):
    a, b = nodes
    client = a.client()
    d = verified(a, client, "twonodes2.test")
    p = swaks(b, "ivy@" + d, sender="someone@elsewhere.example")
    assert p.returncode == 0, p.stdout
    found = wait_for(lambda: search(client, to="ivy@" + d, **{"from": "someone@elsewhere.example"}))
    assert len(found) == 1, found
    assert found[0]["status"] != "rejected", found
    # and B's refusal shows up on A too
    client.call("/api/managedsender/permit-or-block-sender",
                [{"sender": "spam@elsewhere.example", "to": "ivy@" + d, "action": "block"}])
    assert refused_550(swaks(b, "ivy@" + d, sender="spam@elsewhere.example"))
    rej = wait_for(lambda: [m for m in search(client, to="ivy@" + d,
                                              **{"from": "spam@elsewhere.example"})
                            if m["status"] == "rejected"])
    assert rej


def test_a_held_message_is_released_once_over_both_nodes(nodes, tmp_path):
    from msgapi import inject, make_internal
    from test_hold_api import RELEASE, held
    a, b = nodes
    ca = a.client()
    cb = on(b, ca)
    make_internal(a, ca, "holdtwo.example")
    inject(a, tmp_path, "sender@outside.example", ["dora@holdtwo.example"], "held on two nodes",
           test="hold")
    item = wait_for(lambda: [i for i in held(cb)["data"] if i["subject"] == "held on two nodes"])
    mid = item[0]["id"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        outs = list(ex.map(lambda c: c.call(RELEASE, [{"id": mid}])[1], [ca, cb, ca, cb]))
    released = [o for o in outs if o["data"] == [{"id": mid, "release": True}]]
    refused = [o for o in outs if o["fail"] and
               o["fail"][0]["errors"][0]["code"] == "err_hold_message_not_held"]
    assert len(released) == 1 and len(refused) == 3, outs
