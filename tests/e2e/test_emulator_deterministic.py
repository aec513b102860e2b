"""Deterministic mode (docs/emulator.md, "Deterministic mode"): two mcapid runs on fresh
stores with the same --deterministic seed and the same seed file answer the same calls with
byte-identical bodies (accounts minted by the control plane, domains, SIEM logs, message
tracking, audit events, discovery and login); another seed gives other answers; a YAML seed
and its JSON twin give the same state; a directory of seed files is merged in name order;
bad YAML stops the start with its line and column. Against real mcapid processes, on SQLite
or (MCAPI_E2E_STORE=postgres) PostgreSQL."""
import base64
import datetime
import json
import os
import shutil
import smtplib
import subprocess
import time

import requests

from mc import MCAPID, Client, Server, db_rows, free_port, store_env

ISO = "%Y-%m-%dT%H:%M:%S+0000"
SECRET = base64.b64encode(b"d" * 32).decode()
APP_ID = "aaaaaaaa-1111-2222-3333-444444444444"
APP_KEY = "bbbbbbbb-5555-6666-7777-888888888888"
SEED = {
    "accounts": [{
        "name": "Det Seeded", "code": "CDETSEED01",
        "domains": [{"name": "det-seed.example"},
                    {"name": "pending.det-seed.example", "verified": False}],
        "applications": [{"name": "CI", "app_id": APP_ID, "app_key": APP_KEY}],
        "users": [{"email": "admin@det-seed.example", "name": "Det Admin",
                   "password": "correct horse", "permissions": "admin",
                   "keys": [{"access_key": "det-seed-access-key-0123", "secret_key": SECRET}]},
                  {"email": "ann@det-seed.example", "name": "Ann Det"}],
        "groups": [{"name": "Finance", "members": ["ann@det-seed.example"]}],
        "policies": [{"sender": "spam@bad.example", "to": "ann@det-seed.example",
                      "action": "block"}],
    }],
    "messages": [{"file": "mail/hello.eml", "from": "friend@outside.example",
                  "to": ["ann@det-seed.example"]}],
}
YAML = """\
# the same document as SEED, in YAML
accounts:
  - name: Det Seeded
    code: CDETSEED01
    domains:
      - name: det-seed.example
      - {name: pending.det-seed.example, verified: false}
    applications:
      - name: CI
        app_id: aaaaaaaa-1111-2222-3333-444444444444
        app_key: "bbbbbbbb-5555-6666-7777-888888888888"
    users:
      - email: admin@det-seed.example
        name: Det Admin
        password: correct horse
        permissions: admin
        keys:
          - access_key: det-seed-access-key-0123
            secret_key: %s
      - email: ann@det-seed.example
        name: Ann Det
    groups:
      - name: Finance
        members: [ann@det-seed.example]
    policies:
      - sender: spam@bad.example
        to: ann@det-seed.example
        action: block
messages:
  - file: mail/hello.eml
    from: friend@outside.example
    to:
      - ann@det-seed.example
""" % SECRET
HELLO = ("From: Friend <friend@outside.example>\nTo: <ann@det-seed.example>\n"
         "Subject: Deterministic hello\nMessage-ID: <det-1@outside.example>\n\nHello Ann.\n")


def write_seed(d, kind):
    os.makedirs(os.path.join(d, "mail"), exist_ok=True)
    with open(os.path.join(d, "mail", "hello.eml"), "w") as f:
        f.write(HELLO)
    if kind == "json":
        path = os.path.join(d, "seed.json")
        with open(path, "w") as f:
            json.dump(SEED, f)
    else:
        path = os.path.join(d, "seed.yaml")
        with open(path, "w") as f:
            f.write(YAML)
    return path


