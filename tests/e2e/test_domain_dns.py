"""verify-domain against real DNS servers on loopback ports (issue 3, API.md §5.5): unbound
with records added and removed while the test runs, dnsmasq with static records, and a server
that never answers. Covers the token present, absent, wrong, among several records, split into
character-strings, NXDOMAIN, SERVFAIL, REFUSED, timeouts, the whole lifecycle, two accounts racing
for one domain, and other calls being served while 100 verifications wait on a silent server."""
import os
import threading
import time

import pytest

import dnsserver
import mc
from mc import Server
from test_domain import (DELETE, INTERNAL, PENDING, STATUS, VERIFY, audit_rows, create,
                         errors, parse_date, second_account)


def dns_server(port, timeout_ms=3000, data_dir=None, extra=()):
    return Server(data_dir=data_dir, args=["--dns-servers", "127.0.0.1:%d" % port,
                                           "--dns-timeout-ms", str(timeout_ms)] + list(extra))


@pytest.fixture(scope="module")
def unbound():
    port = dnsserver.start_unbound(zones=("test.",), refuse_zones=("refused.example.",))
    yield port
    dnsserver.stop_unbound(port)


@pytest.fixture(scope="module")
def usrv(unbound):
    s = dns_server(unbound).start()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def ucl(usrv):
    return usrv.client()


def verify(client, *names, inbound=None):
    items = [{"domain": n} if inbound is None else {"domain": n, "inboundType": inbound}
             for n in names]
    r, b = client.call(VERIFY, items)
    assert r.status_code == 200, r.text
    return b


def one_error(body):
    assert body["data"] == [], body
    (key, code, field), = errors(body)
    err = body["fail"][0]["errors"][0]
    return code, field, err["retryable"], err["message"]


def test_lifecycle(usrv, ucl, unbound):
    """create → pending → publish TXT → verify → internal and provision status → delete another."""
    made = create(ucl, "life.test", "other-life.test", inbound="smtp")["data"]
    d, other = made
    r, p = ucl.call(PENDING, [{"domain": "life.test"}])
    assert p["data"] == [{"domain": "life.test", "expiry": d["expiry"], "id": d["id"],
                          "token": d["token"], "created": d["created"]}]
    parse_date(d["created"]), parse_date(d["expiry"])
    # not published yet: NXDOMAIN → retryable txt_record_not_found
    code, field, retry, msg = one_error(verify(ucl, "life.test"))
    assert (code, field, retry) == ("err_domain_txt_record_not_found", "domain", True)
    dnsserver.unbound_add_txt("life.test", d["token"])
    b = verify(ucl, "LIFE.test.")
    assert b["fail"] == []
    assert b["data"] == [{"id": d["id"], "domain": "life.test", "sendOnly": False, "local": False,
                          "inboundType": "smtp"}]
    r, i = ucl.call(INTERNAL)
    assert {"id": d["id"], "domain": "life.test", "sendOnly": False, "local": False,
            "inboundType": "smtp"} in i["data"]
    r, s = ucl.call(STATUS, [{"domain": "life.test"}])
    st = s["data"][0]
    assert st["status"] == "verified" and st["id"] == d["id"] and "expiry" not in st
    parse_date(st["verified"])
    assert st["lastCheck"]["result"] == "verified"
    parse_date(st["lastCheck"]["time"])
    # no longer pending
    r, p = ucl.call(PENDING, [{"domain": "life.test"}])
    assert p["data"] == []
    # verifying again is idempotent
    assert verify(ucl, "life.test")["data"][0]["id"] == d["id"]
    # delete the other pending domain
    r, x = ucl.call(DELETE, [{"domain": "other-life.test"}, {"domain": "life.test"}])
    assert x["data"] == [{"id": other["id"], "domain": "other-life.test", "deleted": True}]
    assert errors(x) == [({"domain": "life.test"}, "err_domain_not_pending", "domain")]
    types = [row[0] for row in audit_rows(usrv, "'life.test'")]
    assert types == ["Domain Created", "Domain Verification Failed", "Domain Verified",
                     "Domain Verified"]


def test_token_among_several_records_and_split(ucl):
    a, b, c = create(ucl, "several.test", "split.test", "spaces.test")["data"]
    dnsserver.unbound_add_txt("several.test", "v=spf1 -all")
    dnsserver.unbound_add_txt("several.test", "google-site-verification=abc")
    dnsserver.unbound_add_txt("several.test", a["token"])
    tok = b["token"]
    dnsserver.unbound_add_txt("split.test", [tok[:7], tok[7:20], tok[20:]])
    dnsserver.unbound_add_txt("spaces.test", "  " + c["token"] + " ")
    res = verify(ucl, "several.test", "split.test", "spaces.test", inbound="known")
    assert res["fail"] == []
    assert [d["domain"] for d in res["data"]] == ["several.test", "split.test", "spaces.test"]
    assert all(d["inboundType"] == "known" for d in res["data"])


