"""The directory end to end (API.md §17, docs/directory.md): get-internal-users in the shape of
the real JupiterOne recordings with keyset pages, create-user and update-user (audited, and a
user created through the API receives mail at once on a `known` domain, over real SMTP with
swaks), and profile groups: find-groups in the shape of the real rapid7 recording with pages,
create-group with nesting, add/remove-group-member with the real error codes, get-group-members,
audit rows and permissions."""
import json
import os
import subprocess
import uuid

import pytest

import dnsserver
import mc
from mc import Server

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures")
USERS = "/api/user/get-internal-users"
CREATE_USER = "/api/user/create-user"
UPDATE_USER = "/api/user/update-user"
FIND = "/api/directory/find-groups"
MEMBERS = "/api/directory/get-group-members"
CREATE_GROUP = "/api/directory/create-group"
ADD = "/api/directory/add-group-member"
REMOVE = "/api/directory/remove-group-member"


def fixture(*path):
    p = os.path.join(FIX, *path)
    if not os.path.exists(p):
        pytest.skip("fixture %s not present" % p)
    return p


def har_users_page():
    """The first get-internal-users answer with a next page in the real multi-page recording."""
    with open(fixture("jupiterone-graph-mimecast", "history-6bbd45c",
                      "fetchUsersShouldCollectData_357354744", "recording.har")) as f:
        har = json.load(f)
    for e in har["log"]["entries"]:
        if e["request"]["url"].endswith(USERS):
            body = json.loads(e["response"]["content"]["text"])
            if "next" in body["meta"]["pagination"]:
                return body
    raise AssertionError("no get-internal-users entry")


def rapid7(name):
    with open(fixture("rapid7-insightconnect", "responses", name)) as f:
        return json.load(f)


