"""The hold queue end to end (API.md §16.1): get-hold-message-list, get-hold-summary-list,
hold-release and hold-reject with the shapes of the real service's recordings, their
validation codes and permissions, and — with mail injected through `mcapid admin mail inject`
(skipped until the gateway is merged) — a held message listed, searched, paged, released once
(a second release is a function-level failure), audited, and a rejection that records the
wish to notify the sender."""
import datetime
import re

import pytest

from mc import Server
from msgapi import (err, fixture, inject, make_internal, shape_diff, user_client, wait_for)

LIST = "/api/gateway/get-hold-message-list"
SUMMARY = "/api/gateway/get-hold-summary-list"
RELEASE = "/api/gateway/hold-release"
REJECT = "/api/gateway/hold-reject"
AUDIT = "/api/audit/get-audit-events"
SEARCH = "/api/message-finder/search"

FORGED_ID = "AAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture(scope="module")
def server():
    s = Server(smtp=True).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def held(client, **item):
    item.setdefault("admin", True)
    r, b = client.call(LIST, [item], meta={"pagination": {"pageSize": 100}})
    assert r.status_code == 200, b
    return b


# ---- answers on an empty queue and validation ----

def test_empty_list_has_pagination(client):
    for data in ([], [{"admin": True}], [{"admin": "true", "start": iso(now()), "end": iso(now())}]):
        r, b = client.call(LIST, data)
        assert r.status_code == 200
        assert b["data"] == [] and b["fail"] == []
        assert b["meta"]["status"] == 200
        assert b["meta"]["pagination"]["pageSize"] == 0
        assert "next" not in b["meta"]["pagination"]


def test_list_validation(client):
    cases = [
        ({"admin": True, "start": "yesterday"}, "err_validation_invalid_value", "start"),
        ({"admin": True, "end": ""}, "err_validation_blank", "end"),
        ({"admin": True, "start": iso(now()), "end": iso(now() - datetime.timedelta(days=1))},
         "err_validation_invalid_value", "end"),
        ({"admin": "maybe"}, "err_validation_invalid_value", "admin"),
        ({"admin": True, "searchBy": {"fieldName": "colour", "value": "x"}},
         "err_validation_invalid_value", "fieldName"),
        ({"admin": True, "searchBy": "subject"}, "err_validation_invalid_value", "searchBy"),
        ({"admin": True, "filterBy": [{"fieldName": "route", "value": "sideways"}]},
         "err_validation_invalid_value", "value"),
        ({"admin": True, "filterBy": [{"fieldName": "size", "value": "1"}]},
         "err_validation_invalid_value", "fieldName"),
    ]
    for item, code, field in cases:
        r, b = client.call(LIST, [item])
        assert r.status_code == 200, item
        assert err(b)["code"] == code and err(b).get("field") == field, (item, b)
        assert b["fail"][0]["key"] == item
        assert b["data"] == [] and b["meta"]["pagination"]["pageSize"] == 0
    r, b = client.call(LIST, [{"admin": True}, {"admin": False}])
    assert err(b)["code"] == "err_validation_invalid_value"
    r, b = client.call(LIST, [{"admin": True}], meta={"pagination": {"pageToken": "forged"}})
    assert err(b)["code"] == "err_validation_invalid_value" and err(b)["field"] == "pageToken"


def test_summary_on_empty_queue(client):
    r, b = client.call(SUMMARY)
    assert r.status_code == 200 and b == {"meta": {"status": 200}, "data": [], "fail": []}


def test_release_validation_and_unknown_ids(server, client):
    domain_id = make_internal(server, client, "release-ids.example")
    cases = [
        ({}, "err_validation_null"),
        ({"id": ""}, "err_validation_blank"),
        ({"id": 42}, "err_validation_invalid_value"),
        ({"id": FORGED_ID}, "err_hold_message_not_found"),
        ({"id": "not an id at all"}, "err_hold_message_not_found"),
        # an id of another kind (a domain) is no message id
        ({"id": domain_id}, "err_hold_message_not_found"),
    ]
    r, b = client.call(RELEASE, [c[0] for c in cases])
    assert r.status_code == 200 and b["data"] == []
    assert [f["errors"][0]["code"] for f in b["fail"]] == [c[1] for c in cases]
    assert all(f["errors"][0]["field"] == "id" for f in b["fail"])
    assert [f["key"] for f in b["fail"]] == [c[0] for c in cases]
    r, b = client.call(RELEASE, [])
    assert err(b)["code"] == "err_validation_null" and "key" not in b["fail"][0]
    r, b = client.call(RELEASE, [{"id": FORGED_ID}] * 51)
    assert err(b)["code"] == "err_validation_too_many_items" and b["data"] == []


