"""Seed files (docs/emulator.md, "Seed files"): --seed FILE writes accounts with
applications, users (passwords, permissions, keys given in the file), domains, groups and
managed senders to an empty store at first start, and POST /__mcapi/reset returns to exactly
that state. Against a real mcapid, on SQLite or (MCAPI_E2E_STORE=postgres) PostgreSQL."""
import base64
import json
import os
import subprocess
import time
import types

import pytest
import requests

from mc import MCAPID, Client, Server, db_rows, store_env

ACCOUNT = "/api/account/get-account"
CREATE_DOMAIN = "/api/domain/create-domain"
PENDING = "/api/domain/get-pending-domain"
INTERNAL = "/api/domain/get-internal-domain"
CREATE_USER = "/api/user/create-user"
USERS = "/api/user/get-internal-users"
FIND_GROUPS = "/api/directory/find-groups"
MEMBERS = "/api/directory/get-group-members"

SECRET = base64.b64encode(b"s" * 32).decode()
SEED = {
    "accounts": [{
        "name": "Acme Seeded",
        "code": "CSEEDACME1",
        "domains": [{"name": "Acme.Example"},
                    {"name": "pending.acme.example", "verified": False,
                     "token": "mcapi-verify-seeded-token"}],
        "applications": [{"name": "CI", "app_id": "11111111-2222-3333-4444-555555555555",
                          "app_key": "66666666-7777-8888-9999-000000000000"}],
        "users": [
            {"email": "Admin@acme.example", "name": "Acme Admin", "password": "correct horse",
             "permissions": "admin",
             "keys": [{"access_key": "seeded-access-key-0123456789", "secret_key": SECRET}]},
            {"email": "ann@acme.example", "name": "Ann Seed"},
        ],
        "groups": [{"name": "Finance", "members": ["ann@acme.example", "partner.example"]},
                   {"name": "Payables", "parent": "Finance"}],
        "policies": [{"sender": "spam@bad.example", "to": "ann@acme.example",
                      "action": "block"}],
    }],
    "messages": [{"file": "hello.eml", "from": "friend@outside.example",
                  "to": ["ann@acme.example"]}],
}
HELLO = ("From: Friend <friend@outside.example>\nTo: <ann@acme.example>\n"
         "Subject: Seeded hello\nMessage-ID: <seeded-1@outside.example>\n\nHello Ann.\n")


def seeded_messages(server):
    return db_rows(server, "SELECT subject, processed FROM messages WHERE subject = ?",
                   ("Seeded hello",))


def seeded_client(server):
    a = SEED["accounts"][0]
    return Client(server.base, a["applications"][0]["app_id"], a["applications"][0]["app_key"],
                  "seeded-access-key-0123456789", SECRET)


