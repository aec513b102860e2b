"""Sender policies end to end (API.md §18, §13.2; docs/policies.md): the managed-sender and
blocked-senders endpoints with the recorded shapes, audit rows, and their effect on the next
SMTP transaction sent with swaks: a blocked sender is refused with 550 in the session and the
refusal is tracked; a permitted GTUBE sender is delivered, not held; a group named in a policy
blocks its members as soon as they are added and stops when they are removed."""
import json
import os
import time

import pytest

from mc import db_rows
from test_gateway import (GTUBE, client, gw, last_reply, maildir_files, search, swaks,  # noqa: F401
                          unbound, verified, wait_for)

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures")
R7 = os.path.join(FIX, "rapid7-insightconnect", "responses")


def fixture(*parts):
    path = os.path.join(FIX, *parts)
    if not os.path.exists(path):
        pytest.skip("fixture %s absent" % path)
    with open(path) as f:
        return json.load(f)


def keys(o):
    return sorted(o.keys())


def refused_550(p):
    return any(x.startswith("<** 550") for x in last_reply(p))


def create_policy(client, option="block_sender", **pol):
    pol.setdefault("description", "test policy")
    r, body = client.call("/api/policy/blockedsenders/create-policy",
                          [{"option": option, "policy": pol}])
    assert r.status_code == 200, body
    return body


# ---- shapes ---------------------------------------------------------------------------------

def test_permit_or_block_sender_shapes(gw, client):
    want = fixture("rapid7-insightconnect", "responses", "permit_or_block_sender.json.resp")
    r, body = client.call("/api/managedsender/permit-or-block-sender",
                          [{"sender": "Test@Rapid7.com", "to": "test2@rapid7.com",
                            "action": "permit"}])
    assert body["fail"] == [], body
    got = body["data"][0]
    assert keys(got) == keys(want["data"][0])
    assert got["id"].startswith("MTOKEN:") and got["type"] == "Permit"
    assert got["sender"] == "test@rapid7.com" and got["to"] == "test2@rapid7.com"
    # the same pair again replaces the entry: same id, now Block
    r, body = client.call("/api/managedsender/permit-or-block-sender",
                          [{"sender": "test@rapid7.com", "to": "test2@rapid7.com",
                            "action": "block"}])
    assert body["data"][0]["id"] == got["id"] and body["data"][0]["type"] == "Block"
    bad = fixture("rapid7-insightconnect", "responses", "permit_or_block_sender_bad.json.resp")
    item = {"sender": "bad_email", "to": "test2@rapid7.com", "action": "block"}
    r, body = client.call("/api/managedsender/permit-or-block-sender", [item])
    assert body["data"] == [] and body["fail"] == bad["fail"], body


def test_create_get_delete_policy_shapes(gw, client):
    rec = fixture("rapid7-insightconnect", "responses", "create_blocked_sender_policy.json.resp")
    dem = fixture("demisto-content", "MimecastV2", "create_block_sender_policy_response.json")
    body = create_policy(client, description="some test policy", fromPart="envelope_from",
                         fromType="everyone", toType="everyone")
    got = body["data"][0]
    assert keys(got) == keys(rec["data"][0])
    assert list(got["policy"].keys()) == list(rec["data"][0]["policy"].keys())
    for k in ("from", "to", "fromType", "toType", "fromEternal", "toEternal", "fromDate",
              "toDate", "override", "bidirectional", "conditions", "enabled", "enforced"):
        assert got["policy"][k] == rec["data"][0]["policy"][k], k
    body = create_policy(client, description="test", fromPart="both", fromType="email_domain",
                         fromValue="Google.com", toType="everyone")
    g2 = body["data"][0]
    assert list(g2["policy"].keys()) == list(dem["policy"].keys())
    assert g2["policy"]["from"] == dem["policy"]["from"]
    assert g2["policy"]["fromValue"] == "google.com"
    # get-policy lists both; by id gives one
    r, body = client.call("/api/policy/blockedsenders/get-policy", [])
    ids = [p["id"] for p in body["data"]]
    assert got["id"] in ids and g2["id"] in ids
    lst = fixture("demisto-content", "MimecastV2", "list_policies_response.json")
    assert keys(body["data"][0]) == keys(lst[0])
    r, body = client.call("/api/policy/blockedsenders/get-policy", [{"id": g2["id"]}])
    assert [p["id"] for p in body["data"]] == [g2["id"]]
    # delete-policy
    dele = fixture("rapid7-insightconnect", "responses", "delete_blocked_sender_policy.json.resp")
    r, body = client.call("/api/policy/blockedsenders/delete-policy", [{"id": got["id"]}])
    assert body["data"] == [{"id": got["id"]}] and keys(body["data"][0]) == keys(dele["data"][0])
    r, body = client.call("/api/policy/blockedsenders/delete-policy", [{"id": got["id"]}])
    assert body["data"] == [] and body["fail"][0]["errors"][0]["code"] == "err_policy_not_found"
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": g2["id"]}])