def shape(v):
    """Field names, order and JSON types, recursively (first element of lists)."""
    if isinstance(v, dict):
        return [(k, shape(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


@pytest.fixture(scope="module")
def unbound():
    port = dnsserver.start_unbound(zones=("test.",))
    yield port
    dnsserver.stop_unbound(port)


@pytest.fixture(scope="module")
def gw(unbound, tmp_path_factory):
    maildir = str(tmp_path_factory.mktemp("mail"))
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % unbound,
                                "--maildir-root", maildir])
    s.maildir = maildir
    s.start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(gw):
    return gw.client()


def verified(client, name, inbound="any"):
    r, body = client.call("/api/domain/create-domain", [{"domain": name, "inboundType": inbound}])
    assert r.status_code == 200 and body["data"], body
    token = body["data"][0].get("token")
    if token:
        dnsserver.unbound_add_txt(name, token)
        r, body = client.call("/api/domain/verify-domain", [{"domain": name}])
        assert body["data"] and not body["fail"], body
    return name


def errors(body):
    return [(e["code"], e.get("field")) for f in body["fail"] for e in f["errors"]]


def audit(gw, like):
    return mc.db_rows(gw, "SELECT audit_type, category, user_name, info FROM audit_events "
                          "WHERE info LIKE ? ORDER BY id", ("%" + like + "%",))


def ok(client, uri, data=None, meta=None):
    r, b = client.call(uri, data, meta)
    assert r.status_code == 200 and b["fail"] == [], b
    return b


# ---- users ----

def test_users_shape_pages_and_counts(gw, client):
    d = verified(client, "people.test")
    names = ["abuse", "austin.kelleher", "chris.elias", "max.daum", "postmaster", "sam"]
    for n in reversed(names):
        ok(client, CREATE_USER, [{"emailAddress": n + "@" + d, "name": n.title()}])
    real = har_users_page()
    b = ok(client, USERS, [{"domain": d}], {"pagination": {"pageSize": 2}})
    assert shape(b["data"]) == shape(real["data"])
    assert shape(b["data"][0]["users"][0]) == shape(real["data"][0]["users"][0])
    assert list(b["meta"]["pagination"]) == list(real["meta"]["pagination"])[:3]
    assert b["meta"]["pagination"]["pageSize"] == 2
    assert b["meta"]["pagination"]["totalCount"] == 6 and b["data"][0]["userCount"] == 6
    u = b["data"][0]["users"][0]
    assert u == {"name": "Abuse", "emailAddress": "abuse@" + d, "domain": d, "alias": False,
                 "addressType": "created_manually", "source": "cloud"}
    got = [x["emailAddress"] for x in b["data"][0]["users"]]
    pages = 1
    while b["meta"]["pagination"].get("next"):
        b = ok(client, USERS, [{"domain": d}],
               {"pagination": {"pageSize": 2, "pageToken": b["meta"]["pagination"]["next"]}})
        got += [x["emailAddress"] for x in b["data"][0]["users"]]
        pages += 1
    assert pages == 3 and got == [n + "@" + d for n in names]
    # a token continues without data (§8); a forged one is refused
    b = ok(client, USERS, [{"domain": d}], {"pagination": {"pageSize": 5}})
    b2 = ok(client, USERS, None, {"pagination": {"pageToken": b["meta"]["pagination"]["next"]}})
    assert [x["emailAddress"] for x in b2["data"][0]["users"]] == ["sam@" + d]
    r, bad = client.call(USERS, None, {"pagination": {"pageToken": "forged"}})
    assert errors(bad) == [("err_validation_invalid_value", "pageToken")]
    # no domain: every user of the account, the API's own user among them
    b = ok(client, USERS)
    all_users = [x["emailAddress"] for x in b["data"][0]["users"]]
    assert gw.creds["email"] in all_users if "email" in gw.creds else True
    assert set(n + "@" + d for n in names) <= set(all_users)
    assert all_users == sorted(all_users)


def test_create_user_errors_and_audit(gw, client):
    d = verified(client, "make.test")
    b = ok(client, CREATE_USER, [{"emailAddress": "New.Person@MAKE.test", "name": "New Person",
                                  "password": "a long enough password 1"}])
    item = b["data"][0]
    assert item["emailAddress"] == "new.person@" + d and item["name"] == "New Person"
    assert len(item["id"]) == 22
    r, b = client.call(CREATE_USER, [
        {"emailAddress": "new.person@" + d},
        {"emailAddress": "someone@not-ours.test"},
        {"emailAddress": "no-at-sign"},
        {"name": "x"},
        {"emailAddress": "fine@" + d},
    ])
    assert errors(b) == [("err_user_already_exists", "emailAddress"),
                         ("err_user_domain_not_internal", "emailAddress"),
                         ("err_validation_invalid_value", "emailAddress"),
                         ("err_validation_null", "emailAddress")]
    assert [x["emailAddress"] for x in b["data"]] == ["fine@" + d]
    rows = audit(gw, "new.person@" + d)
    assert rows[0][:2] == ("User Created", "user_account_and_role_logs")
    assert rows[0][3].startswith("Created User - User: new.person@%s, Password: True, Date: " % d)
    # the password works for a login (the user is an API user too, with no permissions)
    rows = mc.db_rows(gw, "SELECT name, perms, CASE WHEN password_hash <> '' THEN 1 ELSE 0 END FROM users WHERE email = ?",
                      ("new.person@" + d,))
    assert rows == [("New Person", 0, 1)]


def test_update_user(gw, client):
    d = verified(client, "upd.test")
    ok(client, CREATE_USER, [{"emailAddress": "ivan@" + d, "name": "Ivan"}])
    b = ok(client, UPDATE_USER, [{"emailAddress": "IVAN@" + d, "name": "Ivan the Second",
                                  "accountLocked": True}])
    assert b["data"] == [{"emailAddress": "ivan@" + d, "name": "Ivan the Second",
                          "accountDisabled": False, "accountLocked": True}]
    b = ok(client, USERS, [{"domain": d}])
    assert b["data"][0]["users"][0]["name"] == "Ivan the Second"
    b = ok(client, UPDATE_USER, [{"emailAddress": "ivan@" + d, "accountLocked": "false",
                                  "accountDisabled": True}])
    assert b["data"][0]["accountLocked"] is False and b["data"][0]["accountDisabled"] is True
    r, b = client.call(UPDATE_USER, [{"emailAddress": "nobody@" + d},
                                     {"emailAddress": "ivan@" + d, "accountDisabled": "maybe"}])
    assert errors(b) == [("err_user_not_found", "emailAddress"),
                         ("err_validation_invalid_value", "accountDisabled")]
    types = [r[0] for r in audit(gw, "ivan@" + d)]
    assert types == ["User Created", "User Updated", "User Updated"]


def swaks(gw, to):
    return subprocess.run(["swaks", "--server", "127.0.0.1:%d" % gw.smtp_port, "--to", to,
                           "--from", "alice@example.org", "--body", "Hello",
                           "--h-Subject", "dir %s" % uuid.uuid4().hex[:8], "--timeout", "20"],
                          capture_output=True, text=True, timeout=60)


def test_created_user_receives_mail_at_once_on_a_known_domain(gw, client):
    d = verified(client, "dirknown.test", inbound="known")
    p = swaks(gw, "kate@" + d)
    assert any(x.startswith("<** 550") and "5.1.1" in x for x in p.stdout.splitlines()), p.stdout
    ok(client, CREATE_USER, [{"emailAddress": "kate@" + d, "name": "Kate"}])
    p = swaks(gw, "kate@" + d)
    assert p.returncode == 0, p.stdout
    # disabled through update-user: unknown again
    ok(client, UPDATE_USER, [{"emailAddress": "kate@" + d, "accountDisabled": True}])
    p = swaks(gw, "kate@" + d)
    assert any(x.startswith("<** 550") for x in p.stdout.splitlines()), p.stdout


# ---- groups ----

def test_groups_shape_nesting_pages(gw, client):
    top = ok(client, CREATE_GROUP, [{"description": "Blocked Senders"}])["data"][0]
    real = rapid7("find_groups.json.resp")
    assert shape(top) == shape(real["data"][0]["folders"][0])
    assert top["userCount"] == 0 and top["folderCount"] == 0 and top["source"] == "cloud"
    root = top["parentId"]
    sub = ok(client, CREATE_GROUP, [{"description": "Sub of blocked", "parentId": top["id"]}])
    sub = sub["data"][0]
    assert sub["parentId"] == top["id"]
    again = ok(client, CREATE_GROUP, [{"description": "Also at top", "parentId": root}])
    assert again["data"][0]["parentId"] == root
    r, b = client.call(CREATE_GROUP, [{"description": "x", "parentId": "A" * 22}, {}])
    assert errors(b) == [("err_folder_not_found", "parentId"),
                         ("err_validation_null", "description")]
    assert shape(ok(client, FIND)) == shape(real)
    b = ok(client, FIND, [{"query": "blocked", "source": "cloud"}])
    assert list(b["data"][0]) == list(rapid7("find_groups_empty_groups.json.resp")["data"][0])
    got = {f["description"]: f for f in b["data"][0]["folders"]}
    assert set(got) == {"Blocked Senders", "Sub of blocked"}
    assert got["Blocked Senders"]["folderCount"] == 1
    assert b["meta"]["pagination"] == {"pageSize": 2, "totalCount": 2}
    # pages of one
    for i in range(3):
        ok(client, CREATE_GROUP, [{"description": "page group %d" % i}])
    names, token = [], None
    while True:
        meta = {"pagination": {"pageSize": 1}}
        if token:
            meta["pagination"]["pageToken"] = token
        b = ok(client, FIND, [{"query": "PAGE GROUP"}], meta)
        names += [f["description"] for f in b["data"][0]["folders"]]
        assert b["meta"]["pagination"]["totalCount"] == 3
        token = b["meta"]["pagination"].get("next")
        if not token:
            break
    assert names == ["page group 0", "page group 1", "page group 2"]
    b = ok(client, FIND, [{"query": "no such group at all"}])
    assert b["data"][0]["folders"] == [] and b["meta"]["pagination"]["pageSize"] == 0
    b = ok(client, FIND, [{"source": "ldap"}])
    assert b["data"][0]["folders"] == []


def test_members_add_remove_and_errors(gw, client):
    d = verified(client, "members.test")
    g = ok(client, CREATE_GROUP, [{"description": "Members group"}])["data"][0]
    b = ok(client, ADD, [{"id": g["id"], "emailAddress": "Test4@Members.test"}])
    real = rapid7("add_group_member.json.resp")
    assert shape(b) == shape(real)
    item = b["data"][0]
    assert item["folderId"] == g["id"] and item["emailAddress"] == "test4@" + d
    assert item["internal"] is True
    b = ok(client, ADD, [{"id": g["id"], "domain": "partner.example"}])
    assert b["data"][0]["domain"] == "partner.example" and b["data"][0]["internal"] is False
    # already a member: the real error shape (key echoes the item)
    r, b = client.call(ADD, [{"id": g["id"], "emailAddress": "test4@" + d}])
    bad = rapid7("add_group_member_bad.json.resp")
    assert shape(b) == shape(bad)
    assert b["fail"][0]["key"] == {"id": g["id"], "emailAddress": "test4@" + d}
    assert b["fail"][0]["errors"][0]["code"] == "err_folder_group_member_already_exists"
    assert b["fail"][0]["errors"][0]["retryable"] is False
    r, b = client.call(ADD, [{"id": "A" * 22, "emailAddress": "x@" + d},
                             {"id": g["id"]},
                             {"id": g["id"], "emailAddress": "x@" + d, "domain": d},
                             {"emailAddress": "x@" + d}])
    assert errors(b) == [("err_folder_not_found", "id"), ("err_validation_null", "emailAddress"),
                         ("err_validation_invalid_value", "domain"),
                         ("err_validation_null", "id")]
    # members listed, with the group
    b = ok(client, MEMBERS, [{"id": g["id"]}])
    assert b["data"][0]["group"]["userCount"] == 2
    assert b["data"][0]["groupMembers"] == [
        {"emailAddress": "test4@" + d, "domain": d, "name": "", "internal": True},
        {"domain": "partner.example", "internal": False}]
    b1 = ok(client, MEMBERS, [{"id": g["id"]}], {"pagination": {"pageSize": 1}})
    assert len(b1["data"][0]["groupMembers"]) == 1 and b1["meta"]["pagination"]["next"]
    b2 = ok(client, MEMBERS, None, {"pagination": {"pageSize": 1,
                                                   "pageToken": b1["meta"]["pagination"]["next"]}})
    assert b2["data"][0]["groupMembers"] == [{"domain": "partner.example", "internal": False}]
    # remove, then remove again: the real error
    b = ok(client, REMOVE, [{"id": g["id"], "emailAddress": "test4@" + d}])
    assert shape(b) == shape(rapid7("delete_group_member.json.resp"))
    r, b = client.call(REMOVE, [{"id": g["id"], "emailAddress": "test4@" + d}])
    assert shape(b) == shape(rapid7("delete_group_member_bad.json.resp"))
    assert b["fail"][0]["errors"][0]["code"] == "err_folder_email_address_not_found"
    assert b["fail"][0]["errors"][0]["message"] == "Error email address not found"
    types = [r[0] for r in audit(gw, "test4@" + d)]
    assert types == ["Group Member Added", "Group Member Removed"]
    assert audit(gw, "Members group")[0][:2] == ("Group Created", "account_logs")
    # the policy helper's question, answered in the store
    rows = mc.db_rows(gw, "SELECT count(*) FROM group_members WHERE value = 'partner.example'")
    assert rows == [(1,)]


def test_groups_of_another_account_are_invisible(gw, client):
    g = ok(client, CREATE_GROUP, [{"description": "Private group"}])["data"][0]
    acct = gw.admin_json("account", "create", "--name", "Other")
    code = acct.get("accountCode") or acct.get("code") or acct.get("account_code")
    app = gw.admin_json("app", "create", "--account", code, "--name", "other-app")
    gw.admin("user", "create", "--account", code, "--email", "boss@other.example",
             "--perms", "admin")
    keys = gw.admin_json("keys", "create", "--email", "boss@other.example", "--app-id",
                         app["app_id"])
    other = gw.client(app_id=app["app_id"], app_key=app["app_key"],
                      access_key=keys["access_key"], secret_key=keys["secret_key"])
    b = ok(other, FIND)
    assert b["data"][0]["folders"] == []
    r, b = other.call(ADD, [{"id": g["id"], "emailAddress": "x@other.example"}])
    assert errors(b) == [("err_folder_not_found", "id")]
    r, b = other.call(MEMBERS, [{"id": g["id"]}])
    assert errors(b) == [("err_folder_not_found", "id")]
    r, b = other.call(CREATE_GROUP, [{"description": "sneaky", "parentId": g["id"]}])
    assert errors(b) == [("err_folder_not_found", "parentId")]


def test_permissions(gw):
    c = gw.creds
    gw.admin("user", "create", "--account", c["account_code"], "--email",
             "groupreader@dev.mcapi.local", "--perms", "dir.groups.read")
    keys = gw.admin_json("keys", "create", "--email", "groupreader@dev.mcapi.local",
                         "--app-id", c["app_id"])
    cl = gw.client(access_key=keys["access_key"], secret_key=keys["secret_key"])
    r, b = cl.call(FIND)
    assert r.status_code == 200
    for uri, perm in ((CREATE_GROUP, "Directories | Groups | Edit"),
                      (ADD, "Directories | Groups | Edit"),
                      (REMOVE, "Directories | Groups | Edit"),
                      (USERS, "Directories | Internal | Read"),
                      (CREATE_USER, "Directories | Internal | Edit"),
                      (UPDATE_USER, "Directories | Internal | Edit")):
        r = cl.post(uri, {"data": [{"description": "x"}]})
        assert r.status_code == 403, uri
        assert perm in r.json()["fail"][0]["errors"][0]["message"]


# ---- the CLI ----

def test_cli_users_and_groups(gw, client, tmp_path):
    from test_cli import Cli, set_profile
    cli = Cli(str(tmp_path / "conf" / "profiles"))
    set_profile(cli, gw)
    d = verified(client, "cli-dir.test")
    out = cli.json("--profile", "dev", "users", "create", "lee@" + d, "--name", "Lee",
                   "--password-stdin", input="a fine long password\n")
    assert out["data"][0]["emailAddress"] == "lee@" + d
    assert mc.db_rows(gw, "SELECT CASE WHEN password_hash <> '' THEN 1 ELSE 0 END FROM users WHERE email = ?",
                      ("lee@" + d,)) == [(1,)]
    out = cli.json("--profile", "dev", "users", "update", "lee@" + d, "--name", "Lee Two",
                   "--lock")
    assert out["data"][0] == {"emailAddress": "lee@" + d, "name": "Lee Two",
                              "accountDisabled": False, "accountLocked": True}
    out = cli.json("--profile", "dev", "users", "list", "--domain", d, "--all", "--page-size", "1")
    assert [u["emailAddress"] for x in out["data"] for u in x["users"]] == ["lee@" + d]
    g = cli.json("--profile", "dev", "groups", "create", "CLI group")["data"][0]
    sub = cli.json("--profile", "dev", "groups", "create", "CLI sub", "--parent", g["id"])
    assert sub["data"][0]["parentId"] == g["id"]
    out = cli.json("--profile", "dev", "groups", "add", g["id"], "--email", "a@" + d,
                   "--domain", "b.example")
    assert [x.get("emailAddress") or x.get("domain") for x in out["data"]] == ["a@" + d,
                                                                                "b.example"]
    out = cli.json("--profile", "dev", "groups", "members", g["id"])
    assert len(out["data"][0]["groupMembers"]) == 2
    out = cli.json("--profile", "dev", "groups", "list", "--search", "cli ")
    assert sorted(f["description"] for f in out["data"][0]["folders"]) == ["CLI group", "CLI sub"]
    cli.json("--profile", "dev", "groups", "remove", g["id"], "--domain", "b.example")
    p = cli.run("--profile", "dev", "groups", "remove", g["id"], "--domain", "b.example", check=1)
    assert "err_folder_domain_not_found" in p.stderr + p.stdout
    assert cli.run("--profile", "dev", "groups", "add", g["id"], check=2).returncode == 2
    assert cli.run("--profile", "dev", "users", "frobnicate", check=2).returncode == 2