def control(server):
    deadline = time.monotonic() + 10
    while "control_token" not in server.creds and time.monotonic() < deadline:
        time.sleep(0.02)
    sess = requests.Session()
    sess.headers["Authorization"] = "Bearer " + server.creds["control_token"]
    return lambda method, path, **kw: sess.request(method, server.base + "/__mcapi/" + path,
                                                   timeout=60, **kw)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeded")
    seed = d / "seed.json"
    seed.write_text(json.dumps(SEED))
    (d / "hello.eml").write_text(HELLO)
    s = Server(data_dir=str(d), args=["--seed", str(seed), "--auth-cache-ms", "0",
                                      "--list-cache-ms", "0"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


def ok(client, uri, data=None):
    r, b = client.call(uri, data)
    assert r.status_code == 200 and b["fail"] == [], (uri, r.text)
    return b


def test_the_seed_is_there_with_the_keys_it_gave(server):
    c = seeded_client(server)
    acct = ok(c, ACCOUNT)["data"][0]
    assert acct["accountCode"] == "CSEEDACME1" and acct["accountName"] == "Acme Seeded"
    assert [d["domain"] for d in ok(c, INTERNAL)["data"]] == ["acme.example"]
    pending = ok(c, PENDING)["data"]
    assert [(d["domain"], d["token"]) for d in pending] == [
        ("pending.acme.example", "mcapi-verify-seeded-token")]
    users = ok(c, USERS)["data"][0]["users"]
    assert sorted(u["emailAddress"] for u in users) == ["admin@acme.example", "ann@acme.example"]
    groups = ok(c, FIND_GROUPS)["data"][0]["folders"]
    names = {g["description"]: g for g in groups}
    assert set(names) == {"Finance", "Payables"}
    assert names["Payables"]["parentId"] == names["Finance"]["id"]
    members = ok(c, MEMBERS, [{"id": names["Finance"]["id"]}])["data"][0]["groupMembers"]
    assert sorted(m.get("emailAddress") or m.get("domain") for m in members) == [
        "ann@acme.example", "partner.example"]
    # the password logs in (the first user is an administrator)
    h = {"x-mc-app-id": SEED["accounts"][0]["applications"][0]["app_id"],
         "Authorization": "Basic-Cloud " + base64.b64encode(
             b"admin@acme.example:correct horse").decode()}
    r = requests.post(server.base + "/api/login/login", headers=h, timeout=30,
                      data=json.dumps({"data": [{"username": "admin@acme.example"}]}))
    assert r.status_code == 200 and r.json()["fail"] == [], r.text
    # and the --dev account is there as well
    ok(server.client(), ACCOUNT)
    # the message went through the gateway and its process stage before start-up ended
    assert seeded_messages(server) == [("Seeded hello", 1)]


def test_reset_returns_to_the_seed(server):
    ctl = control(server)
    c = seeded_client(server)
    ok(c, CREATE_DOMAIN, [{"domain": "later.example", "inboundType": "any"}])
    ok(c, CREATE_USER, [{"emailAddress": "late@acme.example", "name": "Late"}])
    r = ctl("POST", "reset")
    assert r.status_code == 200, r.text
    assert [d["domain"] for d in ok(c, PENDING)["data"]] == ["pending.acme.example"]
    users = ok(c, USERS)["data"][0]["users"]
    assert sorted(u["emailAddress"] for u in users) == ["admin@acme.example", "ann@acme.example"]
    ok(server.client(), ACCOUNT)  # the dev credentials still work
    assert seeded_messages(server) == [("Seeded hello", 1)]


def test_the_seed_is_written_once(server):
    """A restart finds the store not empty and leaves it alone (no duplicates, no error)."""
    c = seeded_client(server)
    ok(c, CREATE_DOMAIN, [{"domain": "kept.example", "inboundType": "any"}])
    server.stop()
    server.start()
    assert sorted(d["domain"] for d in ok(c, PENDING)["data"]) == [
        "kept.example", "pending.acme.example"]
    control(server)("POST", "reset")


@pytest.mark.parametrize("change, message", [
    (lambda s: s["accounts"][0]["users"][0].update(email="not-an-address"),
     "accounts[0].users[0]: 'email' is not an address"),
    (lambda s: s["accounts"][0]["users"][0]["keys"][0].update(secret_key="short"),
     "accounts[0].users[0].keys[0]: 'secret_key' must be base64"),
    (lambda s: s["accounts"][0]["groups"][1].update(parent="Nobody"),
     "accounts[0].groups[1]: 'parent' names no group"),
    (lambda s: s["accounts"][0].update(colour="red"),
     "accounts[0]: unknown member 'colour'"),
    (lambda s: s["messages"][0].update(file="missing.eml"),
     "messages[0]: cannot read"),
])
def test_a_bad_seed_stops_the_start_and_writes_nothing(tmp_path, change, message):
    seed = json.loads(json.dumps(SEED))
    change(seed)
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    (tmp_path / "hello.eml").write_text(HELLO)
    env = dict(os.environ, **store_env(str(tmp_path)))
    p = subprocess.run([MCAPID, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                        "--seed", str(path), "--smtp-listen", "off"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    # one transaction: no account of the file was written
    assert db_rows(types.SimpleNamespace(data_dir=str(tmp_path)),
                   "SELECT count(*) FROM accounts")[0][0] == 0


def test_a_message_the_gateway_refuses_stops_the_start(tmp_path):
    seed = json.loads(json.dumps(SEED))
    seed["messages"][0]["to"] = ["someone@elsewhere.example"]  # relaying is denied
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    (tmp_path / "hello.eml").write_text(HELLO)
    env = dict(os.environ, **store_env(str(tmp_path)))
    p = subprocess.run([MCAPID, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path),
                        "--seed", str(path), "--smtp-listen", "off"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode != 0
    assert "messages[0]: the gateway answered 550" in p.stderr, p.stderr