def test_reject_validation(client):
    cases = [
        ({}, "err_validation_null", "ids"),
        ({"ids": "x"}, "err_validation_invalid_value", "ids"),
        ({"ids": []}, "err_validation_blank", "ids"),
        ({"ids": [1]}, "err_validation_invalid_value", "ids"),
        ({"ids": [FORGED_ID], "reasonType": "BECAUSE"}, "err_validation_invalid_value",
         "reasonType"),
        ({"ids": [FORGED_ID], "notify": "perhaps"}, "err_validation_invalid_value", "notify"),
        ({"ids": [FORGED_ID], "message": 7}, "err_validation_invalid_value", "message"),
        ({"ids": [FORGED_ID] * 101}, "err_validation_too_many_items", "ids"),
        ({"ids": [FORGED_ID], "reasonType": "message contains undesirable content",
          "notify": "false", "message": "no"}, "err_hold_message_not_found", "ids"),
    ]
    for item, code, field in cases:
        r, b = client.call(REJECT, [item])
        assert r.status_code == 200 and b["data"] == [], item
        assert err(b)["code"] == code and err(b)["field"] == field, (item, b)


def test_permissions(server):
    weak = user_client(server, "dir.internal.read")
    for uri in (LIST, SUMMARY, RELEASE, REJECT):
        r = weak.post(uri, {"data": [{"id": FORGED_ID, "ids": [FORGED_ID]}]})
        assert r.status_code == 403, uri
        assert r.json()["fail"][0]["errors"][0]["code"] == "err_xdk_forbidden"
    # the documented permission of each endpoint, and nothing more
    summary = user_client(server, "Account | Monitoring | Held Summary | Read")
    assert summary.post(SUMMARY).status_code == 200
    assert summary.post(LIST).status_code == 403
    dash = user_client(server, "Account | Dashboard | Read")
    assert dash.post(LIST).status_code == 200
    assert dash.post(RELEASE, {"data": [{"id": FORGED_ID}]}).status_code == 403
    edit = user_client(server, "Account | Monitoring | Held | Edit")
    r = edit.post(RELEASE, {"data": [{"id": FORGED_ID}]})
    assert r.status_code == 200 and r.json()["fail"][0]["errors"][0]["code"] == \
        "err_hold_message_not_found"
    assert edit.post(REJECT, {"data": [{"ids": [FORGED_ID]}]}).status_code == 200


# ---- with held mail (needs the gateway: skipped before it is merged) ----

@pytest.fixture(scope="module")
def held_mail(server, client, tmp_path_factory):
    """Three messages held for alice@, bob@ and carol@hold.example."""
    tmp = tmp_path_factory.mktemp("mail")
    make_internal(server, client, "hold.example")
    ids = {}
    for who in ("alice", "bob", "carol"):
        ids[who] = inject(server, tmp, "sender@outside.example", ["%s@hold.example" % who],
                          "held for %s" % who, test="hold")

    def all_held():
        b = held(client)
        subjects = {i["subject"]: i for i in b["data"]}
        return subjects if all("held for %s" % w in subjects for w in ids) else None

    return wait_for(all_held, what="three held messages")


def test_held_items_have_the_recorded_shape(client, held_mail):
    item = held_mail["held for alice"]
    rec = fixture("demisto-content/MimecastV2/list_hold_messages_response.json")
    if rec:
        assert shape_diff(item, rec["data"][0]) == []
    assert item["route"] == "INBOUND"
    assert item["from"]["emailAddress"] == "sender@outside.example"
    assert item["fromHeader"] == {"emailAddress": "sender@outside.example",
                                  "displayableName": "Sender Name"}
    assert item["to"]["emailAddress"] == "alice@hold.example"
    assert item["reasonCode"] == item["reasonId"].lower() and item["policyInfo"]
    assert item["hasAttachments"] is False and item["size"] > 0
    assert len(item["id"]) == 22


def test_admin_false_lists_the_callers_own(server, held_mail):
    alice = user_client(server, "admin", email="alice@hold.example")
    r, b = alice.call(LIST, [{"admin": False}])
    assert [i["subject"] for i in b["data"]] == ["held for alice"]
    r, b = alice.call(LIST, [])  # admin defaults to false
    assert [i["subject"] for i in b["data"]] == ["held for alice"]


def test_search_and_filters(client, held_mail):
    def subjects(**item):
        return sorted(i["subject"] for i in held(client, **item)["data"])

    assert subjects(searchBy={"fieldName": "subject", "value": "FOR BOB"}) == ["held for bob"]
    assert subjects(searchBy={"fieldName": "recipient", "value": "carol@"}) == ["held for carol"]
    assert len(subjects(searchBy={"fieldName": "sender", "value": "outside.example"})) >= 3
    assert subjects(searchBy={"fieldName": "all", "value": "alice"}) == ["held for alice"]
    reason = held_mail["held for alice"]["reasonCode"]
    assert "held for alice" in subjects(searchBy={"fieldName": "reason_code", "value": reason})
    assert subjects(filterBy=[{"fieldName": "route", "value": "outbound"}]) == []
    assert "held for bob" in subjects(filterBy=[{"fieldName": "route", "value": "inbound"}])
    assert subjects(filterBy=[{"fieldName": "heldGroup", "value": "moderator"}]) == []
    later = iso(now() + datetime.timedelta(hours=1))
    assert subjects(start=later) == []


