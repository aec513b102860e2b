"""Audit events end to end (issue 4, API.md §9): a create-domain, a login and a failed login
appear with the right auditType, category, user and eventTime; every date form of §9;
the 60-day window; query and categories filter; pagination walks everything once; every
eventInfo of an API call or an admin command has the real service's shape (docs/audit.md)."""
import base64
import datetime
import json
import re

import pytest
import requests

from mc import Server

CATEGORIES = ["authentication_logs", "account_logs", "integrations_and_apis",
              "user_account_and_role_logs"]
URI = "/api/audit/get-audit-events"
# What SIEM parsers match (the real records in fixtures/elastic-integrations/audit_events):
# <what happened>, Date: yyyy-MM-dd, Time: HH:mm:ss+0000, IP: <ip>, Application: <app>[, ...]
EVENT_INFO = re.compile(r"^(?P<what>.+), Date: (?P<date>\d{4}-\d{2}-\d{2}), "
                        r"Time: (?P<time>\d{2}:\d{2}:\d{2}[+-]\d{4}), IP: (?P<ip>[0-9a-f.:]+), "
                        r"Application: (?P<app>[^,]+)(?P<detail>, .+)?$", re.S)


def err(body):
    return body["fail"][0]["errors"][0]


def iso(dt, form="+0000"):
    s = dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return s + {"+0000": "+0000", "+00:00": "+00:00", "Z": "Z", "frac": ".250Z"}[form]


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(s):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", s), s
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")


def window(minutes=10, **extra):
    item = {"startDateTime": iso(now() - datetime.timedelta(minutes=minutes)),
            "endDateTime": iso(now() + datetime.timedelta(minutes=1))}
    item.update(extra)
    return item


def walk(client, item, page_size=500):
    """Every record, following next tokens; also returns the number of pages."""
    rows, pages, meta = [], 0, {"pagination": {"pageSize": page_size}}
    data = [item] if item is not None else []
    while True:
        r, b = client.call(URI, data, meta=meta)
        assert r.status_code == 200 and b["fail"] == [], b
        pages += 1
        rows += b["data"]
        assert b["meta"]["pagination"]["pageSize"] == len(b["data"])
        nxt = b["meta"]["pagination"].get("next")
        if not nxt:
            return rows, pages
        assert pages < 100
        data, meta = [], {"pagination": {"pageSize": page_size, "pageToken": nxt}}


def login(server, email, password):
    h = {"x-mc-app-id": server.creds["app_id"],
         "Authorization": "Basic-Cloud " + base64.b64encode(("%s:%s" % (email, password)).encode()).decode()}
    return requests.post(server.base + "/api/login/login", data=json.dumps({"data": [{"username": email}]}),
                         headers=h, timeout=30)


@pytest.fixture(scope="module")
def server():
    s = Server(args=["--ip-limit", "100000"]).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def events(server):
    """One create-domain, one login and one failed login, made through the API."""
    c = server.client()
    before = now().replace(microsecond=0)
    r, b = c.call("/api/domain/create-domain", [{"domain": "audited.example", "inboundType": "any"}])
    assert r.status_code == 200 and b["fail"] == [], b
    assert login(server, server.creds["email"], server.creds["password"]).status_code == 200
    assert login(server, server.creds["email"], "not-the-password").status_code == 401
    after = now() + datetime.timedelta(seconds=1)
    return before, after


def find(rows, audit_type, needle=""):
    return [x for x in rows if x["auditType"] == audit_type and needle in x["eventInfo"]]


def test_categories(server):
    r, b = server.client().call("/api/audit/get-categories")
    assert r.status_code == 200
    assert [x["code"] for x in b["data"]] == CATEGORIES
    assert all(x["name"] for x in b["data"])


def test_events_are_recorded(server, events):
    before, after = events
    email = server.creds["email"]
    rows, _ = walk(server.client(), window())
    assert set(rows[0]) == {"id", "auditType", "user", "eventTime", "eventInfo", "category"}
    checks = [("Domain Created", "audited.example", "account_logs"),
              ("User Logged On", "", "authentication_logs"),
              ("Logon Authentication Failed", "", "authentication_logs"),
              ("API Key Created", "created by login", "integrations_and_apis")]
    for audit_type, needle, category in checks:
        hits = find(rows, audit_type, needle)
        assert len(hits) == 1, (audit_type, rows)
        ev = hits[0]
        assert ev["category"] == category
        assert ev["user"] == email
        assert before <= parse_time(ev["eventTime"]) <= after
        assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", ev["id"])
    # newest first
    times = [parse_time(x["eventTime"]) for x in rows]
    assert times == sorted(times, reverse=True)
    # no secrets in the log
    assert server.creds["password"] not in json.dumps(rows)
    assert "not-the-password" not in json.dumps(rows)


