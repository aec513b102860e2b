"""`mcapi siem pull` and `mcapi ttp clicks` (docs/client.md).

Two servers: a scripted stand-in (a few lines of http.server that answers exactly what a test
needs: a hostile file name, a failure half-way, an empty zip, a repeated token), so that every
rule of the pull runs on every tree; and the real mcapid built from this tree, with mail
generated through its gateway, where the CLI's files must be byte for byte what a collector
walking the chain itself gets. The real-server tests skip while the tree's mcapid has no
get-siem-logs (404 err_xdk_not_found)."""
import io
import json
import os
import pty
import re
import socket
import subprocess
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mc
from mc import ROOT, Server

CLI = os.environ.get("MCAPI_CLI", os.path.join(ROOT, "build", "mcapi"))
SIEM = "/api/audit/get-siem-logs"
TTP = "/api/ttp/url/get-logs"
TOKEN_FILE = ".mcapi-siem-token"
NAME = re.compile(r"^[a-z_]+_\d{17}\.(json|log)$")


def run(config_env, *args, tty=False, check=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCAPI_")}
    env.update(config_env)
    cmd = [CLI] + [str(a) for a in args]
    if not tty:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        out, err, rc = p.stdout, p.stderr, p.returncode
    else:  # stderr on a terminal: progress is shown
        master, slave = pty.openpty()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        out = p.stdout.read().decode()
        rc = p.wait(timeout=300)
        os.close(master)
        err = b"".join(chunks).decode(errors="replace")
    if check is not None:
        assert rc == check, "%s -> %d\nstdout: %s\nstderr: %s" % (args, rc, out[-2000:], err[-2000:])
    return rc, out, err


def listing(d):
    return sorted(os.listdir(d))


def read_token(d):
    with open(os.path.join(d, TOKEN_FILE)) as f:
        return f.read()


# ---- a scripted stand-in ----------------------------------------------------------------------

class Fake:
    """Answers POSTs from a script: script(path, body) -> (status, headers, bytes). Records
    every request body."""

    def __init__(self):
        self.requests = []
        self.script = None
        fake = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                fake.requests.append((self.path, body))
                status, headers, data = fake.script(self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def env(self):
        return fake_env(self.base)

    def tokens(self):
        return [b["data"][0].get("token") for p, b in self.requests if p == SIEM]


def fake_env(base):
    """Credentials in the environment only (no profile file): the stand-in checks no signature."""
    return {"MCAPI_BASE_URL": base, "MCAPI_APP_ID": "app", "MCAPI_APP_KEY": "key",
            "MCAPI_ACCESS_KEY": "ak", "MCAPI_SECRET_KEY": "c2VjcmV0", "MCAPI_MAX_RETRIES": "0",
            "MCAPI_CONFIG": "/nonexistent/profiles"}


def envelope(meta=None, data=(), fail=()):
    m = {"status": 200}
    m.update(meta or {})
    return json.dumps({"meta": m, "data": list(data), "fail": list(fail)}).encode()


def last_token(token):
    return 200, {"Content-Type": "application/json", "mc-siem-token": token or ""}, \
        envelope({"isLastToken": True})


def a_file(name, data, next_token, ctype="application/json"):
    return 200, {"Content-Type": ctype, "mc-siem-token": next_token,
                 "Content-Disposition": 'attachment; filename="%s"' % name}, data


def json_file(n, first=0):
    return json.dumps({"type": "MTA", "data": [{"acc": "C0A0", "aCode": "a%d" % i}
                                              for i in range(first, first + n)]}).encode()


def zipped(name, data):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        if name:
            z.writestr(name, data)
    return b.getvalue()


@pytest.fixture
def fake():
    f = Fake()
    yield f
    f.httpd.shutdown()


@pytest.fixture
def out_dir():
    """DIR inside a directory of its own, so that a file written beside DIR would show."""
    d = os.path.join(tempfile.mkdtemp(prefix="mcapi-siem-"), "out")
    os.mkdir(d)
    return d


def chain(files):
    """A script serving files [(name, bytes)] one per token t0, t1, ... then the last token."""
    def script(path, body):
        tok = body["data"][0].get("token")
        i = 0 if tok is None else int(tok[1:]) + 1
        if i < len(files):
            return a_file(files[i][0], files[i][1], "t%d" % i)
        return last_token(tok)
    return script


def test_pull_follows_the_chain_and_resumes(fake, out_dir):
    files = [("MTA_20240501100000000.json", json_file(3)),
             ("MTA_20240501100000001.json", json_file(2, 3)),
             ("MTA_20240501100000002.json", json_file(1, 5))]
    fake.script = chain(files)
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, "--format", "json", check=0)
    assert out == "" and err == ""  # quiet when stderr is not a terminal
    assert listing(out_dir) == sorted([TOKEN_FILE] + [n for n, _ in files])
    for n, data in files:
        with open(os.path.join(out_dir, n), "rb") as f:
            assert f.read() == data
    assert read_token(out_dir) == "t2\n"
    assert fake.tokens() == [None, "t0", "t1", "t2"]
    req = fake.requests[0][1]["data"][0]
    assert req == {"type": "MTA", "fileFormat": "json", "compress": False}
    # a second run starts after the last file and finds nothing new
    fake.requests.clear()
    run(fake.env(), "siem", "pull", "--dir", out_dir, check=0)
    assert fake.tokens() == ["t2"]
    assert fake.requests[0][1]["data"][0]["fileFormat"] == "key_value"  # the API's default
    assert listing(out_dir) == sorted([TOKEN_FILE] + [n for n, _ in files])
    # new events arrive: only they are fetched
    files.append(("MTA_20240501100000003.json", json_file(4, 6)))
    fake.requests.clear()
    run(fake.env(), "siem", "pull", "--dir", out_dir, "--format", "json", check=0)
    assert fake.tokens() == ["t2", "t3"]
    assert read_token(out_dir) == "t3\n"
    assert len(listing(out_dir)) == 5


def test_progress_on_a_terminal(fake, out_dir):
    fake.script = chain([("MTA_1.json", json_file(3)), ("MTA_2.json", json_file(4))])
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, tty=True, check=0)
    assert "siem: 2 files, 7 events" in err, err
    assert "MTA_2.json" in err


