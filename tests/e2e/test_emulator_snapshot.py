"""Snapshots and reset of the emulator's control plane (docs/emulator.md): GET/PUT
/__mcapi/snapshot export and import the whole store as one JSON document, POST /__mcapi/reset
returns to the state the server had when it finished starting. Against a real mcapid, on
SQLite or (MCAPI_E2E_STORE=postgres) PostgreSQL."""
import json
import os
import shutil
import time

import pytest
import requests

from mc import PG, Client, Server, db_rows

ACCOUNT = "/api/account/get-account"
CREATE_DOMAIN = "/api/domain/create-domain"
PENDING = "/api/domain/get-pending-domain"
INTERNAL = "/api/domain/get-internal-domain"
CREATE_USER = "/api/user/create-user"
USERS = "/api/user/get-internal-users"
CREATE_GROUP = "/api/directory/create-group"
FIND_GROUPS = "/api/directory/find-groups"
ADD_MEMBER = "/api/directory/add-group-member"
MANAGED_SENDER = "/api/managedsender/permit-or-block-sender"
GET_POLICY = "/api/policy/blockedsenders/get-policy"
AUDIT = "/api/audit/get-audit-events"


# get-account shows the account as authentication cached it (auth_cache_ms): with the cache
# off, "the same answers" compares the store's state, not how old a cached copy was
NO_CACHE = ["--auth-cache-ms", "0", "--list-cache-ms", "0"]


@pytest.fixture(scope="module")
def server():
    s = Server(args=NO_CACHE).start()
    yield s
    assert s.stop() == 0, s.read_log()


def control(server):
    # the credentials file gets the token once the server listens, a moment after /healthz
    deadline = time.monotonic() + 10
    while "control_token" not in server.creds and time.monotonic() < deadline:
        time.sleep(0.02)
    sess = requests.Session()
    sess.headers["Authorization"] = "Bearer " + server.creds["control_token"]

    def call(method, path, **kw):
        return sess.request(method, server.base + "/__mcapi/" + path, timeout=60, **kw)

    return call


@pytest.fixture(scope="module")
def ctl(server):
    return control(server)


@pytest.fixture(autouse=True)
def start_state(ctl):
    """Every test begins, and leaves, the store as the server started."""
    assert ctl("POST", "reset").status_code == 200
    yield
    ctl("POST", "reset")


def mint(ctl, server, domain):
    r = ctl("POST", "accounts", json={"name": "Snap " + domain, "domain": domain})
    assert r.status_code == 201, r.text
    c = r.json()
    return c, Client(server.base, c["app_id"], c["app_key"], c["access_key"], c["secret_key"])


def ok(client, uri, data=None):
    r, b = client.call(uri, data)
    assert r.status_code == 200 and b["fail"] == [], (uri, r.text)
    return b


def answers(clients):
    """What a fixed set of read calls answers, per client (compared before and after)."""
    out = []
    for c in clients:
        for uri, data in ((ACCOUNT, None), (PENDING, None), (INTERNAL, None), (USERS, None),
                          (FIND_GROUPS, None), (GET_POLICY, None)):
            r, b = c.call(uri, data)
            out.append((uri, r.status_code, b))
    return out


def test_reset_restores_the_start_state_fast(server, ctl):
    dev = server.client()
    before = answers([dev])
    ok(dev, CREATE_DOMAIN, [{"domain": "after-start.example", "inboundType": "any"}, {"domain": "second.example", "inboundType": "any"}])
    creds, other = mint(ctl, server, "minted.example")
    ok(other, CREATE_USER, [{"emailAddress": "someone@minted.example", "name": "Some One"}])
    assert answers([dev]) != before
    assert ctl("POST", "faults", json={"path": "/api/nothing", "status": 500}).status_code == 201
    assert ctl("GET", "requests").json()["requests"]

    t0 = time.monotonic()
    r = ctl("POST", "reset")
    took = time.monotonic() - t0
    print("reset took %.1f ms (server: %d ms)" % (took * 1000, r.json()["ms"]))
    assert r.status_code == 200 and r.json()["reset"] is True, r.text
    assert took < 1.0
    # the journal and the fault rules start empty
    assert ctl("GET", "faults").json()["rules"] == []
    assert ctl("GET", "requests").json()["requests"] == []

    # the start-up state is back, the dev credentials work as before
    assert answers([dev]) == before
    # what came after start is gone: the minted account's key no longer signs
    r, b = other.call(ACCOUNT)
    assert b["fail"][0]["errors"][0]["code"] == "err_developer_key", r.text


