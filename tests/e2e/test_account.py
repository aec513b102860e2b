"""get-account end to end (API.md §12, docs/account.md): the 27 fields of the real service in
its order and with its JSON types, compared with the recording of the real service when
../shared/fixtures is there; values from the store (userCount, the formats of accountCode and
mimecastId, the documented defaults); `mcapid admin account update` changing what clients see
(within auth_cache_ms), its errors, and its audit row."""
import json
import os
import re
import time

import pytest

import mc
from mc import Server

URI = "/api/account/get-account"
RECORDING = os.path.join(mc.ROOT, "..", "shared", "fixtures", "jupiterone-graph-mimecast",
                         "fetchAccountDetailsShouldCollectData_2107956155", "recording.har")

# name and JSON type of each field, in the order the real service writes them
FIELDS = [
    ("region", str), ("archive", bool), ("gateway", bool), ("passphrase", str),
    ("supportCode", str), ("maxRetention", int), ("maxRetentionConfirmed", bool),
    ("minRetentionEnabled", bool), ("automatedSegmentPurge", bool), ("type", str),
    ("policyInheritance", bool), ("databaseCode", str), ("searchReason", bool),
    ("contentAdministratorDefaultView", str), ("adminSessionTimeout", int), ("exportApi", bool),
    ("exgestAllowQuery", bool), ("accountCode", str), ("accountName", str), ("adminEmail", str),
    ("contactEmail", str), ("domain", str), ("userCount", int), ("mimecastId", str),
    ("contactName", str), ("telephone", str), ("packages", list),
]


def shape(item):
    """[(name, type name)] in order; bool is not int here, as in JSON."""
    return [(k, type(v).__name__) for k, v in item.items()]


@pytest.fixture(scope="module")
def server():
    s = Server().start()
    yield s
    assert s.stop() == 0, s.read_log()


def get_account(client):
    r = client.post(URI, {"data": []})
    assert r.status_code == 200, r.text
    body = json.loads(r.text)  # dicts keep the order of the text
    assert body["fail"] == [] and len(body["data"]) == 1, body
    return r.text, body["data"][0]


def test_every_field_in_order_with_its_type(server):
    text, acct = get_account(server.client())
    assert [k for k, _ in FIELDS] == list(acct)
    assert len(acct) == 27
    for name, typ in FIELDS:
        assert type(acct[name]) is typ, (name, acct[name])
    assert all(type(p) is str for p in acct["packages"])
    # the bytes too: the envelope, then the item starting with region
    assert text.startswith('{"meta":{"status":200},"data":[{"region":'), text[:80]


def test_same_names_types_and_order_as_the_recording(server):
    if not os.path.exists(RECORDING):
        pytest.skip("no recording at " + RECORDING)
    with open(RECORDING) as f:
        har = json.load(f)
    entries = [e for e in har["log"]["entries"] if e["request"]["url"].endswith(URI)]
    assert entries
    real = json.loads(entries[0]["response"]["content"]["text"])
    real_item = real["data"][0]
    _, ours = get_account(server.client())
    assert shape(ours) == shape(real_item)
    assert list(real) == ["meta", "data", "fail"]
    # the packages are names in the real style, "Name [1234]"
    pat = re.compile(r"^.+ \[\d{4}\]$")
    assert all(pat.match(p) for p in real_item["packages"])
    assert ours["packages"] and all(pat.match(p) for p in ours["packages"])


def test_values_from_the_store_and_defaults(server):
    _, acct = get_account(server.client())
    c = server.creds
    assert acct["accountCode"] == c["account_code"]
    assert acct["gateway"] is True and acct["archive"] is False
    assert acct["userCount"] == 1  # the development administrator
    assert acct["region"] == "eu"
    # the real formats: mimecastId "01-0035-00403" pairs with accountCode "CUSA35A403"
    m = re.fullmatch(r"01-(\d{4})-(\d{5})", acct["mimecastId"])
    assert m, acct["mimecastId"]
    assert acct["accountCode"] == "CEUA%dA%d" % (int(m.group(1)), int(m.group(2)))
    assert re.fullmatch(r"[0-9A-F]{4}", acct["supportCode"])
    assert acct["databaseCode"] == "euterm1"
    assert acct["maxRetention"] == 30 and acct["maxRetentionConfirmed"] is True
    assert acct["minRetentionEnabled"] is False and acct["automatedSegmentPurge"] is True
    assert acct["type"] == "full" and acct["policyInheritance"] is False
    assert acct["searchReason"] is False and acct["contentAdministratorDefaultView"] == "Metadata"
    assert acct["adminSessionTimeout"] == 60
    assert acct["exportApi"] is False and acct["exgestAllowQuery"] is False
    assert acct["passphrase"] == "" and acct["contactEmail"] == "" and acct["telephone"] == ""