def test_compressed_answers_are_unpacked_and_an_empty_zip_ends(fake, out_dir):
    def script(path, body):
        tok = body["data"][0].get("token")
        assert body["data"][0]["compress"] is True
        if tok is None:
            return a_file("MTA_1.log", zipped("MTA_1.log", b"datetime=x|aCode=1\n"), "z1",
                          "application/octet-stream")
        if tok == "z1":
            return a_file("MTA_2.log", zipped("MTA_2.log", b"datetime=y|aCode=2\n"), "z2",
                          "application/octet-stream")
        # the end: an empty zip (here without any token header at all)
        return 200, {"Content-Type": "application/octet-stream",
                     "Content-Disposition": 'attachment; filename="MTA_3.log"'}, zipped(None, b"")
    fake.script = script
    run(fake.env(), "siem", "pull", "--dir", out_dir, "--compress", check=0)
    assert listing(out_dir) == [TOKEN_FILE, "MTA_1.log", "MTA_2.log"]
    with open(os.path.join(out_dir, "MTA_2.log"), "rb") as f:
        assert f.read() == b"datetime=y|aCode=2\n"
    assert read_token(out_dir) == "z2\n"  # the empty zip moved nothing
    assert fake.tokens() == [None, "z1", "z2"]


def test_a_repeated_token_ends_the_walk(fake, out_dir):
    def script(path, body):
        tok = body["data"][0].get("token")
        return a_file("MTA_9.json", json_file(1), "same" if tok else "same")
    fake.script = script
    run(fake.env(), "siem", "pull", "--dir", out_dir, check=0)
    assert fake.tokens() == [None, "same"]
    assert read_token(out_dir) == "same\n"


@pytest.mark.parametrize("disposition", [
    'attachment; filename="../escaped.json"', 'attachment; filename="/tmp/abs.json"',
    'attachment; filename="sub/dir.json"', 'attachment; filename=".mcapi-siem-token"',
    'attachment; filename="..json"', 'attachment; filename="nul\x01.json"',
    'attachment; filename=unquoted.json', 'attachment; filename=""'])
def test_hostile_file_names_are_refused(fake, out_dir, disposition):
    def script(path, body):
        return 200, {"Content-Type": "application/json", "mc-siem-token": "evil",
                     "Content-Disposition": disposition}, json_file(1)
    fake.script = script
    abs_before = os.path.exists("/tmp/abs.json")
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, check=1)
    assert "refusing the file" in err, err
    assert listing(out_dir) == []  # no file, no token
    assert listing(os.path.dirname(out_dir)) == ["out"]
    assert os.path.exists("/tmp/abs.json") == abs_before


