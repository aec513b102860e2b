"""TTP URL protection end to end (docs/urls.md, API.md §16.3): real mail in over SMTP (swaks),
delivered to a Maildir with its links rewritten to /s/<token>; each click through the real
server is answered (302, block page, error page) only after its ttp_url event is committed,
which the tests read from the store behind the server's back (read-only); managed URLs and
decode-url through the signed API; clicks answered before a kill -9 are all in the store."""
import glob
import json
import os
import re
import signal
import threading
import uuid

import pytest
import requests

import dnsserver
import mc
from mc import Server

KEYS = ["aCode", "MsgId", "Sender", "Recipient", "Route", "Subject", "URL", "UrlCategory",
        "ScanResult", "ScanResultInfo", "Action", "SourceIP"]


@pytest.fixture(scope="module")
def unbound():
    port = dnsserver.start_unbound(zones=("test.",))
    yield port
    dnsserver.stop_unbound(port)


@pytest.fixture(scope="module")
def gw(unbound, tmp_path_factory):
    maildir = str(tmp_path_factory.mktemp("mail"))
    bad = tmp_path_factory.mktemp("lists") / "malicious.txt"
    bad.write_text("# test list\nevil.example.net\nhttps://www.example.org/phish/login\n"
                   "https://www.example.org/malware/get\n")
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % unbound, "--maildir-root",
                                maildir, "--malicious-urls", str(bad)])
    s.maildir = maildir
    s.start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.fixture(scope="module")
def client(gw):
    return gw.client()


@pytest.fixture(scope="module")
def domain(gw, client):
    name = "urls.test"
    r, body = client.call("/api/domain/create-domain", [{"domain": name, "inboundType": "any"}])
    assert r.status_code == 200 and body["data"], body
    token = body["data"][0].get("token")
    if token:
        dnsserver.unbound_add_txt(name, token)
        r, body = client.call("/api/domain/verify-domain", [{"domain": name}])
        assert body["data"] and not body["fail"], body
    return name


def wait_for(fn, timeout=30):
    import time
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not met in %ss" % timeout)


def mail_links(gw, domain, local, urls, header=()):
    """Sends one message holding urls to local@domain; returns (subject, rewritten links)."""
    import subprocess
    subject = "links %s" % uuid.uuid4().hex[:8]
    body = "Hello,\n" + "\n".join("see %s there" % u for u in urls) + "\n"
    cmd = ["swaks", "--server", "127.0.0.1:%d" % gw.smtp_port, "--to", "%s@%s" % (local, domain),
           "--from", "alice@example.org", "--body", body, "--h-Subject", subject,
           "--timeout", "20"]
    for h in header:
        cmd += ["--add-header", h]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout

    def delivered():
        for f in glob.glob(os.path.join(gw.maildir, domain, local, "new", "*")):
            with open(f, "rb") as fh:
                data = fh.read().decode()
            if subject in data:
                return data
        return None
    data = wait_for(delivered)
    links = re.findall(r"(http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]+)", data)
    assert len(links) == len(urls), data
    for u in urls:
        assert u not in data
    return subject, links


def clicks(gw, where=""):
    rows = mc.db_rows(gw, "SELECT message_id, at, data FROM mail_events WHERE type = 'ttp_url' "
                      + where + " ORDER BY id")
    return [(m, at, json.loads(d)) for m, at, d in rows]


def click(link):
    return requests.get(link, allow_redirects=False, timeout=10)


def test_click_redirects_and_is_logged_with_every_field(gw, domain):
    subject, links = mail_links(gw, domain, "ana", ["https://www.example.com/report?id=7"])
    before = len(clicks(gw))
    r = click(links[0])
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == "https://www.example.com/report?id=7"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    # answered after the commit: the event is there the moment the 302 is
    got = clicks(gw)
    assert len(got) == before + 1
    msg_id, at, ev = got[-1]
    assert list(ev.keys()) == KEYS, ev
    (row,) = mc.db_rows(gw, "SELECT id, acode, msg_id, client_ip FROM messages WHERE "
                        "subject = ?", (subject,))
    assert msg_id == row[0]
    assert ev["aCode"] == row[1] and ev["MsgId"] == row[2] and ev["SourceIP"] == row[3]
    assert ev["SourceIP"] == "127.0.0.1"
    assert ev["Sender"] == "alice@example.org"
    assert ev["Recipient"] == "ana@" + domain
    assert ev["Route"] == "Inbound" and ev["Subject"] == subject
    assert ev["URL"] == "https://www.example.com/report?id=7"
    assert ev["ScanResult"] == "clean" and ev["Action"] == "allow"
    # a second click is a second event
    assert click(links[0]).status_code == 302
    assert len(clicks(gw)) == before + 2