def test_snapshot_then_changes_then_import_answers_the_same(server, ctl):
    dev = server.client()
    creds, other = mint(ctl, server, "snap.example")
    ok(other, CREATE_USER, [{"emailAddress": "ann@snap.example", "name": "Ann Example"},
                            {"emailAddress": "bob@snap.example", "name": "Bob Example"}])
    ok(other, CREATE_DOMAIN, [{"domain": "pending-snap.example", "inboundType": "any"}])
    g = ok(other, CREATE_GROUP, [{"description": "Snap Team"}])["data"][0]
    ok(other, ADD_MEMBER, [{"id": g["id"], "emailAddress": "ann@snap.example"}])
    ok(other, MANAGED_SENDER, [{"sender": "spam@bad.example", "to": "ann@snap.example",
                                "action": "block"}])
    before = answers([dev, other])

    r = ctl("GET", "snapshot")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["format"] == "mcapid-snapshot" and doc["schema_version"] >= 13
    users = doc["tables"]["users"]
    assert "domain" not in users["columns"]  # generated, not state
    # secrets are in it sealed, never in clear
    text = r.text
    for secret in (creds["app_key"], creds["secret_key"], creds["password"]):
        assert secret not in text
    apps = doc["tables"]["applications"]
    key_col = apps["columns"].index("app_key")
    assert all(set(row[key_col]) == {"base64"} for row in apps["rows"])

    # changes of every kind
    ok(other, CREATE_USER, [{"emailAddress": "carl@snap.example", "name": "Carl"}])
    ok(other, CREATE_DOMAIN, [{"domain": "later.example", "inboundType": "any"}])
    later = ok(other, CREATE_GROUP, [{"description": "Later Group"}])["data"][0]
    ok(dev, CREATE_DOMAIN, [{"domain": "dev-later.example", "inboundType": "any"}])
    assert answers([dev, other]) != before

    r = ctl("PUT", "snapshot", data=text)
    assert r.status_code == 200 and r.json()["imported"] is True, r.text
    after = answers([dev, other])
    for x, y in zip(after, before):
        assert x == y
    # the same document exports again (apart from its time and its fresh key check)
    again = ctl("GET", "snapshot").json()
    assert again["tables"] == doc["tables"]
    # an id handed out after the snapshot is not handed out again after the import
    new = ok(other, CREATE_GROUP, [{"description": "After Import"}])["data"][0]
    assert new["id"] not in (g["id"], later["id"])