@pytest.mark.parametrize("form", ["+0000", "+00:00", "Z", "frac"])
def test_every_date_form(server, events, form):
    item = {"startDateTime": iso(now() - datetime.timedelta(minutes=10), form),
            "endDateTime": iso(now() + datetime.timedelta(minutes=1), form)}
    rows, _ = walk(server.client(), item)
    assert find(rows, "Domain Created", "audited.example")


def test_date_range_excludes(server, events):
    before, _ = events
    item = {"startDateTime": iso(before - datetime.timedelta(days=2)),
            "endDateTime": iso(before - datetime.timedelta(days=1))}
    rows, _ = walk(server.client(), item)
    assert rows == []


def test_query_filters(server, events):
    c = server.client()
    rows, _ = walk(c, window(query="AUDITED.EXAMPLE"))
    assert rows and all("audited.example" in (x["eventInfo"] + x["user"] + x["auditType"]).lower()
                        for x in rows)
    assert find(rows, "Domain Created")
    rows, _ = walk(c, window(query="authentication failed"))
    assert {x["auditType"] for x in rows} == {"Logon Authentication Failed"}
    rows, _ = walk(c, window(query="no-such-text-anywhere"))
    assert rows == []


def test_categories_filter(server, events):
    c = server.client()
    rows, _ = walk(c, window(categories=["authentication_logs"]))
    assert rows and {x["category"] for x in rows} == {"authentication_logs"}
    rows, _ = walk(c, window(categories=["account_logs", "integrations_and_apis"]))
    assert {x["category"] for x in rows} == {"account_logs", "integrations_and_apis"}
    all_rows, _ = walk(c, window(categories=[]))
    assert len(all_rows) > len(rows)
    r, b = c.call(URI, [window(categories=["nope"])])
    assert r.status_code == 200 and err(b)["code"] == "err_validation_invalid_value"
    assert err(b)["field"] == "categories"


def test_pagination_walks_everything_once(server, events):
    c = server.client()
    every, pages = walk(c, window())
    assert pages == 1 and len(every) >= 8
    paged, pages = walk(c, window(), page_size=3)
    assert pages == (len(every) + 2) // 3
    assert [x["id"] for x in paged] == [x["id"] for x in every]
    # a token keeps the filters of the first page
    cat, _ = walk(c, window(categories=["authentication_logs"]), page_size=1)
    assert {x["category"] for x in cat} == {"authentication_logs"} and len(cat) >= 2
    # without any item: the whole window
    none, _ = walk(c, None, page_size=4)
    assert [x["id"] for x in none] == [x["id"] for x in every]
    # a tampered token is refused
    r, b = c.call(URI, [], meta={"pagination": {"pageSize": 1, "pageToken": "AAAA" * 20}})
    assert err(b)["code"] == "err_validation_invalid_value" and err(b)["field"] == "pageToken"


def test_sixty_day_window_and_validation(server, events):
    c = server.client()
    # an older start is moved up to the window: still answers, no error
    rows, _ = walk(c, {"startDateTime": iso(now() - datetime.timedelta(days=400)),
                       "endDateTime": iso(now() + datetime.timedelta(minutes=1))})
    assert find(rows, "Domain Created", "audited.example")
    # a range entirely before the window is empty
    rows, _ = walk(c, {"startDateTime": "2001-01-01T00:00:00+0000", "endDateTime": "2001-02-01T00:00:00+0000"})
    assert rows == []
    cases = [({"endDateTime": iso(now())}, "err_validation_null", "startDateTime"),
             ({"startDateTime": "", "endDateTime": iso(now())}, "err_validation_blank", "startDateTime"),
             ({"startDateTime": "yesterday", "endDateTime": iso(now())}, "err_validation_invalid_value",
              "startDateTime"),
             ({"startDateTime": iso(now()), "endDateTime": iso(now() - datetime.timedelta(days=1))},
              "err_validation_invalid_value", "endDateTime"),
             (window(query=5), "err_validation_invalid_value", "query")]
    for item, code, field in cases:
        r, b = c.call(URI, [item])
        assert r.status_code == 200 and b["data"] == []
        assert err(b)["code"] == code and err(b)["field"] == field, (item, b)
        assert b["fail"][0]["key"] == item