def run(tmp_path, name, det, kind, port, smtp_port):
    """Starts a fresh server, makes the same calls, stops it: the answers' bodies. Every run
    has the same ports and maildir path (both show in answers: base_url, a delivery's
    route)."""
    d = tmp_path / name
    d.mkdir()
    seed = write_seed(str(d), kind)
    maildir = tmp_path / "maildir"
    shutil.rmtree(str(maildir), ignore_errors=True)
    s = Server(data_dir=str(d), smtp=True,
               args=["--seed", seed, "--deterministic", det, "--auth-cache-ms", "0",
                     "--list-cache-ms", "0", "--maildir-root", str(maildir)])
    s.smtp_port = smtp_port
    s.start(port=port)
    out = []
    try:
        out.append(("control token", s.creds["control_token"].encode()))
        ctl = requests.Session()
        ctl.headers["Authorization"] = "Bearer " + s.creds["control_token"]
        r = ctl.post(s.base + "/__mcapi/accounts",
                     json={"name": "Det Minted", "domain": "minted.example"}, timeout=60)
        assert r.status_code == 201, r.text
        out.append(("minted", r.content))
        m = r.json()
        c = Client(s.base, m["app_id"], m["app_key"], m["access_key"], m["secret_key"])

        def call(uri, data=None):
            resp, body = c.call(uri, data)
            assert resp.status_code == 200 and body["fail"] == [], (uri, resp.text)
            out.append((uri, resp.content))
            return resp.json()

        call("/api/account/get-account")
        call("/api/domain/create-domain", [{"domain": "new.minted.example", "inboundType": "any"}])
        call("/api/domain/get-pending-domain")
        call("/api/domain/get-internal-domain")
        call("/api/user/create-user", [{"emailAddress": "bob@minted.example", "name": "Bob"}])
        call("/api/user/get-internal-users")
        # a message over SMTP to the minted account's domain, processed before we look
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=20) as smtp:
            smtp.sendmail("carol@outside.example", ["bob@minted.example"],
                          "From: carol@outside.example\r\nTo: bob@minted.example\r\n"
                          "Subject: over smtp\r\nMessage-ID: <det-2@outside.example>\r\n\r\n"
                          "Hi Bob.\r\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            b = c.call("/api/message-finder/search", [{
                "start": "2020-01-01T00:00:00+0000", "end": "2099-01-01T00:00:00+0000",
                "advancedTrackAndTraceOptions": {"from": "carol@outside.example"}}])[1]
            tracked = b["data"][0]["trackedEmails"] if b["data"] else []
            # delivered and archived: the end of its way (any number of polls: the
            # record clock stands still, so they leave no trace in what is compared)
            if tracked and all(t.get("status") == "archived" for t in tracked):
                break
            time.sleep(0.2)
        call("/api/message-finder/search", [{
            "start": "2020-01-01T00:00:00+0000", "end": "2099-01-01T00:00:00+0000",
            "advancedTrackAndTraceOptions": {"from": "carol@outside.example"}}])
        call("/api/audit/get-audit-events", [{"startDateTime": "2000-01-01T00:00:00+0000",
                                              "endDateTime": "2099-01-01T00:00:00+0000"}])
        # every SIEM file up to the last token (receipt, process and delivery logs)
        token = None
        for n in range(30):
            item = {"type": "MTA"}
            if token:
                item["token"] = token
            r = c.post("/api/audit/get-siem-logs", {"data": [item]})
            assert r.status_code == 200, r.text
            out.append(("siem %d" % n, r.content))
            if r.headers.get("Content-Type", "").startswith("application/json") and \
                    r.json().get("meta", {}).get("isLastToken") is True:
                break
            token = r.headers["mc-siem-token"]
        else:
            raise AssertionError("no last SIEM token")
        # discovery and login with the minted password
        r = requests.post(s.base + "/api/login/discover-authentication",
                          data=json.dumps({"data": [{"emailAddress": m["email"]}]}),
                          headers={"x-mc-app-id": m["app_id"]}, timeout=30)
        assert r.status_code == 200, r.text
        out.append(("discover", r.content))
        auth = base64.b64encode(("%s:%s" % (m["email"], m["password"])).encode()).decode()
        r = requests.post(s.base + "/api/login/login",
                          data=json.dumps({"data": [{"username": m["email"]}]}),
                          headers={"x-mc-app-id": m["app_id"],
                                   "Authorization": "Basic-Cloud " + auth}, timeout=30)
        assert r.status_code == 200 and r.json()["fail"] == [], r.text
        out.append(("login", r.content))
        k = r.json()["data"][0]
        lc = Client(s.base, m["app_id"], m["app_key"], k["accessKey"], k["secretKey"])
        resp, _ = lc.call("/api/account/get-account")
        assert resp.status_code == 200, resp.text
        out.append(("get-account with the login's keys", resp.content))
        # the seed's account: its pending domain's generated token, users, the seeded mail
        sc = Client(s.base, APP_ID, APP_KEY, "det-seed-access-key-0123", SECRET)
        for uri, data in (("/api/domain/get-pending-domain", None),
                          ("/api/user/get-internal-users", None),
                          ("/api/directory/find-groups", None),
                          ("/api/message-finder/search", [{
                              "start": "2020-01-01T00:00:00+0000",
                              "end": "2099-01-01T00:00:00+0000",
                              "advancedTrackAndTraceOptions": {
                                  "from": "friend@outside.example"}}])):
            resp, _ = sc.call(uri, data)
            assert resp.status_code == 200, (uri, resp.text)
            out.append(("seed " + uri, resp.content))
        # the whole state as the control plane exports it: sealed values and password
        # hashes too (their nonces and salts come from the streams)
        # (but for recipients.next_attempt: the delivery queue's lease times, which follow
        # real time, docs/emulator.md)
        r = ctl.get(s.base + "/__mcapi/snapshot", timeout=60)
        assert r.status_code == 200, r.text
        snap = r.json()
        rcpts = snap["tables"]["recipients"]
        at = rcpts["columns"].index("next_attempt")
        for row in rcpts["rows"]:
            row[at] = None
        out.append(("snapshot", json.dumps(snap).encode()))
    finally:
        assert s.stop() == 0, s.read_log()
    return out


