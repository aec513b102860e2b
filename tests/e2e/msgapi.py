"""Helpers of the message API tests (test_hold_api.py, test_finder_api.py): users with chosen
permissions, an internal domain made behind the API's back, mail fed through `mcapid admin mail
inject`, waiting for the
gateway's stages, and comparing answers with the recordings of the real service in
../shared/fixtures (skipped when the folder is absent)."""
import json
import os
import re
import time

import pytest

import mc

FIXTURES = os.path.join(mc.ROOT, "..", "shared", "fixtures")
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000")

_n = [0]


def fixture(rel):
    """A recording as JSON, or None when the fixtures are not there."""
    path = os.path.join(FIXTURES, rel)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _kind(v):
    return "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else type(v).__name__


def shape_diff(ours, real, path="", maps=("deliveredMessage",)):
    """Differences of keys (in order), JSON types and date formats between ours and the
    recording; objects named in maps are keyed by data and compared by their first value."""
    out = []
    if _kind(ours) != _kind(real):
        return ["%s: %s, recorded %s" % (path, _kind(ours), _kind(real))]
    if isinstance(real, str) and DATE.fullmatch(real) and not DATE.fullmatch(ours):
        return ["%s: %r is not a date like %r" % (path, ours, real)]
    if isinstance(real, list) and real:
        if not ours:
            return ["%s: empty, recorded with elements" % path]
        out += shape_diff(ours[0], real[0], path + "[0]", maps)
    if isinstance(real, dict):
        if path.split(".")[-1] in maps:
            if real and ours:
                out += shape_diff(next(iter(ours.values())), next(iter(real.values())),
                                  path + ".*", maps)
            return out
        if list(ours) != list(real):
            return ["%s: keys %s, recorded %s" % (path, list(ours), list(real))]
        for k in real:
            out += shape_diff(ours[k], real[k], path + "." + k, maps)
    return out


def user_client(server, perms="admin", email=None):
    """A client of a new user of the dev account with perms (and the given e-mail)."""
    _n[0] += 1
    email = email or "msgapi%d@dev.mcapi.local" % _n[0]
    server.admin("user", "create", "--account", server.creds["account_code"], "--email", email,
                 "--perms", perms)
    k = server.admin_json("keys", "create", "--email", email, "--app-id", server.creds["app_id"])
    return server.client(access_key=k["access_key"], secret_key=k["secret_key"])


def make_internal(server, client, name):
    """Registers name for the dev account and marks it verified behind the API's back (the
    DNS path is covered by test_domain_dns.py)."""
    r, b = client.call("/api/domain/create-domain", [{"domain": name, "inboundType": "any"}])
    assert r.status_code == 200 and not b["fail"], b
    mc.db_exec(server, "UPDATE domains SET state = 1, verified = expiry - 1000 WHERE name = ?",
               (name,))
    return b["data"][0]["id"]


def inject(server, tmp_path, sender, rcpts, subject, test=None, body="Hello.\r\n", extra=""):
    """Feeds one message through `mcapid admin mail inject`; skips the test while that
    command does not exist. Returns the Message-ID (without <>)."""
    _n[0] += 1
    msgid = "msgapi-%d-%d@test.example" % (os.getpid(), _n[0])
    head = ("From: Sender Name <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
            "Date: Mon, 18 Jul 2022 13:25:19 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n" % (sender, ", ".join(rcpts), subject,
                                                              msgid))
    if test:
        head += "X-Mcapi-Test: %s\r\n" % test
    path = os.path.join(str(tmp_path), "m%d.eml" % _n[0])
    with open(path, "wb") as f:
        f.write((head + extra + "\r\n" + body).encode())
    p = server.admin("mail", "inject", path, "--from", sender, "--to", ",".join(rcpts),
                     check=False)
    assert p.returncode == 0, p.stderr
    return msgid


def wait_for(fn, timeout=20.0, what="condition"):
    """Polls fn until it returns something true; returns that."""
    deadline = time.time() + (timeout * 3 if mc.SLOW else timeout)
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def err(body, i=0):
    return body["fail"][i]["errors"][0]