def wait_for(client, pred, timeout=5.0):
    """get-account until pred holds: answers come from the authentication cache
    (auth_cache_ms, 1 s by default), so an administrative change shows within it."""
    deadline = time.time() + timeout
    while True:
        _, acct = get_account(client)
        if pred(acct) or time.time() > deadline:
            return acct
        time.sleep(0.1)


def test_user_count_follows_the_users(server):
    code = server.creds["account_code"]
    server.admin("user", "create", "--account", code, "--email", "second@dev.mcapi.local")
    acct = wait_for(server.client(), lambda a: a["userCount"] == 2)
    assert acct["userCount"] == 2


def test_admin_update_is_what_clients_see(server):
    code = server.creds["account_code"]
    out = server.admin_json(
        "account", "update", "--code", code, "--name", "POC - API", "--contact-email",
        "Sam@Example.com", "--contact-name", "Sam Example", "--telephone", "801-369-0000",
        "--support-code", "311c", "--max-retention", "90", "--archive", "true",
        "--packages", "Awareness Training [1078], Threat Remediation [1075]",
        "--admin-session-timeout", "15", "--exgest-allow-query", "true", "--type", "lite")
    assert out["account_code"] == code and out["name"] == "POC - API"
    client = server.client()
    acct = wait_for(client, lambda a: a["accountName"] == "POC - API")
    assert acct["accountName"] == "POC - API"
    assert acct["contactEmail"] == "sam@example.com"
    assert acct["contactName"] == "Sam Example" and acct["telephone"] == "801-369-0000"
    assert acct["supportCode"] == "311C" and acct["maxRetention"] == 90
    assert acct["archive"] is True and acct["exgestAllowQuery"] is True
    assert acct["adminSessionTimeout"] == 15 and acct["type"] == "lite"
    assert acct["packages"] == ["Awareness Training [1078]", "Threat Remediation [1075]"]
    # the identity does not change, and the order and types stay those of the real service
    assert acct["accountCode"] == code
    assert [k for k, _ in FIELDS] == list(acct)
    for name, typ in FIELDS:
        assert type(acct[name]) is typ, name

    # a JSON array for the packages; '' clears text
    server.admin("account", "update", "--code", code, "--packages", '["Mimecast Platform [1033]"]',
                 "--telephone", "", "--archive", "false")
    acct = wait_for(client, lambda a: a["telephone"] == "")
    assert acct["packages"] == ["Mimecast Platform [1033]"] and acct["archive"] is False

    # the change is audited (account_logs), naming the fields
    r, b = client.call("/api/audit/get-audit-events",
                       [{"startDateTime": "2000-01-01T00:00:00+0000",
                         "endDateTime": "2100-01-01T00:00:00+0000",
                         "categories": ["account_logs"]}])
    assert r.status_code == 200 and b["fail"] == [], b
    updates = [e for e in b["data"] if e["auditType"] == "Account Updated"]
    assert len(updates) == 2
    assert any("accountName" in e["eventInfo"] and "telephone" in e["eventInfo"]
               for e in updates)


@pytest.mark.parametrize("args,code,msg", [
    ((), 2, "give at least one field"),
    (("--archive", "maybe"), 2, "is not true or false"),
    (("--max-retention", "0"), 2, "is not a number from 1 to 36500"),
    (("--name", ""), 2, "option '--name' is empty"),
    (("--contact-email", "nope"), 2, "is not an e-mail address"),
    (("--packages", "[1, 2]"), 2, "option '--packages'"),
    (("--region", "us"), 2, "unknown option '--region'"),
])
def test_admin_update_errors(server, args, code, msg):
    p = server.admin("account", "update", "--code", server.creds["account_code"], *args,
                     check=False)
    assert p.returncode == code and msg in p.stderr, (p.returncode, p.stderr)
    assert p.stdout == ""


def test_admin_update_unknown_account(server):
    p = server.admin("account", "update", "--code", "CNOPE0", "--telephone", "1", check=False)
    assert p.returncode == 1 and "no account 'CNOPE0'" in p.stderr
    p = server.admin("account", "update", "--telephone", "1", check=False)
    assert p.returncode == 2 and "missing required option '--code'" in p.stderr


def test_admin_help_lists_update(server):
    p = server.admin("help")
    assert "account update --code CODE" in p.stdout