def test_permission_needed(server):
    c = server.creds
    server.admin("user", "create", "--account", c["account_code"], "--email", "nolog@dev.mcapi.local",
                 "--perms", "account.dashboard.read")
    k = server.admin_json("keys", "create", "--email", "nolog@dev.mcapi.local", "--app-id", c["app_id"])
    r = server.client(access_key=k["access_key"], secret_key=k["secret_key"]).post(URI)
    assert r.status_code == 403 and "Account | Logs | Read" in err(r.json())["message"]


def test_other_accounts_events_are_invisible(server, events):
    acct = server.admin_json("account", "create", "--name", "Elsewhere")
    app = server.admin_json("app", "create", "--account", acct["account_code"])
    server.admin("user", "create", "--account", acct["account_code"], "--email", "boss@elsewhere.test",
                 "--perms", "admin")
    k = server.admin_json("keys", "create", "--email", "boss@elsewhere.test", "--app-id", app["app_id"])
    other = server.client(app_id=app["app_id"], app_key=app["app_key"], access_key=k["access_key"],
                          secret_key=k["secret_key"])
    rows, _ = walk(other, window())
    assert rows and all(x["user"] != server.creds["email"] for x in rows)
    assert not find(rows, "Domain Created", "audited.example")


def test_no_audit_row_holds_a_whole_access_key(server, events):
    """docs/login.md: eventInfo shows the first 8 characters of a key, never all of it —
    the bootstrap's key, a login's new and refreshed key, a logout, admin keys create and
    revoke."""
    c = server.creds
    keys = [c["access_key"]]
    r = login(server, c["email"], c["password"])
    assert r.status_code == 200, r.text
    b = r.json()["data"][0]
    keys.append(b["accessKey"])
    # refresh the same binding by login, then log it out
    h = {"x-mc-app-id": c["app_id"],
         "Authorization": "Basic-Cloud " + base64.b64encode(("%s:%s" % (c["email"], c["password"])).encode()).decode()}
    r = requests.post(server.base + "/api/login/login", headers=h, timeout=30,
                      data=json.dumps({"data": [{"username": c["email"], "accessKey": b["accessKey"]}]}))
    assert r.status_code == 200 and r.json()["data"][0]["accessKey"] == b["accessKey"], r.text
    mine = server.client(access_key=b["accessKey"], secret_key=b["secretKey"])
    r = mine.post("/api/login/logout")
    assert r.status_code == 200, r.text
    k = server.admin_json("keys", "create", "--email", c["email"], "--app-id", c["app_id"])
    keys.append(k["access_key"])
    server.admin("keys", "revoke", "--access-key", k["access_key"])
    rows, _ = walk(server.client(), window())
    text = json.dumps([x["eventInfo"] for x in rows])
    for key in keys:
        assert len(key) > 8
        assert key not in text, key
        assert key[:8] + "..." in text, key
    for audit_type in ("API Key Created", "API Key Refreshed", "API Key Revoked", "Logoff"):
        assert find(rows, audit_type), audit_type


def shape_of(ev):
    """The parts of an eventInfo; fails the test when it lacks the real shape."""
    m = EVENT_INFO.match(ev["eventInfo"])
    assert m, ev
    # Date and Time are the event's own time, in UTC
    assert "%sT%s" % (m["date"], m["time"]) == ev["eventTime"], ev
    # read as Elastic's Mimecast pipeline reads it: split at the first ", ", then the rest as
    # "Key: value" pairs joined by ", " — the tail's fields come out whole
    rest = ev["eventInfo"].split(", ", 1)[1]
    kv = dict(p.split(": ", 1) for p in rest.split(", ") if ": " in p)
    assert (kv["Date"], kv["Time"], kv["IP"]) == (m["date"], m["time"], m["ip"]), (kv, ev)
    assert kv["Application"] == m["app"], (kv, ev)
    return m


