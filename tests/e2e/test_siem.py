"""get-siem-logs end to end (API.md §14.1, docs/logs.md): real mail in over SMTP (swaks) with
GTUBE, EICAR, an .exe, an impersonation and internal mail, then the SIEM chain walked from no
token as real collectors walk it: following mc-siem-token, or stopping on isLastToken; json and
key_value files, zipped or not; the same token twice; a restart half-way; the account's time
zone; tokens of another account or changed by a byte; two nodes on one PostgreSQL."""
import io
import json
import os
import tempfile
import time
import zipfile
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

import mc
from mc import Server
from test_domain import second_account
from test_gateway import EICAR, GTUBE, swaks, unbound, verified, wait_for  # noqa: F401
from test_url_protect import mail_links

URI = "/api/audit/get-siem-logs"
DOMAIN = "siemlogs.test"
# what the mail below makes: every check's log type, the click log (ttp_url) included
EXPECTED = {"receipt", "process", "delivery", "spam", "av", "ttp_ap", "ttp_ip", "jrnl",
            "ttp_url"}
TYPES = ("receipt", "process", "delivery", "av", "spam", "ttp_ap", "ttp_ip", "ttp_url", "jrnl")


def siem(client, token=None, fmt=None, compress=None, **extra):
    item = {"type": "MTA"}
    if token is not None:
        item["token"] = token
    if fmt is not None:
        item["fileFormat"] = fmt
    if compress is not None:
        item["compress"] = compress
    item.update(extra)
    return client.post(URI, {"data": [item]})


def is_last(r):
    if not r.headers.get("Content-Type", "").startswith("application/json"):
        return False
    b = r.json()
    return b.get("meta", {}).get("isLastToken") is True


def file_name(r):
    cd = r.headers["Content-Disposition"]
    assert cd.startswith('attachment; filename="') and cd.endswith('"'), cd
    return cd.split('="')[1][:-1]  # as the real clients read it


def events_of(r, fmt="json"):
    """(type, [event dicts]) of one file answer."""
    name = file_name(r)
    body = r.content
    if r.headers["Content-Type"] == "application/octet-stream":
        z = zipfile.ZipFile(io.BytesIO(body))
        names = z.namelist()
        assert len(names) == 1 and names[0].rsplit(".", 1)[0] == name.rsplit(".", 1)[0], names
        inner = names[0]
        body = z.read(inner)
    else:
        inner = name
    typ = inner.rsplit("_", 1)[0]
    if fmt == "json":
        assert inner.endswith(".json"), inner
        doc = json.loads(body)
        assert doc["type"] == "MTA" and isinstance(doc["data"], list)
        return typ, doc["data"]
    assert inner.endswith(".log"), inner
    out = []
    for line in body.decode().splitlines():
        assert line.startswith("datetime="), line
        ev = {}
        for field in line.split("|"):
            k, v = field.split("=", 1)
            assert k not in ev, line
            ev[k] = v
        out.append(ev)
    return typ, out


def walk(client, fmt="json", compress=False, token=None, stop="token", limit=500):
    """Follows the chain: stop="token" until the token comes back unchanged, "last" until
    isLastToken. Returns ([(type, file name, events)], last token)."""
    files = []
    for _ in range(limit):
        r = siem(client, token, fmt, compress)
        assert r.status_code == 200, r.text
        nxt = r.headers["mc-siem-token"]
        if stop == "last" and is_last(r):
            assert r.json() == {"meta": {"isLastToken": True, "status": 200}, "data": [],
                                "fail": []}
            return files, nxt
        if stop == "token" and nxt == token:
            assert is_last(r)
            return files, nxt
        typ, evs = events_of(r, fmt)
        assert evs, "a file answer holds events"
        files.append((typ, file_name(r), evs))
        token = nxt
    raise AssertionError("the chain did not end")


def stored_counts(server, account_code):
    rows = mc.db_rows(server, "SELECT e.type, count(*) FROM mail_events e JOIN accounts a "
                              "ON a.id = e.account_id WHERE a.code = ? GROUP BY e.type",
                      (account_code,))
    return {t: n for t, n in rows if t in TYPES}


@pytest.fixture(scope="module")
def gw(unbound, tmp_path_factory):
    maildir = str(tmp_path_factory.mktemp("mail"))
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % unbound, "--maildir-root",
                                maildir, "--siem-file-max-events", "3"])
    s.maildir = maildir  # test_url_protect.mail_links reads the delivered copy there
    s.start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(gw):
    return gw.client()