def test_pages_walk_everything_once(client, held_mail):
    seen, token = [], None
    for _ in range(10):
        meta = {"pagination": {"pageSize": 1}}
        if token:
            meta["pagination"]["pageToken"] = token
        r, b = client.call(LIST, [] if token else [{"admin": True}], meta=meta)
        assert b["meta"]["pagination"]["pageSize"] == len(b["data"]) <= 1
        seen += [i["id"] for i in b["data"]]
        token = b["meta"]["pagination"].get("next")
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 3


def test_summary_counts_by_policy(client, held_mail):
    r, b = client.call(SUMMARY)
    rec = fixture("demisto-content/MimecastV2/hold_message_summary_response.json")
    if rec:
        assert shape_diff(b["data"][0], rec["data"][0]) == []
    policy = held_mail["held for alice"]["policyInfo"]
    assert sum(i["numberOfItems"] for i in b["data"] if i["policyInfo"] == policy) >= 3


def audit_rows(client, audit_type):
    item = {"startDateTime": iso(now() - datetime.timedelta(minutes=30)),
            "endDateTime": iso(now() + datetime.timedelta(minutes=1))}
    r, b = client.call(AUDIT, [item])
    rows = [e for e in b["data"] if e["auditType"] == audit_type]
    for e in rows:  # the real service's wording (docs/audit.md), which SIEM parsers match
        assert re.fullmatch(r".+ - Id: .+, Date: \d{4}-\d{2}-\d{2}, Time: \d{2}:\d{2}:\d{2}\+0000, "
                            r"IP: 127\.0\.0\.1, Application: Development", e["eventInfo"]), e
    return rows


def test_release_once(server, client, held_mail):
    mid = held_mail["held for alice"]["id"]
    r, b = client.call(RELEASE, [{"id": mid}])
    assert r.status_code == 200
    assert b["data"] == [{"id": mid, "release": True}] and b["fail"] == []
    rec = fixture("demisto-content/MimecastV2/release_hold_message_response.json")
    if rec:
        assert shape_diff(b, rec) == []
    # a second release is a function-level failure
    r, b = client.call(RELEASE, [{"id": mid}])
    assert b["data"] == [] and err(b)["code"] == "err_hold_message_not_held"
    assert err(b)["field"] == "id" and b["fail"][0]["key"] == {"id": mid}
    assert "held for alice" not in {i["subject"] for i in held(client)["data"]}
    rows = audit_rows(client, "Held Message Released")
    assert any(mid in e["eventInfo"] for e in rows), rows
    assert all(e["category"] == "account_logs" and e["user"] for e in rows)
    # the released message goes on to delivery
    r, b = client.call(SEARCH, [{"searchReason": "test",
                                 "advancedTrackAndTraceOptions": {"subject": "held for alice"}}])
    tracked = b["data"][0]["trackedEmails"]
    assert tracked and tracked[0]["status"] in ("delivery", "archived")


def test_reject_with_notify(server, client, held_mail):
    mid = held_mail["held for bob"]["id"]
    other = held_mail["held for carol"]["id"]
    item = {"ids": [mid, FORGED_ID], "message": "not for us",
            "reasonType": "MESSAGE GOES AGAINST EMAIL POLICIES", "notify": True}
    r, b = client.call(REJECT, [item])
    assert b["data"] == [{"id": mid, "reject": True}]
    assert err(b)["code"] == "err_hold_message_not_found" and b["fail"][0]["key"] == item
    rec = fixture("demisto-content/MimecastV2/reject_hold_message_response.json")
    if rec:
        assert shape_diff({"meta": b["meta"], "data": b["data"], "fail": []}, rec) == []
    r, b = client.call(REJECT, [{"ids": [mid]}])
    assert err(b)["code"] == "err_hold_message_not_held" and err(b)["field"] == "ids"
    # the audit row says whether the sender is to be notified (the event carries the wish
    # and the text for the mail side: docs/messages.md)
    rows = audit_rows(client, "Held Message Rejected")
    assert any(mid in e["eventInfo"] and "Sender Notified: True, Date: " in e["eventInfo"]
               for e in rows), rows
    # carol's is still held, and the summary no longer counts bob's
    subjects = {i["subject"] for i in held(client)["data"]}
    assert "held for carol" in subjects and "held for bob" not in subjects
    assert other