def test_snapshot_lists_every_table_of_the_store(server, ctl):
    doc = ctl("GET", "snapshot").json()
    if PG:
        tables = {r[0] for r in db_rows(
            server, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    else:
        tables = {r[0] for r in db_rows(
            server, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    left_out = {"schema_migrations", "store_meta", "replay_ids", "rl_buckets", "cache_gen",
                "sqlite_sequence"}
    assert set(doc["tables"]) == tables - left_out
    assert list(doc["tables"])[0] == "accounts"  # parents first
    n = db_rows(server, "SELECT count(*) FROM audit_events")[0][0]
    assert len(doc["tables"]["audit_events"]["rows"]) == n


def test_import_refuses_what_is_not_a_snapshot_of_this_server(server, ctl):
    dev = server.client()
    doc = ctl("GET", "snapshot").json()
    before = answers([dev])

    def put(d):
        return ctl("PUT", "snapshot", data=json.dumps(d) if not isinstance(d, str) else d)

    r = put("not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_snapshot"
    other_schema = dict(doc, schema_version=doc["schema_version"] + 1)
    r = put(other_schema)
    assert r.status_code == 409 and r.json()["error"]["code"] == "schema_mismatch", r.text
    wrong_key = dict(doc, key_check={"base64": "AAAA" + doc["key_check"]["base64"][4:]})
    r = put(wrong_key)
    assert r.status_code == 409 and r.json()["error"]["code"] == "key_mismatch", r.text
    missing = dict(doc, tables={k: v for k, v in doc["tables"].items() if k != "users"})
    r = put(missing)
    assert r.status_code == 400 and "users" in r.json()["error"]["message"]
    bad_col = json.loads(json.dumps(doc))
    bad_col["tables"]["domains"]["columns"][1] = "no_such_column"
    r = put(bad_col)
    assert r.status_code == 400, r.text
    # a row that breaks a constraint: the import is undone as a whole
    dup = json.loads(json.dumps(doc))
    rows = dup["tables"]["accounts"]["rows"]
    rows.append(list(rows[0]))
    r = put(dup)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_snapshot", r.text
    assert answers([dev]) == before
    r = ctl("PATCH", "snapshot")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, PUT"
    r = ctl("GET", "reset")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_snapshot_and_reset_need_the_control_token(server):
    dev = server.client()
    for method, path in (("GET", "snapshot"), ("PUT", "snapshot"), ("POST", "reset")):
        h = dev.headers("/__mcapi/" + path)  # a correctly signed Mimecast call's headers
        r = requests.request(method, server.base + "/__mcapi/" + path, headers=h, data="{}",
                             timeout=10)
        assert r.status_code == 401, r.text
        assert "never an API key" in r.json()["error"]["message"]


def test_a_snapshot_moves_to_a_server_with_the_same_key(server, ctl, tmp_path):
    creds, other = mint(ctl, server, "moving.example")
    ok(other, CREATE_DOMAIN, [{"domain": "moving-pending.example", "inboundType": "any"}])
    text = ctl("GET", "snapshot").text
    before = answers([server.client(), other])

    # another server key: refused, nothing changed
    (tmp_path / "stranger").mkdir()
    stranger = Server(data_dir=str(tmp_path / "stranger"), args=NO_CACHE).start()
    try:
        r = control(stranger)("PUT", "snapshot", data=text)
        assert r.status_code == 409 and r.json()["error"]["code"] == "key_mismatch", r.text
    finally:
        assert stranger.stop() == 0
    # the same server key (another store): the same answers to the same credentials
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    shutil.copy(os.path.join(server.data_dir, "server.key"), twin_dir / "server.key")
    # on a PostgreSQL run the twin is on SQLite: the document is the same for both backends
    twin = Server(data_dir=str(twin_dir), args=NO_CACHE,
                  env={"MCAPID_STORE": "sqlite"} if PG else None).start()
    try:
        assert (twin_dir / "mcapid.db").exists()
        r = control(twin)("PUT", "snapshot", data=text)
        assert r.status_code == 200, r.text
        moved = [Client(twin.base, c.app_id, c.app_key, c.access_key, c.secret_key)
                 for c in (server.client(), other)]
        assert answers(moved) == before
        ok(moved[1], CREATE_DOMAIN, [{"domain": "made-on-twin.example", "inboundType": "any"}])
        back = control(twin)("GET", "snapshot").text
    finally:
        assert twin.stop() == 0
    # and back: the twin's state (with its change) imports here
    assert ctl("PUT", "snapshot", data=back).status_code == 200
    names = [d["domain"] for d in ok(other, PENDING)["data"]]
    assert sorted(names) == ["made-on-twin.example", "moving-pending.example"]


def test_reset_refills_the_rate_limit_buckets(tmp_path):
    """A test starts afresh after a reset: a bucket drained before it is full again (user ids
    may be handed out again after a reset, and a drained bucket must not outlive its state);
    the replay set is kept, so a request that ran still cannot run again."""
    s = Server(data_dir=str(tmp_path),
               args=NO_CACHE + ["--rate-limit", "3", "--rate-refill-ms", "600000"]).start()
    try:
        c, dev = control(s), s.client()
        for _ in range(3):
            assert dev.call(ACCOUNT)[0].status_code == 200
        r, _ = dev.call(ACCOUNT)
        assert r.status_code == 429
        h = dev.headers(ACCOUNT)  # ran below, before the reset
        assert dev.post(ACCOUNT, headers=h).status_code == 429  # refused: its id stays free
        assert c("POST", "reset").status_code == 200
        r = dev.post(ACCOUNT, headers=h)
        assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "2"
        r = dev.post(ACCOUNT, headers=h)  # the same request again: a replay, reset or not
        assert r.status_code == 401
        assert r.json()["fail"][0]["errors"][0]["code"] == "err_xdk_request_replayed"
    finally:
        assert s.stop() == 0, s.read_log()