def test_wrong_token_then_fixed(ucl):
    d = create(ucl, "wrong.test")["data"][0]
    dnsserver.unbound_add_txt("wrong.test", d["token"][:-1])
    dnsserver.unbound_add_txt("wrong.test", d["token"] + "x")
    dnsserver.unbound_add_txt("wrong.test", "mcapi-verify-" + "A" * 32)
    code, field, retry, msg = one_error(verify(ucl, "wrong.test"))
    assert (code, retry) == ("err_domain_txt_record_not_found", True)
    r, s = ucl.call(STATUS, [{"domain": "wrong.test"}])
    assert s["data"][0]["status"] == "pending"
    assert s["data"][0]["lastCheck"]["result"] == "err_domain_txt_record_not_found"
    # removed and published right: verified (retryable means retrying works)
    dnsserver.unbound_remove("wrong.test")
    dnsserver.unbound_add_txt("wrong.test", d["token"])
    assert verify(ucl, "wrong.test")["fail"] == []


def test_servfail_and_refused(ucl):
    create(ucl, "servfail.example", "refused.example")
    for name in ("servfail.example", "refused.example"):
        code, field, retry, msg = one_error(verify(ucl, name))
        assert (code, field, retry) == ("err_domain_dns_lookup_failed", "domain", True), name


def test_mixed_items_in_one_call(ucl, usrv):
    a, b = create(ucl, "mixed-ok.test", "mixed-no.test")["data"]
    dnsserver.unbound_add_txt("mixed-ok.test", a["token"])
    res = verify(ucl, "mixed-no.test", "bad@name", "mixed-ok.test", "mixed-unknown.test",
                 "refused.example")
    assert [d["domain"] for d in res["data"]] == ["mixed-ok.test"]
    assert [(k["domain"], c) for k, c, f in errors(res)] == [
        ("mixed-no.test", "err_domain_txt_record_not_found"),
        ("bad@name", "err_validation_invalid_domain"),
        ("mixed-unknown.test", "err_domain_not_found"),
        ("refused.example", "err_domain_dns_lookup_failed")]


def test_verify_with_bad_inbound_type(ucl):
    create(ucl, "inbound.test")
    res = verify(ucl, "inbound.test", inbound="carrier-pigeon")
    assert errors(res) == [({"domain": "inbound.test", "inboundType": "carrier-pigeon"},
                            "err_validation_invalid_value", "inboundType")]


def test_two_accounts_first_verification_wins(usrv, ucl):
    other = second_account(usrv, "race")
    mine = create(ucl, "shared.test")["data"][0]
    theirs = create(other, "shared.test")["data"][0]
    assert mine["id"] != theirs["id"] and mine["token"] != theirs["token"]
    dnsserver.unbound_add_txt("shared.test", mine["token"])
    dnsserver.unbound_add_txt("shared.test", theirs["token"])
    assert verify(other, "shared.test")["data"][0]["id"] == theirs["id"]
    code, field, retry, msg = one_error(verify(ucl, "shared.test"))
    assert (code, field, retry) == ("err_domain_already_registered", "domain", False)
    # and from then on: no new claim, subdomains are the winner's
    code = errors(create(ucl, "shared.test"))[0][1]
    assert code == "err_domain_already_registered"
    assert errors(create(ucl, "mail.shared.test"))[0][1] == "err_domain_parent_managed_elsewhere"
    sub = create(other, "mail.shared.test")["data"][0]
    assert set(sub) == {"id", "domain", "created"}
    r, i = other.call(INTERNAL)
    assert {d["domain"] for d in i["data"]} == {"shared.test", "mail.shared.test"}
    r, i = ucl.call(INTERNAL, [{"domain": "shared.test"}])
    assert i["data"] == []