def test_every_change_has_the_real_event_info_shape(server, events):
    """Policy, directory, logout and admin changes next to the logins and the domain of
    `events`: each has its auditType and category, and every row the wording parsers match,
    with the caller's IP and application, or 127.0.0.1 and "mcapid admin" for the CLI."""
    c = server.client()
    r, b = c.call("/api/managedsender/permit-or-block-sender",
                  [{"sender": "friend@partner.example", "to": server.creds["email"], "action": "permit"},
                   {"sender": "foe@spam.example", "to": server.creds["email"], "action": "block"}])
    assert r.status_code == 200 and b["fail"] == [], b
    r, b = c.call("/api/policy/blockedsenders/create-policy", [{
        "option": "block_sender",
        "policy": {"description": "shape check", "fromPart": "envelope_from",
                   "fromType": "individual_email_address", "fromValue": "bad@spam.example",
                   "toType": "everyone", "fromDate": "1900-01-01T00:00:00+0000",
                   "toDate": "2100-01-01T00:00:00+0000"}}])
    assert r.status_code == 200 and b["fail"] == [], b
    pid = b["data"][0]["id"]
    r, b = c.call("/api/policy/blockedsenders/delete-policy", [{"id": pid}])
    assert b["fail"] == [], b
    r, b = c.call("/api/directory/create-group", [{"description": "Shape Group"}])
    assert b["fail"] == [], b
    gid = b["data"][0]["id"]
    for uri in ("/api/directory/add-group-member", "/api/directory/remove-group-member"):
        r, b = c.call(uri, [{"id": gid, "emailAddress": "member@partner.example"}])
        assert b["fail"] == [], b
    r = login(server, server.creds["email"], server.creds["password"])
    mine = server.client(access_key=r.json()["data"][0]["accessKey"],
                         secret_key=r.json()["data"][0]["secretKey"])
    assert mine.post("/api/login/logout").status_code == 200
    server.admin("account", "update", "--code", server.creds["account_code"],
                 "--telephone", "+44 20 7946 0000")

    rows, _ = walk(c, window())
    for ev in rows:  # every single one, whatever made it
        shape_of(ev)
    app = "Development"  # the application the first start creates (and the tests sign with)
    want = [
        ("User Logged On", "authentication_logs", "Successful authentication for ", app,
         ", Method: Cloud"),
        ("Logon Authentication Failed", "authentication_logs", "Failed authentication for ", app,
         ", Method: Cloud, Reason: Wrong password"),
        ("API Key Created", "integrations_and_apis", "key ", app, None),
        ("Logoff", "authentication_logs", server.creds["email"] + " logged off key ", app, None),
        ("Domain Created", "account_logs", "domain 'audited.example'", app, None),
        ("Managed Sender Permitted", "account_logs", "Permitted Sender - Id: ", app, None),
        ("Managed Sender Blocked", "account_logs", "Blocked Sender - Id: ", app, None),
        ("Blocked Senders Policy Created", "account_logs", "Created Blocked Senders Policy - Id: " + pid,
         app, None),
        ("Blocked Senders Policy Deleted", "account_logs", "Deleted Blocked Senders Policy - Id: " + pid,
         app, None),
        ("Group Created", "account_logs", "Created Group - Name: Shape Group", app, None),
        ("Group Member Added", "account_logs",
         "Added Group Member - Group: Shape Group, Address: member@partner.example", app, None),
        ("Group Member Removed", "account_logs",
         "Removed Group Member - Group: Shape Group, Address: member@partner.example", app, None),
        ("Account Updated", "account_logs", "account ", "mcapid admin", None),
        ("Account Created", "account_logs", "account ", "mcapid admin", None),
    ]
    for audit_type, category, what, application, detail in want:
        hits = [x for x in rows if x["auditType"] == audit_type]
        assert hits, (audit_type, [x["auditType"] for x in rows])
        matched = []
        for ev in hits:
            m = shape_of(ev)
            assert ev["category"] == category, ev
            if m["what"].startswith(what) and m["app"] == application and \
                    (detail is None or (m["detail"] or "").startswith(detail)):
                matched.append(m)
        assert matched, (audit_type, hits)
        m = matched[0]
        assert m["ip"] == "127.0.0.1", m  # the tests connect over loopback; the CLI is local
    # the managed-sender rows name the policy ids the call answered
    assert find(rows, "Managed Sender Blocked", "Sender: foe@spam.example, To: " + server.creds["email"])