def test_tampered_token_gets_an_error_page_and_nothing_is_logged(gw, domain):
    _, links = mail_links(gw, domain, "bo", ["https://www.example.com/x"])
    before = len(clicks(gw))
    tok = links[0].rsplit("/", 1)[1]
    flipped = tok[:10] + ("A" if tok[10] != "A" else "B") + tok[11:]
    base = links[0].rsplit("/", 1)[0]
    for bad in [base + "/" + flipped, base + "/" + tok[:-3], base + "/" + tok + "x",
                base + "/", base + "/%00" + tok, base + "/not-a-token", base + "/" + tok + "/a"]:
        r = click(bad)
        assert r.status_code == 404, (bad, r.status_code)
        assert "Location" not in r.headers
        assert r.headers["Content-Type"].startswith("text/html")
        assert "not valid" in r.text
    assert len(clicks(gw)) == before


def test_managed_block_url_shows_the_block_page(gw, domain, client):
    url = "https://blocked.example.com/p'x?a=1&b=2"
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": url, "action": "block", "matchType": "explicit"}])
    assert r.status_code == 200 and body["data"] and not body["fail"], body
    _, links = mail_links(gw, domain, "cy", [url, "https://blocked.example.com/other"])
    before = len(clicks(gw))
    r = click(links[0])
    assert r.status_code == 403 and "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    assert "blocked" in r.text
    assert url not in r.text and "p&#39;x?a=1&amp;b=2" in r.text  # escaped
    ev = clicks(gw)[-1][2]
    assert ev["Action"] == "block" and ev["UrlCategory"] == "Blocked"
    assert ev["ScanResult"] == "clean" and ev["ScanResultInfo"] == "Managed URL Entry"
    # explicit: another path on the host is not blocked
    assert click(links[1]).status_code == 302
    assert len(clicks(gw)) == before + 2


def test_managed_domain_block_and_permit_over_the_malicious_list(gw, domain, client):
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": "bad-corp.test", "action": "block", "matchType": "domain"},
                           {"url": "https://www.example.org/phish/login", "action": "permit"}])
    assert len(body["data"]) == 2 and not body["fail"], body
    _, links = mail_links(gw, domain, "dee", ["http://x.y.bad-corp.test/a",
                                             "https://www.example.org/phish/login",
                                             "http://notbad-corp.test/"])
    assert click(links[0]).status_code == 403
    r = click(links[1])  # on the malicious list, but permitted: not scanned
    assert r.status_code == 302
    ev = clicks(gw)[-1][2]
    assert ev["Action"] == "allow" and ev["ScanResult"] == "clean"
    assert click(links[2]).status_code == 302  # not a subdomain of bad-corp.test


def test_disable_log_click_keeps_the_click_out_of_the_log(gw, domain, client):
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": "https://quiet.example.com/", "action": "permit",
                            "disableLogClick": True}])
    assert body["data"] and body["data"][0]["disableLogClick"] is True, body
    _, links = mail_links(gw, domain, "ida", ["https://quiet.example.com/",
                                             "https://loud.example.com/"])
    before = len(clicks(gw))
    assert click(links[0]).status_code == 302
    assert len(clicks(gw)) == before  # permitted, not logged
    assert click(links[1]).status_code == 302
    assert len(clicks(gw)) == before + 1


def test_malicious_list_and_test_header_block(gw, domain):
    _, links = mail_links(gw, domain, "eve", ["https://login.evil.example.net/x",
                                             "https://www.example.org/malware/get?x=1"])
    r = click(links[0])
    assert r.status_code == 403 and "malicious" in r.text
    ev = clicks(gw)[-1][2]
    assert ev["ScanResult"] == "malicious" and ev["Action"] == "block"
    assert ev["UrlCategory"] == "Phishing & Fraud"
    assert click(links[1]).status_code == 403  # explicit list entry, any query
    _, links = mail_links(gw, domain, "fay", ["https://harmless.example.com/"],
                          header=["X-Mcapi-Test: malicious-url"])
    r = click(links[0])
    assert r.status_code == 403
    ev = clicks(gw)[-1][2]
    assert ev["ScanResult"] == "malicious" and ev["URL"] == "https://harmless.example.com/"


def test_decode_url_round_trip(gw, domain, client):
    _, links = mail_links(gw, domain, "gus", ["https://www.example.com/doc?q=1#frag"])
    r, body = client.call("/api/ttp/url/decode-url", [{"url": links[0]}])
    assert r.status_code == 200 and not body["fail"], body
    assert body["data"] == [{"url": "https://www.example.com/doc?q=1#frag", "success": True}]
    tok = links[0].rsplit("/", 1)[1]
    for other in ["https://www.example.com/", links[0][:-2], "http://127.0.0.1/s/" + tok[:-1],
                  "not a url"]:
        r, body = client.call("/api/ttp/url/decode-url", [{"url": other}])
        assert body["data"] == [{"url": other, "success": False}], body
    r, body = client.call("/api/ttp/url/decode-url", [{}])
    assert body["fail"] and body["fail"][0]["errors"][0]["code"] == "err_validation_blank"