def test_two_accounts_verifying_at_once(usrv, ucl):
    """Many concurrent verifications of one name by two accounts: exactly one wins."""
    other = second_account(usrv, "race2")
    clients = [ucl, other]
    for round_ in range(5):
        name = "race%d.test" % round_
        toks = [create(c, name)["data"][0]["token"] for c in clients]
        for t in toks:
            dnsserver.unbound_add_txt(name, t)
        results = []

        def go(c):
            results.append((c, verify(c, name)))
        threads = [threading.Thread(target=go, args=(clients[i % 2],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = {id(c) for c, b in results if b["data"]}
        assert len(winners) == 1, results
        loser = [c for c in clients if id(c) not in winners][0]
        assert all(errors(b)[0][1] == "err_domain_already_registered"
                   for c, b in results if c is loser)
    rows = mc.db_rows(
        usrv, "SELECT name, count(*) FROM domains WHERE state = 1 AND name LIKE 'race%' GROUP BY name")
    assert rows and all(n == 1 for _, n in rows)


# ---- dnsmasq with static records (the server restarts to point at it) ----

def test_dnsmasq_static_records():
    s = Server().start()  # first without DNS, to learn the tokens
    try:
        c = s.client()
        d = {x["domain"]: x for x in create(c, "present.example", "nodata.example", "several.example",
                                            "split.example", "nx.nx.test", "refusedhere.example",
                                            "wrongtok.example")["data"]}
        s.stop()
        tok = d["split.example"]["token"]
        port = dnsserver.start_dnsmasq(records=[
            ("present.example", d["present.example"]["token"]),
            ("several.example", "v=spf1 include:_spf.example -all"),
            ("several.example", d["several.example"]["token"]),
            ("several.example", "something else"),
            ("split.example", [tok[:5], tok[5:]]),
            ("wrongtok.example", d["present.example"]["token"]),
        ], local_zones=("nx.test", "nodata.example"), a_records=[("nodata.example", "192.0.2.1")])
        try:
            s.args = ["--dns-servers", "127.0.0.1:%d" % port, "--dns-timeout-ms", "3000"]
            s.start()
            c = s.client()
            res = verify(c, "present.example", "nodata.example", "several.example", "split.example",
                         "nx.nx.test", "refusedhere.example", "wrongtok.example")
            assert [x["domain"] for x in res["data"]] == ["present.example", "several.example",
                                                          "split.example"]
            assert [(k["domain"], code) for k, code, f in errors(res)] == [
                ("nodata.example", "err_domain_txt_record_not_found"),
                ("nx.nx.test", "err_domain_txt_record_not_found"),
                ("refusedhere.example", "err_domain_dns_lookup_failed"),
                ("wrongtok.example", "err_domain_txt_record_not_found")]
            for f in res["fail"]:
                assert f["errors"][0]["retryable"] is True
        finally:
            dnsserver.stop_dnsmasq(port)
    finally:
        assert s.stop() == 0


# ---- a server that never answers ----

def test_timeout():
    port = dnsserver.start_silent()
    s = dns_server(port, timeout_ms=400).start()
    try:
        c = s.client()
        create(c, "silent.example")
        t = time.time()
        code, field, retry, msg = one_error(verify(c, "silent.example"))
        took = time.time() - t
        assert (code, retry) == ("err_domain_dns_lookup_failed", True)
        assert "timeout" in msg
        assert 0.3 <= took < 3, took
        r, b = c.call(STATUS, [{"domain": "silent.example"}])
        assert b["data"][0]["lastCheck"]["result"] == "err_domain_dns_lookup_failed"
    finally:
        assert s.stop() == 0
        dnsserver.stop_silent(port)


@pytest.mark.nosan
def test_waiting_verifications_do_not_block_other_calls():
    """100 verifications wait on a silent DNS server; get-pending-domain still answers at once.
    The server has two worker threads, so a lookup holding a worker would block everything."""
    port = dnsserver.start_silent()
    # 100 connections at once from 127.0.0.1: over the default per_ip_connections (64)
    s = dns_server(port, timeout_ms=4000, extra=["--per-ip-connections", "0"]).start()
    try:
        c = s.client()
        names = ["wait%03d.example" % i for i in range(100)]
        create(c, *names[:50])
        create(c, *names[50:])
        results = {}

        def go(name):
            results[name] = verify(s.client(), name)
        threads = [threading.Thread(target=go, args=(n,)) for n in names]
        t0 = time.time()
        for t in threads:
            t.start()
        time.sleep(0.5)  # let them all reach the server and suspend
        lat = []
        for _ in range(20):
            t = time.time()
            r, b = c.call(PENDING, meta={"pagination": {"pageSize": 10}})
            lat.append(time.time() - t)
            assert r.status_code == 200 and len(b["data"]) == 10
        assert time.time() - t0 < 3.5, "the checks ran after the lookups timed out"
        assert max(lat) < 0.5, lat
        for t in threads:
            t.join()
        assert len(results) == 100
        assert all(errors(b)[0][1] == "err_domain_dns_lookup_failed" for b in results.values())
        assert dnsserver._servers[port].received >= 100
    finally:
        assert s.stop() == 0
        dnsserver.stop_silent(port)


def test_sigterm_answers_verifications_still_waiting_on_dns():
    """Shutdown with lookups outstanding: once the grace period is over the resolver is
    stopped, every waiting verify-domain is answered (lookup failed, retryable) and the
    server exits cleanly."""
    port = dnsserver.start_silent()
    s = dns_server(port, timeout_ms=60000, extra=["--shutdown-grace", "1"]).start()
    c = s.client()
    create(c, "shutdown1.example", "shutdown2.example")
    results = {}

    def go():
        results["body"] = verify(s.client(), "shutdown1.example", "shutdown2.example")
    t = threading.Thread(target=go)
    t.start()
    time.sleep(0.5)  # the call is suspended on its lookups
    t0 = time.time()
    s.proc.send_signal(15)
    t.join(timeout=20)
    assert not t.is_alive(), "the waiting call was never answered"
    assert [e[1] for e in errors(results["body"])] == ["err_domain_dns_lookup_failed"] * 2
    s.proc.wait(timeout=20)
    assert s.proc.returncode == 0, s.read_log()
    assert time.time() - t0 < 10
    s.log.close()
    s.proc = None
