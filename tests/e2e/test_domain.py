"""Domain API end to end without DNS answers (issue 3): create-domain and its rules, the list
endpoints and their pages (§8), get-verification-code, delete-pending-domain, get-provision-status,
every kind of bad input with its §3.2 code, audit rows, expiry and purge, permissions, and the
seed's Python sample listing the pending domains."""
import datetime
import os
import re
import time

import pytest

import mc
from mc import Server, run_seed_sample

DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CREATE = "/api/domain/create-domain"
PENDING = "/api/domain/get-pending-domain"
CODE = "/api/domain/get-verification-code"
VERIFY = "/api/domain/verify-domain"
STATUS = "/api/domain/get-provision-status"
INTERNAL = "/api/domain/get-internal-domain"
DELETE = "/api/domain/delete-pending-domain"


def parse_date(s):
    assert DATE_RE.match(s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")


def errors(body):
    return [(f.get("key"), e["code"], e.get("field")) for f in body["fail"] for e in f["errors"]]


def create(client, *names, inbound="any"):
    r, b = client.call(CREATE, [{"domain": n, "inboundType": inbound} for n in names])
    assert r.status_code == 200, r.text
    return b


def all_pages(client, uri, data=None, page_size=None):
    meta = {"pagination": {"pageSize": page_size}} if page_size else None
    out, pages = [], 0
    r, b = client.call(uri, data, meta)
    while True:
        assert r.status_code == 200 and b["fail"] == [], b
        out += b["data"]
        pages += 1
        assert b["meta"]["pagination"]["pageSize"] == len(b["data"])
        nxt = b["meta"]["pagination"].get("next")
        if not nxt:
            return out, pages
        r, b = client.call(uri, None, {"pagination": {"pageToken": nxt, "pageSize": page_size}})


def db_rows(server, sql, args=()):
    return mc.db_rows(server, sql, args)


def audit_rows(server, info_like):
    return db_rows(server, "SELECT audit_type, category, user_name, info FROM audit_events "
                           "WHERE info LIKE ? ORDER BY id", ("%" + info_like + "%",))


# ---- the seed's Python sample, unchanged except its five variables (and the URI) ----



def test_seed_sample_lists_pending_domains(server, client):
    b = create(client, "seed-one.example", "seed-two.example")
    made = {d["domain"]: d for d in b["data"]}
    body = run_seed_sample(server, PENDING)
    assert body["meta"]["status"] == 200 and body["fail"] == []
    listed = {d["domain"]: d for d in body["data"]}
    for name, d in made.items():
        assert listed[name] == {"domain": name, "expiry": d["expiry"], "id": d["id"],
                                "token": d["token"], "created": d["created"]}


# ---- create-domain ----

def test_create_pending_fields(server, client):
    before = time.time()
    b = create(client, "Fields.Example.", inbound="smtp")
    assert b["fail"] == [] and len(b["data"]) == 1
    d = b["data"][0]
    assert set(d) == {"id", "domain", "token", "created", "expiry"}
    assert d["domain"] == "fields.example"
    assert ID_RE.match(d["id"])
    tok = d["token"]
    assert 22 <= len(tok) <= 100 and re.match(r"^[!#-&(-~]+$", tok), tok  # printable, no space/quotes
    created, expiry = parse_date(d["created"]), parse_date(d["expiry"])
    assert abs(created.timestamp() - before) < 5
    assert expiry - created == datetime.timedelta(days=30)
    # get-pending-domain shows the same record
    r, p = client.call(PENDING, [{"domain": "fields.example"}])
    assert p["data"] == [{"domain": "fields.example", "expiry": d["expiry"], "id": d["id"],
                          "token": tok, "created": d["created"]}]
    # an audit row in account_logs, by the caller
    rows = audit_rows(server, "'fields.example'")
    assert rows and rows[0][0] == "Domain Created" and rows[0][1] == "account_logs"
    assert rows[0][2] == server.creds["email"]


def test_create_again_returns_the_same_record(server, client):
    a = create(client, "again.example")["data"][0]
    time.sleep(1.1)
    b = create(client, "AGAIN.example", inbound="ldap")["data"][0]
    assert a == b
    # twice in one call as well
    c = create(client, "twice.example", "twice.example")["data"]
    assert len(c) == 2 and c[0] == c[1]
    assert len(audit_rows(server, "'again.example'")) == 1


def test_tokens_and_ids_are_unique(client):
    names = ["uniq%02d.example" % i for i in range(50)]
    b = create(client, *names)
    assert len(b["data"]) == 50
    assert len({d["token"] for d in b["data"]}) == 50
    assert len({d["id"] for d in b["data"]}) == 50


def test_u_labels_become_a_labels(client):
    b = create(client, "Bücher.DE", "xn--strae-oqa.de", "пример.рф")
    assert [d["domain"] for d in b["data"]] == ["xn--bcher-kva.de", "xn--strae-oqa.de",
                                                 "xn--e1afmkfd.xn--p1ai"]
    r, p = client.call(CODE, [{"domain": "bücher.de"}])
    assert p["data"][0]["domain"] == "xn--bcher-kva.de"


BAD_ITEMS = [
    ({"domain": "user@example.com", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "exa mple.com", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "a" * 300, "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": ("a" * 60 + ".") * 5 + "com", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "b" * 64 + ".com", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "localhost", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "10.0.0.1", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "[::1]", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "-bad.example", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "bad..example", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "un_der.example", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": "xn--zz.example", "inboundType": "any"}, "err_validation_invalid_domain", "domain"),
    ({"domain": 5, "inboundType": "any"}, "err_validation_invalid_value", "domain"),
    ({"domain": True, "inboundType": "any"}, "err_validation_invalid_value", "domain"),
    ({"domain": ["x.example"], "inboundType": "any"}, "err_validation_invalid_value", "domain"),
    ({"domain": {"a": 1}, "inboundType": "any"}, "err_validation_invalid_value", "domain"),
    ({"inboundType": "any"}, "err_validation_null", "domain"),
    ({"domain": None, "inboundType": "any"}, "err_validation_null", "domain"),
    ({"domain": "", "inboundType": "any"}, "err_validation_blank", "domain"),
    ({"domain": "   ", "inboundType": "any"}, "err_validation_blank", "domain"),
    ({"domain": "ok-type.example"}, "err_validation_null", "inboundType"),
    ({"domain": "ok-type.example", "inboundType": ""}, "err_validation_blank", "inboundType"),
    ({"domain": "ok-type.example", "inboundType": "pop3"}, "err_validation_invalid_value", "inboundType"),
    ({"domain": "ok-type.example", "inboundType": 1}, "err_validation_invalid_value", "inboundType"),
]


def snapshot(server):
    return db_rows(server, "SELECT * FROM domains ORDER BY id"), \
        db_rows(server, "SELECT count(*) FROM audit_events")


@pytest.mark.parametrize("item,code,field", BAD_ITEMS, ids=[str(i) for i in range(len(BAD_ITEMS))])
def test_create_bad_items(server, client, item, code, field):
    before = snapshot(server)
    r, b = client.call(CREATE, [item])
    assert r.status_code == 200 and b["data"] == []
    assert len(b["fail"]) == 1
    f = b["fail"][0]
    e = f["errors"][0]
    assert (e["code"], e.get("field"), e["retryable"]) == (code, field, False), b
    assert e["message"] and not e["message"][0].isupper()
    assert f["key"] == {k: v for k, v in item.items() if v is not None}
    assert snapshot(server) == before


def test_bad_item_does_not_stop_the_others(client):
    r, b = client.call(CREATE, [{"domain": "good1.example", "inboundType": "any"},
                                {"domain": "bad@example", "inboundType": "any"},
                                {"domain": "good2.example", "inboundType": "known"}])
    assert [d["domain"] for d in b["data"]] == ["good1.example", "good2.example"]
    assert errors(b) == [({"domain": "bad@example", "inboundType": "any"},
                          "err_validation_invalid_domain", "domain")]


def test_key_is_the_item_after_normalisation(client):
    r, b = client.call(CREATE, [{"domain": "  Keyed.EXAMPLE. ", "inboundType": "SMTP",
                                 "unknownField": 7}, {"domain": "keyed.example"}])
    assert b["data"][0]["domain"] == "keyed.example"
    assert errors(b) == [({"domain": "keyed.example"}, "err_validation_null", "inboundType")]


@pytest.mark.parametrize("uri", [CREATE, CODE, VERIFY, STATUS, DELETE, PENDING, INTERNAL])
def test_51_items(server, client, uri):
    before = snapshot(server)
    items = [{"domain": "many%02d.example" % i, "inboundType": "any"} for i in range(51)]
    r, b = client.call(uri, items)
    assert r.status_code == 200 and b["data"] == []
    assert [(e[1], e[0]) for e in errors(b)] == [("err_validation_too_many_items", None)]
    assert snapshot(server) == before


@pytest.mark.parametrize("uri", [CREATE, CODE, VERIFY, DELETE])
def test_no_items(client, uri):
    r, b = client.call(uri, [])
    assert r.status_code == 200 and b["data"] == []
    assert errors(b) == [(None, "err_validation_null", "data")]


def test_python_literal_bodies(server, client):
    r = client.post(CREATE, raw=str({"data": [{"domain": "pylit.example", "inboundType": "any",
                                                "extra": None, "flag": True}]}))
    assert r.status_code == 200 and r.json()["data"][0]["domain"] == "pylit.example"
    r = client.post(PENDING, raw="{'data': [{'domain': 'pylit.example'}], 'meta': None}")
    assert [d["domain"] for d in r.json()["data"]] == ["pylit.example"]
    r = client.post(CREATE, raw="{'data': [{'domain': 'pylit2.example', 'inboundType': u'any'}]}")
    assert r.json()["data"][0]["domain"] == "pylit2.example"
    # malformed: call-level 400, nothing created
    before = snapshot(server)
    for raw in ("{'data': [{'domain': 'x.example', 'inboundType': any}]}", "{'data': ['x.example']}",
                "{'data': {'domain': 'x.example'}}"):
        r = client.post(CREATE, raw=raw)
        assert r.status_code == 400 and r.json()["fail"][0]["errors"][0]["code"] == "err_xdk_malformed_body"
    assert snapshot(server) == before


# ---- parents ----

def make_internal(server, client, name):
    """Marks a pending domain of the dev account internal behind the API's back (the DNS path is
    covered by test_domain_dns.py)."""
    create(client, name)
    mc.db_exec(server, "UPDATE domains SET state = 1, verified = expiry - 1000 WHERE name = ?",
               (name,))


def test_subdomain_of_internal_parent_is_internal_at_once(server, client):
    make_internal(server, client, "parent.example")
    b = create(client, "a.b.parent.example", "parent.example")
    d = b["data"][0]
    assert set(d) == {"id", "domain", "created"} and d["domain"] == "a.b.parent.example"
    assert errors(b) == [({"domain": "parent.example", "inboundType": "any"},
                          "err_domain_already_registered", "domain")]
    r, i = client.call(INTERNAL, [{"domain": "a.b.parent.example"}])
    assert i["data"] == [{"id": d["id"], "domain": "a.b.parent.example", "sendOnly": False,
                          "local": False, "inboundType": "any"}]
    r, s = client.call(STATUS, [{"domain": "a.b.parent.example"}])
    assert s["data"][0]["status"] == "verified" and "expiry" not in s["data"][0]
    # not pending: no code, no delete
    r, c = client.call(CODE, [{"domain": "a.b.parent.example"}])
    assert errors(c)[0][1] == "err_domain_not_pending"
    r, c = client.call(DELETE, [{"id": d["id"]}])
    assert errors(c) == [({"id": d["id"]}, "err_domain_not_pending", "id")]


# ---- lists and pages ----

def test_pages_of_pending_domains():
    s = Server().start()
    try:
        c = s.client()
        names = sorted("page%03d.example" % i for i in range(23))
        create(c, *names)
        out, pages = all_pages(c, PENDING, page_size=10)
        assert [d["domain"] for d in out] == names and pages == 3
        out, pages = all_pages(c, PENDING)
        assert len(out) == 23 and pages == 1
        # page_size alias, clamping
        r, b = c.call(PENDING, meta={"pagination": {"page_size": 4}})
        assert len(b["data"]) == 4 and b["meta"]["pagination"]["next"]
        r, b = c.call(PENDING, meta={"pagination": {"pageSize": 0}})
        assert len(b["data"]) == 1
        r, b = c.call(PENDING, meta={"pagination": {"pageSize": 5000}})
        assert len(b["data"]) == 23 and "next" not in b["meta"]["pagination"]
        # the token carries the filters: a continuation with only the token
        flt = [{"domain": n} for n in names[5:10]] + [{"domain": "not-there.example"}]
        out, pages = all_pages(c, PENDING, flt, page_size=2)
        assert [d["domain"] for d in out] == names[5:10] and pages == 3
        # exactly one page: no next
        r, b = c.call(PENDING, meta={"pagination": {"pageSize": 23}})
        assert len(b["data"]) == 23 and "next" not in b["meta"]["pagination"]
        # provision status pages through every domain
        out, pages = all_pages(c, STATUS, page_size=7)
        assert len(out) == 23 and pages == 4
        # tokens are opaque and refuse tampering, other endpoints and other accounts
        r, b = c.call(PENDING, meta={"pagination": {"pageSize": 5}})
        tok = b["meta"]["pagination"]["next"]
        assert re.match(r"^[A-Za-z0-9_-]+$", tok) and "page" not in tok
        for bad in (tok[:-2] + ("AA" if tok[-2:] != "AA" else "BB"), "garbage", tok[1:]):
            r, e = c.call(PENDING, meta={"pagination": {"pageToken": bad}})
            assert r.status_code == 200 and e["data"] == []
            assert errors(e) == [({"pageToken": bad}, "err_validation_invalid_value", "pageToken")]
        r, e = c.call(INTERNAL, meta={"pagination": {"pageToken": tok}})
        assert errors(e)[0][1:] == ("err_validation_invalid_value", "pageToken")
        other = second_account(s, "pages")
        r, e = other.call(PENDING, meta={"pagination": {"pageToken": tok}})
        assert errors(e)[0][1:] == ("err_validation_invalid_value", "pageToken")
        # the other account sees none of these
        r, e = other.call(PENDING)
        assert e["data"] == []
    finally:
        assert s.stop() == 0


AUDIT = "/api/audit/get-audit-events"


def test_pagination_on_every_list_answer(server):
    """§8: list and log endpoints always carry meta.pagination — empty, last and failed pages
    too (real collectors read it unconditionally); pageSize as a number, a numeric string
    ("100", sent by a real SIEM integration) or page_size; null is absent."""
    c = second_account(server, "everypage")
    past = {"startDateTime": "2000-01-01T00:00:00+0000", "endDateTime": "2000-01-02T00:00:00+0000"}
    # empty pages, with and without a page size, in every accepted form
    for meta in (None, {"pagination": {"pageSize": 100}}, {"pagination": {"pageSize": "100"}},
                 {"pagination": {"page_size": "100"}}, {"pagination": {"pageSize": None}},
                 {"pagination": {"pageSize": None, "page_size": 7}}):
        for uri, data in ((PENDING, []), (INTERNAL, []), (STATUS, []), (AUDIT, [past])):
            r, b = c.call(uri, data, meta)
            assert r.status_code == 200 and b["fail"] == [] and b["data"] == [], (uri, b)
            assert b["meta"]["pagination"] == {"pageSize": 0}, (uri, meta, b["meta"])
    # a filter that matches nothing is an empty page too
    r, b = c.call(PENDING, [{"domain": "none-here.example"}])
    assert b["meta"]["pagination"] == {"pageSize": 0}
    # numeric strings page like numbers, and the last page has pagination without next
    names = sorted("every%d.example" % i for i in range(5))
    create(c, *names)
    for uri in (PENDING, STATUS):
        seen, meta = [], {"pagination": {"pageSize": "2"}}
        for want in (2, 2, 1):
            r, b = c.call(uri, None, meta)
            assert r.status_code == 200 and b["fail"] == [], b
            assert b["meta"]["pagination"]["pageSize"] == want == len(b["data"])
            seen += [d["domain"] for d in b["data"]]
            nxt = b["meta"]["pagination"].get("next")
            meta = {"pagination": {"page_size": "2", "pageToken": nxt}}
        assert nxt is None and seen == names, (uri, seen)
    # exactly one full page: pagination, no next
    r, b = c.call(PENDING, meta={"pagination": {"pageSize": " 5 "}})
    assert b["meta"]["pagination"] == {"pageSize": 5}
    # null pageSize falls back to page_size; a whole-valued number is a number
    r, b = c.call(PENDING, meta={"pagination": {"pageSize": None, "page_size": "3"}})
    assert len(b["data"]) == 3 and b["meta"]["pagination"]["next"]
    r, b = c.call(PENDING, meta={"pagination": {"pageSize": 4.0}})
    assert len(b["data"]) == 4 and b["meta"]["pagination"]["pageSize"] == 4
    # the Python literal form real clients post (§4), with a string page size
    r = c.post(PENDING, raw=str({"meta": {"pagination": {"pageSize": "1", "pageToken": None}},
                                 "data": []}))
    b = r.json()
    assert r.status_code == 200 and len(b["data"]) == 1 and b["meta"]["pagination"]["next"], b
    # failed list answers carry an empty page as well
    for uri, data, meta in ((PENDING, [], {"pagination": {"pageToken": "forged"}}),
                            (INTERNAL, [], {"pagination": {"pageSize": "ten"}}),
                            (STATUS, [], {"pagination": {"pageSize": 2.5}}),
                            (AUDIT, [{"startDateTime": "yesterday"}], None),
                            (AUDIT, [past], {"pagination": {"pageToken": "forged"}})):
        r, b = c.call(uri, data, meta)
        assert r.status_code == 200 and b["data"] == [] and b["fail"], (uri, b)
        assert b["meta"]["pagination"] == {"pageSize": 0}, (uri, b["meta"])


def second_account(server, tag):
    """A second account with its own application, administrator and keys (mcapid admin)."""
    acct = server.admin_json("account", "create", "--name", "Second %s" % tag)
    code = acct.get("accountCode") or acct.get("code") or acct.get("account_code")
    app = server.admin_json("app", "create", "--account", code, "--name", "app-%s" % tag)
    email = "admin-%s@second.example" % tag
    server.admin("user", "create", "--account", code, "--email", email, "--perms", "admin")
    keys = server.admin_json("keys", "create", "--email", email, "--app-id", app["app_id"])
    return server.client(app_id=app["app_id"], app_key=app["app_key"],
                         access_key=keys["access_key"], secret_key=keys["secret_key"])


# ---- get-verification-code, delete-pending-domain, get-provision-status ----

def test_verification_code(client):
    d = create(client, "code.example")["data"][0]
    r, b = client.call(CODE, [{"domain": "CODE.example"}, {"domain": "unknown-code.example"},
                              {"domain": "bad@"}])
    assert b["data"] == [{"domain": "code.example", "token": d["token"]}]
    assert [e[1] for e in errors(b)] == ["err_domain_not_found", "err_validation_invalid_domain"]


def test_delete_pending(server, client):
    a, b = create(client, "del-a.example", "del-b.example")["data"]
    r, res = client.call(DELETE, [{"id": a["id"]}, {"domain": "DEL-B.example"},
                                  {"domain": "del-gone.example"}, {"id": "nope"}, {}])
    assert res["data"] == [{"id": a["id"], "domain": "del-a.example", "deleted": True},
                           {"id": b["id"], "domain": "del-b.example", "deleted": True}]
    assert errors(res) == [({"domain": "del-gone.example"}, "err_domain_not_found", "domain"),
                           ({"id": "nope"}, "err_domain_not_found", "id"),
                           ({}, "err_validation_null", "domain")]
    r, p = client.call(PENDING, [{"domain": "del-a.example"}, {"domain": "del-b.example"}])
    assert p["data"] == []
    r, res = client.call(DELETE, [{"id": a["id"]}])
    assert errors(res)[0][1] == "err_domain_not_found"
    assert [row[0] for row in audit_rows(server, "'del-a.example'")] == ["Domain Created",
                                                                       "Pending Domain Deleted"]
    # created again after deletion: a new id and token
    c = create(client, "del-a.example")["data"][0]
    assert c["id"] != a["id"] and c["token"] != a["token"]


def test_provision_status(client):
    d = create(client, "status.example")["data"][0]
    r, b = client.call(STATUS, [{"domain": "status.example"}, {"domain": "nostatus.example"}])
    assert b["data"] == [{"id": d["id"], "domain": "status.example", "status": "pending",
                          "created": d["created"], "expiry": d["expiry"]}]
    assert errors(b) == [({"domain": "nostatus.example"}, "err_domain_not_found", "domain")]


# ---- expiry and purge ----

def test_expired_then_purged(server, client):
    d = create(client, "expire.example")["data"][0]
    now_ms = int(time.time() * 1000)
    mc.db_exec(server, "UPDATE domains SET expiry = ? WHERE name = 'expire.example'",
               (now_ms - 60000,))
    r, b = client.call(PENDING, [{"domain": "expire.example"}])
    assert len(b["data"]) == 1  # expired pending domains stay listed until purged
    r, b = client.call(STATUS, [{"domain": "expire.example"}])
    assert b["data"][0]["status"] == "expired"
    r, b = client.call(VERIFY, [{"domain": "expire.example"}])
    assert errors(b) == [({"domain": "expire.example"}, "err_domain_verification_expired", "domain")]
    r, b = client.call(STATUS, [{"domain": "expire.example"}])
    assert b["data"][0]["lastCheck"]["result"] == "err_domain_verification_expired"
    parse_date(b["data"][0]["lastCheck"]["time"])
    # registering it again renews it: same id, a new token and expiry
    e = create(client, "expire.example")["data"][0]
    assert e["id"] == d["id"] and e["token"] != d["token"] and e["expiry"] > d["created"]
    # past expiry + 30 days: purged, as if it never existed
    mc.db_exec(server, "UPDATE domains SET expiry = ? WHERE name = 'expire.example'",
               (now_ms - 31 * 86400000,))
    for uri in (PENDING, STATUS, CODE):
        r, b = client.call(uri, [{"domain": "expire.example"}])
        assert b["data"] == [], uri
    out, _ = all_pages(client, PENDING)
    assert "expire.example" not in [x["domain"] for x in out]


# ---- permissions ----

def test_read_permission_only_reads(server):
    c = server.creds
    server.admin("user", "create", "--account", c["account_code"], "--email",
                 "domreader@dev.mcapi.local", "--perms", "dir.internal.read")
    keys = server.admin_json("keys", "create", "--email", "domreader@dev.mcapi.local",
                             "--app-id", c["app_id"])
    cl = server.client(access_key=keys["access_key"], secret_key=keys["secret_key"])
    r, b = cl.call(INTERNAL)
    assert r.status_code == 200
    for uri in (CREATE, PENDING, CODE, VERIFY, STATUS, DELETE):
        r = cl.post(uri, {"data": [{"domain": "perm.example", "inboundType": "any"}]})
        assert r.status_code == 403, uri
        assert "Register New Domain" in r.json()["fail"][0]["errors"][0]["message"]