def test_invalid_values_get_the_policy_error_codes(gw, client):
    body = create_policy(client, fromType="individual_email_address", fromValue="not-an-address")
    assert body["data"] == []
    err = body["fail"][0]["errors"][0]
    assert err["code"] == "err_policy_invalid_from_value" and err["field"] == "policy", body
    assert err["message"] == "Invalid fromValue"
    body = create_policy(client, fromType="email_domain")
    assert body["fail"][0]["errors"][0]["code"] == "err_policy_invalid_from_value"
    body = create_policy(client, toType="profile_group", toValue="nope")
    assert body["fail"][0]["errors"][0]["code"] == "err_policy_invalid_to_value"
    body = create_policy(client, fromType="martians")
    assert body["fail"][0]["errors"][0]["code"] == "err_policy_invalid_from_type"
    body = create_policy(client, option="explode")
    assert body["fail"][0]["errors"][0]["field"] == "option"


def test_changes_are_audited(gw, client):
    body = create_policy(client, description="audited one", fromType="individual_email_address",
                         fromValue="audit@spam.example")
    pid = body["data"][0]["id"]
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": pid}])
    client.call("/api/managedsender/permit-or-block-sender",
                [{"sender": "a@b.example", "to": "c@d.example", "action": "permit"}])
    r, body = client.call("/api/audit/get-audit-events", [{
        "startDateTime": "2020-01-01T00:00:00+0000", "endDateTime": "2099-01-01T00:00:00+0000"}])
    types = [(e["auditType"], e["eventInfo"]) for e in body["data"]]
    assert any(t == "Blocked Senders Policy Created" and pid in i for t, i in types), types
    assert any(t == "Blocked Senders Policy Deleted" and pid in i for t, i in types), types
    assert any(t == "Managed Sender Permitted" and "a@b.example" in i for t, i in types), types


# ---- acting on SMTP -------------------------------------------------------------------------

def test_blocked_sender_is_refused_in_the_session_and_tracked(gw, client):
    d = verified(gw, client, "blocked.test")
    assert swaks(gw, "frank@" + d, sender="villain@evil.example").returncode == 0
    body = create_policy(client, description="no villains", fromType="individual_email_address",
                         fromValue="villain@evil.example", toType="everyone")
    pid = body["data"][0]["id"]
    p = swaks(gw, "frank@" + d, sender="villain@evil.example")
    assert p.returncode != 0 and refused_550(p), p.stdout
    # other senders still pass
    assert swaks(gw, "frank@" + d, sender="friend@evil.example").returncode == 0
    found = [m for m in search(client, to="frank@" + d, **{"from": "villain@evil.example"})
             if m["status"] == "rejected"]
    assert found, search(client, to="frank@" + d)
    ev = db_rows(gw, "SELECT data FROM mail_events WHERE type = 'receipt'")
    rej = [json.loads(r[0]) for r in ev if '"Rej"' in r[0] and "villain@evil.example" in r[0]]
    assert rej and rej[0]["RejCode"] == "550" and rej[0]["Rcpt"] == "frank@" + d
    # deleting the policy lets the sender in on the next transaction
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": pid}])
    assert swaks(gw, "frank@" + d, sender="villain@evil.example").returncode == 0


def test_managed_block_and_domain_policy(gw, client):
    d = verified(gw, client, "managed.test")
    client.call("/api/managedsender/permit-or-block-sender",
                [{"sender": "pest@pests.example", "to": "gina@" + d, "action": "block"}])
    assert refused_550(swaks(gw, "gina@" + d, sender="pest@pests.example"))
    assert swaks(gw, "hank@" + d, sender="pest@pests.example").returncode == 0  # another rcpt
    body = create_policy(client, fromType="email_domain", fromValue="baddomain.example")
    assert refused_550(swaks(gw, "hank@" + d, sender="anyone@baddomain.example"))
    # a no_action policy is an exception to the block
    create_policy(client, option="no_action", fromType="individual_email_address",
                  fromValue="ok@baddomain.example")
    assert swaks(gw, "hank@" + d, sender="ok@baddomain.example").returncode == 0
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": body["data"][0]["id"]}])