@pytest.fixture(scope="module")
def mail(gw, client):
    """The traffic: every outcome the gateway logs. Returns the account code."""
    d = verified(gw, client, DOMAIN)
    code = gw.creds["account_code"]
    gw.admin("account", "outbound-ip", "add", "--account", code, "--ip", "127.0.0.1")
    assert swaks(gw, "bob@" + d).returncode == 0
    assert swaks(gw, "carol@" + d, body="cheap " + GTUBE).returncode == 0
    assert swaks(gw, "dave@" + d, attach=("setup.exe", "MZ fake program")).returncode == 0
    assert swaks(gw, "erin@" + d, body=EICAR).returncode != 0  # refused in the session: av
    assert swaks(gw, "frank@" + d, header=["X-Mcapi-Test: impersonation"]).returncode == 0
    assert swaks(gw, "heidi@" + d, sender="ivan@" + d).returncode == 0  # internal
    # a card number (dlp: its own log, not a SIEM type) and a link, clicked (ttp_url)
    _, links = mail_links(gw, d, "judy", ["https://www.example.com/report?id=7"])
    r = requests.get(links[0], allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "https://www.example.com/report?id=7"
    assert swaks(gw, "kim@" + d, body="card 4111 1111 1111 1111 exp 12/29").returncode == 0

    def settled():
        n = stored_counts(gw, code)
        return n if EXPECTED <= set(n) and n.get("delivery", 0) >= 2 else None
    wait_for(settled, timeout=30)
    # an event whose values hold the key_value separators
    acct = mc.db_rows(gw, "SELECT id FROM accounts WHERE code = ?", (code,))[0][0]
    mc.db_exec(gw, "INSERT INTO mail_events(account_id, type, at, data) VALUES (?, 'spam', ?, "
                   "'{\"aCode\":\"pipes\",\"Subject\":\"a|b\\nc\\td=e\",\"SpamScore\":1}')",
               (acct, int(time.time() * 1000)))
    return code


def test_walk_from_no_token_serves_every_event_once(gw, client, mail):
    files, _ = walk(client)
    stored = stored_counts(gw, mail)
    served = {}
    for typ, name, evs in files:
        assert typ in TYPES, name
        assert 1 <= len(evs) <= 3  # siem_file_max_events
        served[typ] = served.get(typ, 0) + len(evs)
        for ev in evs:
            assert ev["acc"] == mail
            assert list(ev)[:2] == ["acc", "datetime"], ev
            assert "at" not in ev  # delivery events store their time as "at": not shown
            datetime.strptime(ev["datetime"], "%Y-%m-%dT%H:%M:%S%z")
            assert ev["datetime"].endswith("+0000")  # the default zone is UTC
        # the file is named after its type and its first event's time (UTC, ms)
        stem = name[:-len(".json")]
        assert stem.startswith(typ + "_") and len(stem) == len(typ) + 18, name
    assert EXPECTED <= set(served), served
    assert served == stored, (served, stored)
    # per type, the events come in order and no event twice
    for typ in served:
        evs = [json.dumps(e, sort_keys=True) for t, _, es in files if t == typ for e in es]
        assert len(set(evs)) == len(evs)


def test_events_of_one_message_share_their_acode(client, mail):
    files, _ = walk(client)
    by_type = {}
    for typ, _, evs in files:
        for ev in evs:
            by_type.setdefault(typ, []).append(ev)
    accepted = {e["aCode"] for e in by_type["receipt"] if e["Act"] == "Acc"}
    rejected = {e["aCode"] for e in by_type["receipt"] if e["Act"] == "Rej"}
    assert rejected and accepted
    assert {e["aCode"] for e in by_type["process"]} == accepted
    assert {e["aCode"] for e in by_type["spam"]} - {"pipes"} == accepted  # pipes: see mail()
    assert {e["aCode"] for e in by_type["delivery"]} <= accepted
    for typ in ("ttp_ap", "ttp_ip", "jrnl"):
        assert {e["aCode"] for e in by_type[typ]} <= accepted, typ
    # EICAR was refused in the session: its receipt and av events share one aCode
    assert {e["aCode"] for e in by_type["av"]} == rejected
    # the held GTUBE message: process says held for spam
    assert any(e.get("Hld") == "Spm" for e in by_type["process"])


def test_same_token_gives_the_same_file(client, mail):
    r = siem(client, None, "json")
    tok = r.headers["mc-siem-token"]
    for fmt, compress in (("json", False), ("key_value", False), ("json", True)):
        a = siem(client, tok, fmt, compress)
        b = siem(client, tok, fmt, compress)
        assert a.status_code == b.status_code == 200
        assert a.content == b.content and len(a.content) > 20
        assert a.headers["Content-Disposition"] == b.headers["Content-Disposition"]
        assert a.headers["Content-Type"] == b.headers["Content-Type"]
    # the next token differs each time (sealed with a fresh nonce) but leads to the same file
    t1 = siem(client, tok, "json").headers["mc-siem-token"]
    t2 = siem(client, tok, "json").headers["mc-siem-token"]
    assert siem(client, t1, "json").content == siem(client, t2, "json").content


def test_content_types_and_zip(client, mail):
    r = siem(client, None, "JSON")
    assert r.headers["Content-Type"] == "application/json"
    assert file_name(r).endswith(".json")
    r = siem(client)  # default key_value
    assert r.headers["Content-Type"] == "text/plain"
    assert file_name(r).endswith(".log")
    r = siem(client, None, "Key_Value", True)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert file_name(r).endswith(".zip")
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None
    [inner] = z.namelist()
    assert inner.endswith(".log") and inner[:-4] == file_name(r)[:-4]
    for h in ("X-RateLimit-Limit", "Cache-Control", "Pragma"):
        assert h in r.headers, h
    # zipped json walks to the same events as plain json
    plain, _ = walk(client)
    zipped, _ = walk(client, compress=True)
    assert [(t, e) for t, _, e in plain] == [(t, e) for t, _, e in zipped]
    assert [n[:-5] for _, n, _ in plain] == [n[:-4] for _, n, _ in zipped]


def test_key_value_matches_json(client, mail):
    js, _ = walk(client)
    kv, _ = walk(client, fmt="key_value")
    assert [(t, len(e)) for t, _, e in js] == [(t, len(e)) for t, _, e in kv]
    for (_, _, jevs), (_, _, kevs) in zip(js, kv):
        for j, k in zip(jevs, kevs):
            keys = list(k)
            assert keys[0] == "datetime"
            if "aCode" in j:
                assert keys[1:3] == ["aCode", "acc"] and k["aCode"] == j["aCode"]
            assert set(keys) == set(j), (keys, list(j))
            for key, v in j.items():
                if isinstance(v, bool):
                    assert k[key] == ("true" if v else "false")
                elif v is None:
                    assert k[key] == ""
                elif isinstance(v, (int, float)):
                    assert k[key] == str(v)
                elif isinstance(v, str):
                    want = v.replace("|", "\u00a6")
                    for c in "\r\n\t":
                        want = want.replace(c, " ")
                    assert k[key] == want, key


def test_key_value_separators_in_values(client, mail):
    kv, _ = walk(client, fmt="key_value")
    js, _ = walk(client)
    [j] = [e for _, _, evs in js for e in evs if e.get("aCode") == "pipes"]
    assert j["Subject"] == "a|b\nc\td=e"
    [k] = [e for _, _, evs in kv for e in evs if e.get("aCode") == "pipes"]
    assert k["Subject"] == "a\u00a6b c d=e" and k["SpamScore"] == "1"


def test_both_collectors_stop_and_agree(client, mail):
    a, tok_a = walk(client, stop="token")
    b, tok_b = walk(client, stop="last")
    assert [(t, e) for t, _, e in a] == [(t, e) for t, _, e in b]
    # at the end, the answer gives the same token back
    r = siem(client, tok_b, "json")
    assert is_last(r) and r.headers["mc-siem-token"] == tok_b
    # a third stops when a zipped call brings no zip with a file in it
    token, got = None, []
    for _ in range(500):
        r = siem(client, token, "json", True)
        body = io.BytesIO(r.content)
        if not zipfile.is_zipfile(body) or not zipfile.ZipFile(body).namelist():
            assert is_last(r)
            break
        got.append(events_of(r))
        token = r.headers["mc-siem-token"]
    else:
        raise AssertionError("the zipped chain did not end")
    assert got == [(t, e) for t, _, e in a]


def test_new_mail_after_the_end_is_all_the_last_token_gives(gw, client, mail):
    _, last = walk(client, stop="last")
    before = stored_counts(gw, mail)
    assert swaks(gw, "judy@" + DOMAIN).returncode == 0
    wait_for(lambda: stored_counts(gw, mail).get("delivery", 0) > before.get("delivery", 0))
    after = stored_counts(gw, mail)
    files, _ = walk(client, token=last, stop="last")
    served = {}
    for typ, _, evs in files:
        served[typ] = served.get(typ, 0) + len(evs)
    assert served == {t: after[t] - before.get(t, 0) for t in after
                      if after[t] != before.get(t, 0)}


def test_errors_use_the_envelope_with_is_last_token_false(gw, client, mail):
    def check(r, field):
        assert r.status_code == 200
        b = r.json()
        assert b["meta"] == {"isLastToken": False, "status": 200}, b
        assert b["data"] == [] and b["fail"][0]["errors"][0]["field"] == field, b
        assert b["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"
    check(siem(client, None, "xml"), "fileFormat")
    r = client.post(URI, {"data": [{"type": "TTP"}]})
    check(r, "type")
    tok = siem(client, None, "json").headers["mc-siem-token"]
    bad = tok[:10] + ("A" if tok[10] != "A" else "B") + tok[11:]
    check(siem(client, bad, "json"), "token")
    check(siem(client, "not a token", "json"), "token")
    other = second_account(gw, "siem")
    r = siem(other, tok, "json")
    check(r, "token")
    assert "another account" in r.json()["fail"][0]["errors"][0]["message"]
    # the other account's own chain is empty: isLastToken at once
    r = siem(other, None, "json")
    assert is_last(r) and r.headers["mc-siem-token"]


def test_time_zone_of_the_account(gw, client, mail):
    code = mail
    bad = gw.admin("account", "update", "--code", code, "--timezone", "Mars/Olympus",
                   check=False)
    assert bad.returncode != 0 and "time zone" in bad.stderr
    gw.admin("account", "update", "--code", code, "--timezone", "America/New_York")
    try:
        def shifted():
            r = siem(client, None, "json")
            evs = r.json()["data"]
            return evs if not evs[0]["datetime"].endswith("+0000") else None
        evs = wait_for(shifted, timeout=30)
        for ev in evs:
            local = datetime.strptime(ev["datetime"], "%Y-%m-%dT%H:%M:%S%z")
            off = local.utcoffset()
            assert off == local.astimezone(ZoneInfo("America/New_York")).utcoffset(), ev
        shown = [a for a in gw.admin_json("account", "list") if a["account_code"] == code]
        assert shown[0]["timezone"] == "America/New_York"
    finally:
        gw.admin("account", "update", "--code", code, "--timezone", "UTC")


def test_events_older_than_7_days_are_not_served(gw, client, mail):
    week = 8 * 86400000
    mc.db_exec(gw, "UPDATE mail_events SET at = at - %d WHERE type = 'av'" % week)
    try:
        files, _ = walk(client)
        served = {}
        for typ, _, evs in files:
            served[typ] = served.get(typ, 0) + len(evs)
        stored = stored_counts(gw, mail)
        assert stored.get("av") and "av" not in served
        del stored["av"]
        assert served == stored
    finally:
        mc.db_exec(gw, "UPDATE mail_events SET at = at + %d WHERE type = 'av'" % week)


def test_half_the_chain_then_a_restart(unbound, tmp_path):
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % unbound, "--maildir-root",
                                str(tmp_path / "mail"), "--siem-file-max-events", "2"])
    s.start()
    try:
        c = s.client()
        d = verified(s, c, "siemrestart.test")
        for who in ("a", "b", "c"):
            assert swaks(s, "%s@%s" % (who, d)).returncode == 0
        code = s.creds["account_code"]
        wait_for(lambda: stored_counts(s, code).get("delivery", 0) >= 3, timeout=30)
        full, _ = walk(c)
        assert len(full) >= 6
        half, token = [], None
        for _ in range(len(full) // 2):
            r = siem(c, token, "json")
            typ, evs = events_of(r)
            half.append((typ, evs))
            token = r.headers["mc-siem-token"]
        assert s.stop() == 0
        s.start()
        rest, _ = walk(s.client(), token=token)
        assert half + [(t, e) for t, _, e in rest] == [(t, e) for t, _, e in full]
    finally:
        s.stop()


@pytest.mark.skipif(not mc.PG, reason="needs MCAPI_E2E_STORE=postgres")
def test_two_nodes_serve_one_chain_alternately(unbound, tmp_path):
    common = ["--dns-servers", "127.0.0.1:%d" % unbound, "--siem-file-max-events", "2"]
    a = Server(smtp=True, args=common + ["--maildir-root", str(tmp_path / "ma")])
    a.start()
    dsn = mc.store_env(a.data_dir)["MCAPID_PG_DSN"]
    b = Server(data_dir=tempfile.mkdtemp(prefix="mcapid-b-"), smtp=True,
               args=common + ["--maildir-root", str(tmp_path / "mb"),
                              "--key-file", os.path.join(a.data_dir, "server.key")],
               env={"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": dsn})
    b.start()
    try:
        ca = a.client()
        cb = mc.Client(b.base, ca.app_id, ca.app_key, ca.access_key, ca.secret_key)
        d = verified(a, ca, "siemnodes.test")
        assert swaks(a, "x@" + d).returncode == 0
        assert swaks(b, "y@" + d).returncode == 0
        code = a.creds["account_code"]
        wait_for(lambda: stored_counts(a, code).get("delivery", 0) >= 2, timeout=30)
        only_a, _ = walk(ca)
        alternate, token, i = [], None, 0
        while True:
            r = siem(ca if i % 2 == 0 else cb, token, "json")
            nxt = r.headers["mc-siem-token"]
            if is_last(r):
                break
            typ, evs = events_of(r)
            # the other node gives the very same file for the same token
            other = siem(cb if i % 2 == 0 else ca, token, "json")
            assert other.content == r.content
            alternate.append((typ, evs))
            token, i = nxt, i + 1
        assert alternate == [(t, e) for t, _, e in only_a]
    finally:
        try:
            b.stop()
        finally:
            a.stop()