def test_hostile_zip_entries_are_refused(fake, out_dir):
    def script(path, body):
        return a_file("MTA_1.log", zipped("../escaped.log", b"x\n"), "t", "application/octet-stream")
    fake.script = script
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, "--compress", check=1)
    assert "escaped" in err and listing(out_dir) == []


def test_a_failure_half_way_keeps_what_was_saved(fake, out_dir):
    state = {"broken": True}

    def script(path, body):
        tok = body["data"][0].get("token")
        if tok is None:
            return a_file("MTA_1.json", json_file(2), "t0")
        if state["broken"]:
            return 200, {"Content-Type": "application/json"}, envelope(
                {"isLastToken": False}, fail=[{"errors": [{"code": "err_validation_invalid_value",
                                                          "message": "token is not valid",
                                                          "retryable": False}]}])
        if tok == "t0":
            return a_file("MTA_2.json", json_file(1, 2), "t1")
        return last_token(tok)
    fake.script = script
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, check=1)
    assert "token is not valid (err_validation_invalid_value)" in err, err
    assert listing(out_dir) == [TOKEN_FILE, "MTA_1.json"] and read_token(out_dir) == "t0\n"
    state["broken"] = False
    fake.requests.clear()
    run(fake.env(), "siem", "pull", "--dir", out_dir, check=0)
    assert fake.tokens() == ["t0", "t1"]
    assert listing(out_dir) == [TOKEN_FILE, "MTA_1.json", "MTA_2.json"]