def test_permitted_gtube_sender_is_delivered_not_held(gw, client):
    d = verified(gw, client, "permit.test")
    r, body = client.call("/api/managedsender/permit-or-block-sender",
                          [{"sender": "newsletter@friends.example", "to": "ivy@" + d,
                            "action": "permit"}])
    assert body["data"][0]["type"] == "Permit"
    assert swaks(gw, "ivy@" + d, sender="newsletter@friends.example",
                 body="buy now " + GTUBE).returncode == 0
    wait_for(lambda: maildir_files(gw, d, "ivy"))
    msgs = wait_for(lambda: [m for m in search(client, to="ivy@" + d)
                             if m["status"] in ("delivered", "archived")])
    assert msgs
    # the same content from a sender not permitted is held
    assert swaks(gw, "ivy@" + d, sender="stranger@friends.example",
                 body="buy now " + GTUBE).returncode == 0

    def held():
        r, body = client.call("/api/gateway/get-hold-message-list", [{"admin": True}])
        return [m for m in body["data"] if m["to"]["emailAddress"] == "ivy@" + d]
    assert wait_for(held)
    assert len(maildir_files(gw, d, "ivy")) == 1


def test_group_in_a_policy_blocks_its_members_at_once(gw, client):
    """Groups made and changed through the directory API (§17) act on the next transaction."""
    d = verified(gw, client, "group.test")
    r, body = client.call("/api/directory/create-group", [{"description": "blocked people"}])
    assert body["fail"] == [], body
    gid = body["data"][0]["id"]
    body = create_policy(client, fromType="profile_group", fromValue=gid)
    assert body["fail"] == [], body
    pol = body["data"][0]["policy"]
    assert pol["from"] == {"type": "profile_group", "groupId": gid}
    assert swaks(gw, "jack@" + d, sender="mallory@m.example").returncode == 0

    def member(op, **who):
        r, body = client.call("/api/directory/%s-group-member" % op, [dict(id=gid, **who)])
        assert body["fail"] == [], body
    member("add", emailAddress="mallory@m.example")
    assert refused_550(swaks(gw, "jack@" + d, sender="mallory@m.example"))
    assert swaks(gw, "jack@" + d, sender="other@m.example").returncode == 0
    member("add", domain="m.example")
    assert refused_550(swaks(gw, "jack@" + d, sender="other@m.example"))
    member("remove", domain="m.example")
    member("remove", emailAddress="mallory@m.example")
    assert swaks(gw, "jack@" + d, sender="mallory@m.example").returncode == 0


# ---- the CLI ---------------------------------------------------------------------------------

def test_cli_senders(gw, client, tmp_path):
    from test_cli import Cli, set_profile
    cli = Cli(str(tmp_path / "conf" / "profiles"))
    set_profile(cli, gw)
    out = cli.json("--profile", "dev", "senders", "block", "cli@spam.example", "--to",
                   "boss@corp.example")
    assert out["data"][0]["type"] == "Block" and out["data"][0]["sender"] == "cli@spam.example"
    out = cli.json("--profile", "dev", "senders", "permit", "cli@spam.example", "--to",
                   "boss@corp.example")
    assert out["data"][0]["type"] == "Permit"
    out = cli.json("--profile", "dev", "senders", "policies", "create", "--description",
                   "from the cli", "--from-type", "email_domain", "--from", "cli-spam.example")
    pol = out["data"][0]
    assert pol["option"] == "block_sender" and pol["policy"]["fromValue"] == "cli-spam.example"
    out = cli.json("--profile", "dev", "senders", "policies", "list")
    assert pol["id"] in [p["id"] for p in out["data"]]
    out = cli.json("--profile", "dev", "senders", "policies", "delete", pol["id"])
    assert out["data"] == [{"id": pol["id"]}]
    p = cli.run("--profile", "dev", "senders", "permit", "x@y.example")
    assert p.returncode == 2