def same(a, b):
    assert [n for n, _ in a] == [n for n, _ in b]
    for (name, x), (_, y) in zip(a, b):
        assert x == y, "%s differs:\n%s\n%s" % (name, x[:2000], y[:2000])


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    port, smtp_port = free_port(), free_port()
    first = run(tmp_path, "a", "seed-one", "json", port, smtp_port)
    second = run(tmp_path, "b", "seed-one", "json", port, smtp_port)
    same(first, second)
    # the YAML twin of the seed file gives the same state, hence the same answers
    same(first, run(tmp_path, "c", "seed-one", "yaml", port, smtp_port))
    other = dict(run(tmp_path, "d", "seed-two", "json", port, smtp_port))
    for name in ("control token", "minted", "login"):
        assert other[name] != dict(first)[name], name


def start_fails(tmp_path, seed):
    """mcapid with this seed stops at start: (exit code, stderr)."""
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(store_env(str(d)))
    p = subprocess.run([MCAPID, "serve", "--listen", "127.0.0.1:%d" % free_port(),
                        "--data-dir", str(d), "--tls-listen", "off", "--smtp-listen", "off",
                        "--seed", seed], capture_output=True, text=True, timeout=60, env=env)
    return p.returncode, p.stderr


def test_bad_yaml_stops_the_start_with_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - name: Broken\n    code: [CBROKEN\n")
    rc, err = start_fails(tmp_path, str(bad))
    lines = [x for x in err.splitlines() if x.startswith("mcapid: ")]
    assert rc != 0 and len(lines) == 1, err
    assert "seed file '%s': line " % bad in lines[0] and " column " in lines[0], err
    # an alias is refused where it stands
    bad.write_text("x: &a [1]\naccounts: *a\n")
    rc, err = start_fails(tmp_path, str(bad))
    assert rc != 0 and "line 2 column 11: an alias (*a)" in err, err
    # a plain 2024 is a number, not a name; quoted it is a string (the test below)
    bad.write_text("accounts:\n  - name: 2024\n")
    rc, err = start_fails(tmp_path, str(bad))
    assert rc != 0 and "accounts[0]: 'name' must be a string" in err, err


def test_a_seed_directory_is_merged_in_name_order(tmp_path):
    d = tmp_path / "seeds"
    (d / "mail").mkdir(parents=True)
    # get-audit-events looks back 60 days
    when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - \
        datetime.timedelta(days=1)
    (d / "mail" / "hello.eml").write_text(HELLO.replace("det-seed", "beta"))
    (d / "10-acme.yaml").write_text("""\
accounts:
  - name: "2024"
    code: CDIRACME1
    applications: [{app_id: %s, app_key: %s}]
    users:
      - email: admin@acme.example
        permissions: admin
        keys: [{access_key: dir-acme-key-0000000001, secret_key: "%s"}]
    audit_events:
      - user: admin@acme.example
        category: authentication_logs
        type: Logon Authentication Failed
        info: "Failed logon from the seed"
        time: %s
""" % (APP_ID, APP_KEY, SECRET, when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    (d / "20-beta.json").write_text(json.dumps({
        "accounts": [{"name": "Beta", "code": "CDIRBETA1", "domains": [{"name": "beta.example"}],
                      "users": [{"email": "ann@beta.example"}]}],
        "messages": [{"file": "mail/hello.eml", "from": "friend@outside.example",
                      "to": ["ann@beta.example"]}]}))
    (d / "README.txt").write_text("not a seed: ignored\n")
    (tmp_path / "data").mkdir()
    s = Server(data_dir=str(tmp_path / "data"), args=["--seed", str(d)]).start()
    try:
        c = Client(s.base, APP_ID, APP_KEY, "dir-acme-key-0000000001", SECRET)
        r, b = c.call("/api/account/get-account")
        assert r.status_code == 200 and b["data"][0]["accountName"] == "2024", r.text
        r, b = c.call("/api/audit/get-audit-events", [{
            "startDateTime": (when - datetime.timedelta(minutes=1)).strftime(ISO),
            "endDateTime": (when + datetime.timedelta(minutes=1)).strftime(ISO)}])
        assert r.status_code == 200, r.text
        assert [(x["auditType"], x["eventInfo"], x["eventTime"]) for x in b["data"]] == [
            ("Logon Authentication Failed", "Failed logon from the seed",
             when.strftime(ISO))], r.text
        # the second file's account, and its message found relative to the directory
        rows = db_rows(s, "SELECT code FROM accounts WHERE code LIKE ? ORDER BY id",
                       ("CDIR%",))
        assert rows == [("CDIRACME1",), ("CDIRBETA1",)]  # name order: acme first
        assert db_rows(s, "SELECT processed FROM messages WHERE subject = ?",
                       ("Deterministic hello",)) == [(1,)]
    finally:
        assert s.stop() == 0, s.read_log()


def test_a_restart_on_the_same_store_mints_new_values(tmp_path):
    """The streams of a second start on the same data directory are not the first's again
    (the same audit ids and keys would collide with the stored ones); the warning says the
    mode is on."""
    d = tmp_path / "data"
    d.mkdir()
    minted = []
    for _ in range(2):
        s = Server(data_dir=str(d), args=["--deterministic", "seed-one"]).start()
        try:
            ctl = requests.Session()
            ctl.headers["Authorization"] = "Bearer " + s.creds["control_token"]
            r = ctl.post(s.base + "/__mcapi/accounts", json={"domain": "restart.example"
                                                             if not minted else
                                                             "restart2.example"}, timeout=60)
            assert r.status_code == 201, r.text
            m = r.json()
            c = Client(s.base, m["app_id"], m["app_key"], m["access_key"], m["secret_key"])
            resp, b = c.call("/api/domain/create-domain", [{"domain": "p.%s" % m["domain"],
                                                            "inboundType": "any"}])
            assert resp.status_code == 200 and b["fail"] == [], resp.text
            minted.append(m)
        finally:
            assert s.stop() == 0, s.read_log()
        assert "WARNING: deterministic mode" in s.read_log()
    assert minted[0]["access_key"] != minted[1]["access_key"]
    assert minted[0]["account_code"] != minted[1]["account_code"]


def test_a_bad_clock_start_stops_the_start(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    env = dict(os.environ)
    env.update(store_env(str(d)))
    p = subprocess.run([MCAPID, "serve", "--listen", "127.0.0.1:%d" % free_port(),
                        "--data-dir", str(d), "--tls-listen", "off", "--smtp-listen", "off",
                        "--deterministic", "x", "--clock-start", "soon"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 1 and "clock_start 'soon' is not an ISO 8601 date" in p.stderr, \
        p.stderr