def test_http_errors_and_missing_token(fake, out_dir):
    fake.script = lambda path, body: (401, {"Content-Type": "application/json"}, envelope(
        {"status": 401}, fail=[{"errors": [{"code": "err_xdk_invalid_signature",
                                            "message": "0004 Invalid Signature"}]}]))
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, check=3)  # authentication
    assert "HTTP 401: 0004 Invalid Signature (err_xdk_invalid_signature)" in err, err
    fake.script = lambda path, body: (200, {"Content-Type": "application/json",
                                            "Content-Disposition": 'attachment; filename="M.json"'},
                                      json_file(1))
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, check=1)
    assert "without a usable mc-siem-token" in err, err
    assert listing(out_dir) == []
    fake.script = lambda path, body: (502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>")
    rc, out, err = run(fake.env(), "siem", "pull", "--dir", out_dir, check=4)  # server
    assert "HTTP 502" in err, err


def test_network_and_directory_errors(out_dir):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    env = fake_env("http://127.0.0.1:%d" % port)
    rc, out, err = run(env, "siem", "pull", "--dir", out_dir, check=4)  # network
    assert SIEM in err and ("onnect" in err or "refused" in err), err
    assert listing(out_dir) == []
    f = os.path.join(out_dir, "a-file")
    open(f, "w").close()
    rc, out, err = run(env, "siem", "pull", "--dir", os.path.join(f, "sub"), check=1)
    assert "cannot create" in err, err
    rc, out, err = run(env, "siem", "pull", "--dir", f, check=1)
    assert "is not a directory" in err, err
    with open(os.path.join(out_dir, TOKEN_FILE), "w") as t:
        t.write("two words\n")
    rc, out, err = run(env, "siem", "pull", "--dir", out_dir, check=1)
    assert "does not hold a token" in err, err
    # usage errors are exit 2
    run(env, "siem", "pull", check=2)
    run(env, "siem", "pull", "--dir", out_dir, "--format", "xml", check=2)
    run(env, "siem", "push", check=2)
    rc, out, err = run(env, "siem", "--help", check=0)
    assert "--dir" in out


def test_ttp_clicks_follows_pages(fake):
    logs = [{"userEmailAddress": "u%d@example.com" % i, "fromUserEmailAddress": "f@x.example",
             "url": "https://x.example/%d" % i, "scanResult": "clean", "action": "allow",
             "route": "inbound", "date": "2021-10-16T14:45:34+0000"} for i in range(5)]

    def script(path, body):
        assert path == TTP
        tok = (body.get("meta") or {}).get("pagination", {}).get("pageToken")
        page = logs[:3] if tok is None else logs[3:]
        pag = {"pageSize": len(page)}
        if tok is None:
            pag["next"] = "p2"
        return 200, {"Content-Type": "application/json"}, envelope(
            {"pagination": pag}, data=[{"clickLogs": page}])
    fake.script = script
    rc, out, err = run(fake.env(), "ttp", "clicks", "--from", "2021-10-01T00:00:00+0000",
                       "--route", "inbound", "--result", "clean", "--json", check=0)
    assert json.loads(out) == logs
    first = fake.requests[0][1]["data"][0]
    assert first == {"from": "2021-10-01T00:00:00+0000", "route": "inbound", "scanResult": "clean"}
    rc, out, err = run(fake.env(), "ttp", "clicks", "--output", "table", check=0)
    lines = out.splitlines()
    assert lines[0].split() == ["DATE", "ROUTE", "RESULT", "ACTION", "USER", "FROM", "URL"]
    assert len(lines) == 6 and lines[5].endswith("https://x.example/4")
    run(fake.env(), "ttp", "clicks", "--route", "sideways", check=2)
    fake.script = lambda path, body: (200, {"Content-Type": "application/json"}, envelope(
        fail=[{"errors": [{"code": "err_validation_invalid_value", "field": "from",
                           "message": "not a date"}]}]))
    rc, out, err = run(fake.env(), "ttp", "clicks", "--from", "x", check=1)
    assert "field 'from': not a date (err_validation_invalid_value)" in err, err


# ---- the real mcapid ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    s = Server(smtp=True).start()
    yield s
    assert s.stop() == 0, s.read_log()


def profile_env(server):
    c = server.creds
    return {"MCAPI_BASE_URL": server.base, "MCAPI_APP_ID": c["app_id"], "MCAPI_APP_KEY": c["app_key"],
            "MCAPI_ACCESS_KEY": c["access_key"], "MCAPI_SECRET_KEY": c["secret_key"],
            "MCAPI_CONFIG": "/nonexistent/profiles"}


def need(server, path, item):
    r = server.client().post(path, {"data": [item]})
    if r.status_code == 404 and "err_xdk_not_found" in r.text:
        pytest.skip("this tree's mcapid has no %s yet (404 err_xdk_not_found)" % path)
    return r


def walk(server, fmt, compress, token=None):
    """A collector of its own: {file name: bytes} from token to the end, and the last token."""
    files, c = {}, server.client()
    for _ in range(10000):
        item = {"type": "MTA", "fileFormat": fmt, "compress": compress}
        if token:
            item["token"] = token
        r = c.post(SIEM, {"data": [item]})
        assert r.status_code == 200, r.text
        disp = r.headers.get("Content-Disposition")
        if not disp:
            assert r.json()["meta"]["isLastToken"] is True, r.text
            return files, token
        name = disp.split('="')[1][:-1]
        if compress:  # the files are the zip's entries, whatever the header calls the zip
            z = zipfile.ZipFile(io.BytesIO(r.content))
            if not z.namelist():
                return files, token
            files.update((n, z.read(n)) for n in z.namelist())
        else:
            files[name] = r.content
        nxt = r.headers["mc-siem-token"]
        if nxt == token:
            return files, token
        token = nxt
    raise AssertionError("the chain does not end")


def at_end(server, token):
    """1 when nothing follows token (tokens are sealed afresh, so two walks to the same
    position may hold different strings: compare positions, not strings)."""
    files, _ = walk(server, "json", False, token=token)
    return files == {}


def mail(server, n, seed):
    c = server.client()
    dom = "siem%d.test" % seed
    r, b = c.call("/api/domain/create-domain", [{"domain": dom, "inboundType": "any"}])
    mc.db_exec(server, "UPDATE domains SET state = 1, verified = expiry - 1000 WHERE name = ?", (dom,))
    server.admin("mail", "generate", "--account", server.creds["account_code"], "--count", n,
                 "--seed", seed)


def settled(server):
    """Waits until the gateway has processed and delivered what it was given (nothing left in
    the store's queues; the mail side runs at the lowest CPU priority, so on a busy machine it
    may pause for seconds) and the chain stops growing."""
    prev, end = None, time.time() + 120
    while time.time() < end:
        busy = mc.db_rows(server, "SELECT (SELECT count(*) FROM messages WHERE processed = 0 "
                                  "AND status = 0) + (SELECT count(*) FROM recipients WHERE "
                                  "state IN (0, 1, 3))")[0][0]
        if busy:
            prev = None
            time.sleep(0.5)
            continue
        files, _ = walk(server, "json", False)
        n = sum(len(json.loads(b)["data"]) for b in files.values())
        if n and n == prev:
            return
        prev = n
        time.sleep(1.5)
    raise AssertionError("the SIEM chain did not settle")


def test_real_pull_matches_a_collector_and_resumes(server):
    need(server, SIEM, {"type": "MTA", "fileFormat": "json"})
    mail(server, 40, 1)
    settled(server)
    d = tempfile.mkdtemp(prefix="mcapi-siem-real-")
    env = profile_env(server)
    rc, out, err = run(env, "siem", "pull", "--dir", d, "--format", "json", check=0)
    expect, last = walk(server, "json", False)
    names = [n for n in listing(d) if n != TOKEN_FILE]
    assert names and sorted(names) == sorted(expect)
    assert all(NAME.match(n) for n in names), names
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            assert f.read() == expect[n], n
    stored = read_token(d).rstrip("\n")
    assert at_end(server, stored)
    # nothing new: nothing fetched
    run(env, "siem", "pull", "--dir", d, "--format", "json", check=0)
    assert [n for n in listing(d) if n != TOKEN_FILE] == names
    # more mail: the next run brings exactly the files that follow the stored token
    mail(server, 20, 2)
    settled(server)
    newer, _ = walk(server, "json", False, token=stored)
    assert newer
    run(env, "siem", "pull", "--dir", d, "--format", "json", check=0)
    added = sorted(set(listing(d)) - set(names) - {TOKEN_FILE})
    assert added == sorted(newer)
    for n in added:
        with open(os.path.join(d, n), "rb") as f:
            assert f.read() == newer[n], n
    assert at_end(server, read_token(d).rstrip("\n"))
    seen = [e for n in names for e in json.loads(expect[n])["data"]]
    fresh = [e for n in added for e in json.loads(newer[n])["data"]]
    assert fresh and not any(e in seen for e in fresh)


def test_real_pull_compressed_key_value(server):
    need(server, SIEM, {"type": "MTA", "fileFormat": "key_value", "compress": True})
    mail(server, 30, 3)
    settled(server)
    d = tempfile.mkdtemp(prefix="mcapi-siem-zip-")
    run(profile_env(server), "siem", "pull", "--dir", d, "--compress", check=0)
    expect, _ = walk(server, "key_value", True)
    names = sorted(n for n in listing(d) if n != TOKEN_FILE)
    assert names == sorted(expect) and all(n.endswith(".log") for n in names)
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            body = f.read()
        assert body == expect[n]
        assert all(line.startswith(b"datetime=") for line in body.splitlines() if line)
    assert at_end(server, read_token(d).rstrip("\n"))


def click_event(server, at, n):
    """A ttp_url event as the click endpoint writes it (the keys of the SIEM ttp_url log)."""
    acct = mc.db_rows(server, "SELECT id FROM accounts WHERE code = ?",
                      (server.creds["account_code"],))[0][0]
    data = {"aCode": "c" * 22, "MsgId": "click%d@test.example" % n, "Sender": "news@shop.example",
            "Recipient": "alice@ttp.example", "Route": "Inbound", "Subject": "Offers %d" % n,
            "URL": "https://shop.example/deal?id=%d" % n, "UrlCategory": "Shopping",
            "ScanResult": "clean" if n % 2 else "malicious", "ScanResultInfo": "",
            "Action": "allow" if n % 2 else "block", "SourceIP": "192.0.2.7"}
    mc.db_exec(server, "INSERT INTO mail_events(account_id, message_id, type, at, data) "
                       "VALUES (?, NULL, 'ttp_url', ?, ?)", (acct, at, json.dumps(data)))


def test_real_ttp_clicks(server):
    item = {"from": "2021-10-16T00:00:00+0000", "to": "2021-10-17T00:00:00+0000"}
    need(server, TTP, item)
    for n in range(7):  # 2021-10-16T14:45:34+0000 and on
        click_event(server, 1634395534000 + n * 1000, n)
    expect, body = [], {"data": [item], "meta": {"pagination": {"pageSize": 500}}}
    r = server.client().post(TTP, body)
    assert r.status_code == 200 and r.json()["fail"] == [], r.text
    expect = r.json()["data"][0]["clickLogs"]
    assert len(expect) == 7
    env = profile_env(server)
    rc, out, err = run(env, "ttp", "clicks", "--from", item["from"], "--to", item["to"], "--json",
                       "--page-size", "3", check=0)
    assert json.loads(out) == expect  # three pages joined, nothing lost or repeated
    rc, out, err = run(env, "ttp", "clicks", "--from", item["from"], "--to", item["to"],
                       "--result", "malicious", "-o", "table", check=0)
    rows = out.splitlines()[1:]
    assert len(rows) == 4 and all(" malicious " in x and " block " in x for x in rows), out
    rc, out, err = run(env, "ttp", "clicks", "--from", "not-a-date", check=1)
    assert "err_validation" in err, err