def test_managed_urls_create_list_delete(gw, client):
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": "https://www.test.net/", "action": "permit"}])
    assert r.status_code == 200, body
    item = body["data"][0]
    assert {k: item[k] for k in item if k != "id"} == {
        "scheme": "https", "domain": "www.test.net", "port": -1, "path": "/", "queryString": "",
        "matchType": "explicit", "action": "permit", "comment": "", "disableUserAwareness": False,
        "disableRewrite": False, "disableLogClick": False}
    # the same again: refused, as recorded
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": "https://www.test.net/", "action": "block"}])
    assert body["data"] == [] and body["fail"] == [{
        "key": {"url": "https://www.test.net/", "matchType": "explicit", "action": "block",
                "overrideUrl": False, "disableUserAwareness": False, "disableRewrite": False,
                "disableLogClick": False},
        "errors": [{"code": "err_managed_url_exists_code",
                    "message": "The managed URL already exists; to update it, delete and "
                               "recreate", "retryable": False}]}]
    # path "" and "/" are two entries, as in the recording
    r, body = client.call("/api/ttp/url/create-managed-url",
                          [{"url": "http://www.test.net", "action": "block",
                            "comment": "from a test"}])
    assert body["data"][0]["path"] == "" and body["data"][0]["comment"] == "from a test"
    r, body = client.call("/api/ttp/url/create-managed-url", [{"url": "ftp://x.test/",
                                                               "action": "block"}])
    assert body["fail"][0]["errors"][0]["code"] == "err_validation_invalid_value"
    r, body = client.call("/api/ttp/url/get-all-managed-urls", [{"domainOrUrl": "www.test.net"}])
    assert [d["path"] for d in body["data"]] == ["/", ""], body
    assert body["meta"]["pagination"]["totalCount"] == 2
    # pages
    r, body = client.call("/api/ttp/url/get-all-managed-urls", meta={"pagination": {"pageSize": 1}})
    total = body["meta"]["pagination"]["totalCount"]
    seen = [d["id"] for d in body["data"]]
    while body["meta"]["pagination"].get("next"):
        r, body = client.call("/api/ttp/url/get-all-managed-urls", meta={
            "pagination": {"pageSize": 1, "pageToken": body["meta"]["pagination"]["next"]}})
        seen += [d["id"] for d in body["data"]]
    assert len(seen) == total == len(set(seen)) and total >= 2
    # delete, then delete again
    r, body = client.call("/api/ttp/url/delete-managed-url", [{"id": item["id"]}])
    assert r.status_code == 200 and body["data"] == [] and body["fail"] == [], body
    r, body = client.call("/api/ttp/url/delete-managed-url", [{"id": item["id"]}])
    assert body["fail"] == [{"errors": [{"code": "err_managed_url_not_found",
                                         "message": "Managed URL not found",
                                         "retryable": False}]}], body
    r, body = client.call("/api/ttp/url/delete-managed-url", [{"id": "bogus"}])
    assert body["fail"][0]["errors"][0]["code"] == "err_managed_url_not_found"
    r, body = client.call("/api/ttp/url/get-all-managed-urls", [{"domainOrUrl": "https://www.test.net/",
                                                                 "exactMatch": True}])
    assert body["data"] == [], body
    # audited
    rows = mc.db_rows(gw, "SELECT info FROM audit_events WHERE audit_type LIKE 'Managed URL%'")
    infos = [r[0] for r in rows]
    assert any(i.startswith("Managed URL created: https://www.test.net/ (permit)") for i in infos), infos
    assert any(i.startswith("Managed URL deleted") for i in infos), infos


def test_clicks_answered_before_kill9_are_all_logged(unbound, tmp_path):
    maildir = str(tmp_path / "mail")
    s = Server(smtp=True, args=["--dns-servers", "127.0.0.1:%d" % unbound, "--maildir-root",
                                maildir])
    s.maildir = maildir
    s.start()
    try:
        c = s.client()
        d = "kill9.test"
        r, body = c.call("/api/domain/create-domain", [{"domain": d, "inboundType": "any"}])
        token = body["data"][0].get("token")
        if token:
            dnsserver.unbound_add_txt(d, token)
            c.call("/api/domain/verify-domain", [{"domain": d}])
        _, links = mail_links(s, d, "hal", ["https://www.example.com/k"])
        answered = []
        stop = threading.Event()

        def clicker():
            sess = requests.Session()
            while not stop.is_set():
                try:
                    r = sess.get(links[0], allow_redirects=False, timeout=5)
                except requests.RequestException:
                    return
                if r.status_code == 302:
                    answered.append(1)
        threads = [threading.Thread(target=clicker) for _ in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answered) >= 300)
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        s.proc = None
        n = len(answered)
        got = len(mc.db_rows(s, "SELECT id FROM mail_events WHERE type = 'ttp_url'"))
        assert got >= n, (got, n)
        s.start()
    finally:
        s.stop()
