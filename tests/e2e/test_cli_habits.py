"""The CLI habits of issue 13 against a real mcapid: every exit code provoked (0 ok, 1 some
items failed, 2 usage, 3 authentication, 4 network/server, 5 rate limited after retries),
--output json and ndjson parsed for every command, --query, global options anywhere,
--verbose/--debug with secrets masked, waits announced, write errors (> /dev/full), progress
on a terminal, configure (on a pty, and --from-dev), profile precedence (--effective),
auth status, logout, and the commands of every endpoint family (docs/client.md, "CLI")."""
import contextlib
import http.server
import json
import os
import pty
import re
import select
import subprocess
import tempfile
import threading
import time

import pytest

import mc
from mc import Server
from test_cli import CLI, Cli, set_profile


@pytest.fixture(scope="module")
def cli(server):
    d = tempfile.mkdtemp(prefix="mcapi-habits-")
    c = Cli(os.path.join(d, "profiles"))
    set_profile(c, server)
    return c


def dev(cli, *args, **kw):
    return cli.run("--profile", "dev", *args, **kw)


def parse_ndjson(text):
    return [json.loads(line) for line in text.splitlines()]


def run_on_pty(cmd, env, answers=(), timeout=30):
    """Runs cmd with stdin, stdout and stderr on a pseudo-terminal; answers[i] is typed after
    the i-th prompt (a line ending in ': '). Returns (exit code, everything shown)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execve(cmd[0], cmd, env)
    seen, pending, deadline = b"", list(answers), time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if pending and seen.rstrip(b" ").endswith(b":") and seen.count(b": ") > len(answers) - len(pending):
            os.write(fd, pending.pop(0).encode() + b"\r")
    if time.time() >= deadline:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")


def whole_log(server):
    time.sleep(mc.LOG_FLUSH_WAIT)  # lines are written within --log-flush-ms
    with open(server.log_path, errors="replace") as f:
        return f.read()


def cli_env(cli, extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MCAPI_")}
    e["MCAPI_CONFIG"] = cli.config
    e.update(extra or {})
    return e


# ---- exit codes ---------------------------------------------------------------------------


def test_exit_0_and_1_some_items_failed(cli):
    dev(cli, "account", check=0)
    # one valid and one invalid domain in one call: the valid one is created, exit 1
    p = dev(cli, "domain", "create", "partial-ok.example", "not a domain", check=1)
    out = json.loads(p.stdout)
    assert [d["domain"] for d in out["data"]] == ["partial-ok.example"]
    assert len(out["fail"]) == 1 and "error: 'not a domain'" in p.stderr


def test_exit_2_usage(cli):
    for args in (["account", "--bogus"], ["--bogus"], ["-o", "yaml", "account"],
                 ["--query", "data[", "account"], ["domain", "pending", "--all", "--page-size", "x"],
                 ["hold", "frobnicate"], ["urls", "create", "x.example"], ["logout", "--now"],
                 ["profile", "delete"], ["configure", "--from-dev"], ["auth"]):
        p = dev(cli, *args, check=2)
        assert p.stderr.startswith("error: "), (args, p.stderr)


def test_exit_3_authentication(cli, server):
    set_profile(cli, server, "wrongkey")
    cli.run("profile", "set", "wrongkey", "secret_key=" + "QUJD" * 11, check=0)
    p = cli.run("--profile", "wrongkey", "account", check=3)  # 401
    assert "HTTP 401" in p.stderr
    p = cli.run("--profile", "wrongkey", "auth", "status", "-o", "json", check=3)
    assert json.loads(p.stdout)["authenticated"] is False
    # 418: keys whose binding was ended by a logout
    c = server.creds
    cli.run("--profile", "ended", "login", "--email", c["email"], "--password-stdin",
            "--base-url", server.base, "--app-id", c["app_id"], "--app-key", c["app_key"],
            input=c["password"] + "\n", check=0)
    text = open(cli.config).read().split("[ended]", 1)[1].split("\n[", 1)[0]
    keys = dict(line.split(" = ", 1) for line in text.strip().splitlines())
    out = cli.json("--profile", "ended", "logout", "-o", "json")
    assert out == {"profile": "ended", "bindingEnded": True, "keysRemoved": True}
    p = cli.run("--profile", "ended", "account", check=3)  # the keys are gone from the profile
    assert "access_key" in p.stderr
    env = {"MCAPI_ACCESS_KEY": keys["access_key"], "MCAPI_SECRET_KEY": keys["secret_key"]}
    p = cli.run("--profile", "ended", "account", env=env, check=3)
    assert "HTTP 418" in p.stderr, p.stderr
    # a refused login is an authentication failure too
    cli.run("--profile", "x", "login", "--email", c["email"], "--password-stdin", "--base-url",
            server.base, "--app-id", c["app_id"], input="wrong\n", check=3)


def stub_handler(status, code, message, headers):
    """A handler that answers every POST with status and one error envelope, counting calls:
    a server that is down (503) or rate limits everyone (429), as a client sees it."""
    body = json.dumps({"meta": {"status": status}, "data": [], "fail": [
        {"errors": [{"code": code, "message": message, "retryable": True}]}]}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        calls = 0

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            type(self).calls += 1
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    return Handler


@contextlib.contextmanager
def stub_server(handler):
    """Serves handler on a loopback port for the block; yields its base URL."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d" % httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_exit_4_network_and_server(cli, server):
    set_profile(cli, server, "refused")
    cli.run("profile", "set", "refused", "base_url=http://127.0.0.1:1", check=0)
    p = cli.run("--profile", "refused", "account", "--max-retries", "0", check=4)
    assert "error: /api/account/get-account: " in p.stderr
    # a 5xx after every retry (the retry announced on stderr)
    with stub_server(stub_handler(503, "err_xdk_unavailable", "down",
                                  [("Retry-After", "0")])) as base:
        p = dev(cli, "account", "--base-url", base, "--max-retries", "1", check=4)
        assert re.search(r"note: HTTP 503; retrying in \d+\.\d s \(attempt 2 of 2\)", p.stderr), p.stderr
        assert "HTTP 503" in p.stderr.splitlines()[-1]


def test_exit_5_rate_limited_after_retries(cli):
    # always rate limited, asking for a short wait: what a client sees when other clients of
    # the same keys take every call the bucket adds back
    h = stub_handler(429, "err_xdk_rate_limit_exceeded", "rate limit exceeded",
                     [("X-RateLimit-Limit", "1"), ("X-RateLimit-Remaining", "0"),
                      ("X-RateLimit-Reset", "50")])
    with stub_server(h) as base:
        p = dev(cli, "account", "--base-url", base, "--max-retries", "2", check=5)
        notes = re.findall(r"^note: HTTP 429 \(rate limited\); retrying in \d+\.\d s "
                           r"\(attempt (\d) of 3\)$", p.stderr, re.M)
        assert notes == ["2", "3"], p.stderr
        assert "err_xdk_rate_limit_exceeded" in p.stderr.splitlines()[-1], p.stderr
        assert h.calls == 3


def test_exit_5_rate_limited():
    # one call per 5 s: the calls below follow each other well within that
    s = Server(args=["--rate-limit", "1", "--rate-refill-ms", "5000", "--ip-limit", "100000"]).start()
    try:
        c = Cli(os.path.join(tempfile.mkdtemp(prefix="mcapi-rl5-"), "profiles"))
        set_profile(c, s)
        c.run("--profile", "dev", "account", check=0)  # the one call of the bucket
        p = c.run("--profile", "dev", "account", "--max-retries", "0", check=5)
        assert "err_xdk_rate_limit_exceeded" in p.stderr
        # with retries the wait is announced and the call goes through
        p = c.run("--profile", "dev", "account", "--max-retries", "2", check=0)
        assert re.search(r"note: HTTP 429 \(rate limited\); retrying in \d+\.\d s", p.stderr), p.stderr
    finally:
        assert s.stop() == 0


# ---- output formats -------------------------------------------------------------------------

# every command with arguments that work against a fresh server; test_format_lists_are_complete
# checks them against the usage lines of every command of the table (help prints text and
# completion prints shell scripts and word lists: both are left out)
COMMANDS = [
    ["account"],
    ["audit", "--from", "2000-01-01T00:00:00+0000", "--to", "2100-01-01T00:00:00+0000"],
    ["audit", "categories"],
    ["auth", "status"],
    ["call", "/api/account/get-account"],
    ["dlp", "logs"],
    ["domain", "create", "fmt.example"],
    ["domain", "pending", "--all"],
    ["domain", "dns", "fmt.example"],
    ["domain", "code", "fmt.example"],
    ["domain", "status"],
    ["domain", "internal"],
    ["groups", "list"],
    ["hold", "list", "--admin"],
    ["hold", "summary"],
    ["messages", "search"],
    ["messages", "processing"],
    ["messages", "queues", "--start", "2024-01-01T00:00:00+0000", "--end", "2024-01-02T00:00:00+0000"],
    ["profile", "list"],
    ["profile", "show"],
    ["profile", "show", "--effective"],
    ["profile", "set", "fmtprof", "timeout_ms=5000"],
    ["senders", "policies", "list"],
    ["siem", "pull", "--dir", "SIEMDIR", "--max-files", "1"],
    ["ttp", "clicks"],
    ["ttp", "attachments"],
    ["ttp", "impersonation"],
    ["urls", "list"],
    ["urls", "create", "https://FMT.fmt.example/x", "--action", "block"],  # FMT: the format
    ["urls", "decode", "https://example.com/x"],
    ["users", "list"],
    ["groups", "create", "fmt-group"],
    ["senders", "permit", "a@sender.example", "--to", "fmt@fmt.example"],
    ["senders", "block", "b@sender.example", "--to", "fmt@fmt.example"],
    ["senders", "policies", "create", "--description", "fmt policy"],
    ["call", "--all", "/api/domain/get-pending-domain"],
    ["version"],
]
# sub-commands whose answer says that items failed (exit 1): the answer is still printed
FAILING = [
    ["hold", "release", "nosuchid"],
    ["users", "update", "nobody@fmt.example", "--name", "Fmt Two"],
    ["hold", "reject", "nosuchid"],
    ["messages", "info", "nosuchid"],
    ["urls", "delete", "nosuchid"],
    ["domain", "verify", "fmt.example"],
    ["domain", "delete", "nosuch-fmt.example"],
    ["senders", "policies", "delete", "nosuchid"],
    ["groups", "members", "nosuchid"],
    ["groups", "add", "nosuchid", "--email", "a@fmt.example"],
    ["groups", "remove", "nosuchid", "--domain", "fmt.example"],
    # a fresh server has no verified (internal) domain: test_directory.py creates users
    ["users", "create", "fmt@fmt.example", "--name", "Fmt"],
]
# the commands that write profiles, run by test_output_configure_login_logout_delete
PROFILE_WRITERS = [["configure", "--from-dev"], ["login"], ["logout"], ["profile", "delete"]]
NOT_JSON = ("help", "completion")


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
@pytest.mark.parametrize("args", COMMANDS + FAILING, ids=lambda a: "-".join(a[:2]))
def test_output_parses_for_every_command(cli, args, fmt):
    want = 1 if args in FAILING else 0
    args = [tempfile.mkdtemp(prefix="siem-") if a == "SIEMDIR" else a.replace("FMT", fmt)
            for a in args]
    p = dev(cli, "--output", fmt, *args)
    assert p.returncode == want, (args, p.returncode, p.stderr)
    if fmt == "json":
        json.loads(p.stdout)
    else:  # one record a line; no records is no line
        parse_ndjson(p.stdout)


def usage_forms(cli):
    """Every form of every command of the table, from the usage lines of its --help: the
    command's name and the literal sub-command words after it ('senders policies create'),
    alternatives split ('ttp clicks|attachments|impersonation' is three forms)."""
    names = [l.split("\t")[0] for l in cli.run("completion", "commands", check=0).stdout.splitlines()]
    forms = set()
    for name in names:
        if name in NOT_JSON:
            continue
        text = cli.run(name, "--help", check=0).stdout
        found = False
        for line in text.splitlines():
            m = re.match(r"^(?:usage:)?\s*mcapi\s+((?:\[[^]]*\]\s+)*)(\S+)(.*)$", line)
            if not m or m.group(2) != name:
                continue
            found = True
            words = []
            for tok in m.group(3).split():
                if not re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", tok):
                    break
                words.append(tok.split("|"))
            todo = [[name]]
            for alts in words:
                todo = [f + [a] for f in todo for a in alts]
            forms.update(tuple(f) for f in todo)
        assert found, (name, text)
    return forms


def test_format_lists_are_complete(cli):
    """A command or sub-command added to the table (or to a command's usage) without a row
    in COMMANDS, FAILING or PROFILE_WRITERS fails here, so the format test cannot go stale."""
    forms = usage_forms(cli)
    assert ("senders", "policies", "create") in forms and ("ttp", "impersonation") in forms
    assert ("auth", "status") in forms and ("account",) in forms
    covered = set()
    for args in COMMANDS + FAILING + PROFILE_WRITERS:
        # the longest form the arguments start with
        match = max((f for f in forms if tuple(args[:len(f)]) == f), key=len, default=None)
        assert match, ("no such command form", args)
        covered.add(match)
    assert sorted(forms - covered) == [], "commands with no --output json/ndjson check"


def test_every_server_endpoint_has_a_command(cli, server):
    """Each path of the server's route table (src/server/router.c) is requested by one of the
    rows above: run with --verbose, every request names its path on stderr. login's two
    unsigned calls are not traced (mcapi_login); the login below makes them. A new endpoint
    without a command fails here (or goes into VIA_CALL, documented as reached with
    'mcapi call')."""
    untraced = {"/api/login/discover-authentication", "/api/login/login"}
    VIA_CALL = set()
    with open(os.path.join(mc.ROOT, "src", "server", "router.c")) as f:
        routes = set(re.findall(r'^\s*\{"(/api/[^"]+)", ROUTE_', f.read(), re.M))
    assert "/api/account/get-account" in routes and len(routes) > 30, routes
    asked = set()

    def run(*args, **kw):
        p = cli.run("--verbose", "-o", "json", *args, **kw)
        asked.update(re.findall(r"^> POST http://[^/]+(/api/\S+) \(attempt", p.stderr, re.M))

    for args in COMMANDS + FAILING:
        run("--profile", "dev", *[tempfile.mkdtemp(prefix="siem-") if a == "SIEMDIR"
                                  else a.replace("FMT", "ep") for a in args])
    c = server.creds
    cli.run("--profile", "ep", "login", "--email", c["email"], "--password-stdin", "--base-url",
            server.base, "--app-id", c["app_id"], "--app-key", c["app_key"],
            input=c["password"] + "\n", check=0)
    run("--profile", "ep", "logout")
    assert sorted(routes - asked - untraced - VIA_CALL) == []
    assert asked <= routes, asked - routes


def test_help_from_the_command_table(cli):
    p = cli.run("--help", check=0)
    names = [l.split()[0] for l in p.stdout.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    for want in ("account", "domain", "login", "logout", "audit", "siem", "ttp", "dlp", "hold",
                 "messages", "users", "groups", "senders", "urls", "call", "configure", "profile",
                 "auth"):
        assert want in names
    for name in names:
        if name in ("version", "help"):
            continue
        p = cli.run(name, "--help", check=0)
        assert p.stdout.startswith("usage: mcapi"), name
        assert cli.run("help", name, check=0).stdout == p.stdout, name


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_output_configure_login_logout_delete(cli, server, fmt):
    c = server.creds
    name = "fmt2-" + fmt

    def one(p):  # the single record each of these commands prints
        recs = [json.loads(p.stdout)] if fmt == "json" else parse_ndjson(p.stdout)
        assert p.returncode == 0 and len(recs) == 1, (p.stdout, p.stderr)
        return recs[0]

    out = one(cli.run("--profile", name, "-o", fmt, "configure", "--from-dev",
                      os.path.join(server.data_dir, "dev-credentials.json")))
    assert out["profile"] == name
    out = one(cli.run("--profile", name, "-o", fmt, "login", "--email", c["email"],
                      "--password-stdin", input=c["password"] + "\n"))
    assert out["profile"] == name
    assert one(cli.run("--profile", name, "-o", fmt, "logout"))["bindingEnded"] is True
    assert one(cli.run("-o", fmt, "profile", "delete", name))["deleted"] is True
    assert name not in cli.run("profile", "list", "-o", "text", check=0).stdout


def test_default_output_and_table(cli):
    # piped: JSON; --output table: columns named after the members
    out = json.loads(dev(cli, "domain", "pending", check=0).stdout)
    assert "data" in out
    p = dev(cli, "-o", "table", "domain", "create", "tbl.example", check=0)
    head = p.stdout.splitlines()[0].split()
    assert "domain" in head and "token" in head
    p = dev(cli, "-o", "text", "--query", "data[*].domain", "domain", "pending", "--all", check=0)
    assert "tbl.example" in p.stdout.splitlines()
    # MCAPI_OUTPUT sets the default, the flag wins over it
    p = dev(cli, "domain", "pending", env={"MCAPI_OUTPUT": "ndjson"}, check=0)
    parse_ndjson(p.stdout)
    p = dev(cli, "-o", "json", "domain", "pending", env={"MCAPI_OUTPUT": "ndjson"}, check=0)
    assert "data" in json.loads(p.stdout)


def test_table_on_a_terminal(cli):
    rc, shown = run_on_pty([CLI, "--profile", "dev", "audit", "categories"], cli_env(cli))
    lines = shown.replace("\r", "").splitlines()
    assert rc == 0 and lines[0].split() == ["code", "name"], shown
    assert any(l.split()[0] == "authentication_logs" for l in lines[1:])
    rc, shown = run_on_pty([CLI, "--profile", "dev", "-o", "json", "audit", "categories"],
                           cli_env(cli))
    assert json.loads(shown.replace("\r", ""))["fail"] == []


def test_query(cli):
    for d in ("q1.example", "q2.example"):
        dev(cli, "domain", "create", d, check=0)
    names = cli.json("--profile", "dev", "domain", "pending", "--all", "--query", "data[*].domain")
    assert "q1.example" in names and "q2.example" in names
    assert cli.json("--profile", "dev", "--query", "data[0].domain", "domain", "pending",
                    "q1.example") == "q1.example"
    assert cli.json("--profile", "dev", "--query", "data[-1].domain", "domain", "pending",
                    "q1.example", "q2.example") in ("q1.example", "q2.example")
    assert cli.json("--profile", "dev", "--query", "meta.status", "account") == 200
    assert cli.json("--profile", "dev", "--query", "data[5].nothing", "account") is None
    assert cli.json("--profile", "dev", "--query", '"data"[0]."accountCode"', "account")
    p = dev(cli, "-o", "ndjson", "--query", "data[*].domain", "domain", "pending", "q1.example",
            "q2.example", check=0)
    assert sorted(parse_ndjson(p.stdout)) == ["q1.example", "q2.example"]
    for bad in ("data[x]", "data..domain", "data[", "a b"):
        p = dev(cli, "--query", bad, "account", check=2)
        assert "bad --query" in p.stderr


def test_global_options_anywhere(cli, server):
    want = server.creds["account_code"]
    for args in (["account", "--profile", "dev", "-o", "json"],
                 ["-o", "json", "account", "--profile=dev"],
                 ["--output=json", "--profile", "dev", "account", "--query", "data[0]"],
                 ["account", "-p", "dev", "--verbose"]):
        p = cli.run(*args, check=0)
        out = json.loads(p.stdout)
        out = out["data"][0] if "data" in out else out
        assert out["accountCode"] == want, args
    # after a lone "--" nothing is taken as a global option
    p = cli.run("--profile", "dev", "call", "--", "--profile", check=2)
    assert "error: " in p.stderr


def test_write_errors(cli):
    with open("/dev/full", "w") as full:
        for args in (["account"], ["-o", "ndjson", "domain", "pending", "--all"],
                     ["profile", "list"], ["-o", "json", "version"]):
            p = subprocess.run([CLI, "--profile", "dev"] + args, stdout=full, stderr=subprocess.PIPE,
                               text=True, env=cli_env(cli), timeout=60)
            assert p.returncode == 1, (args, p.returncode, p.stderr)
            assert "error: cannot write the output" in p.stderr, p.stderr


# ---- verbose, secrets, progress ---------------------------------------------------------------


def test_verbose_and_debug_mask_secrets(cli, server):
    c = server.creds
    p = dev(cli, "--verbose", "account", check=0)
    assert re.search(r"^> POST http://127\.0\.0\.1:\d+/api/account/get-account \(attempt 1 of 5, "
                     r"x-mc-req-id [0-9a-f-]+\)$", p.stderr, re.M), p.stderr
    assert re.search(r"^< HTTP 200 \(\d+ ms, \d+ bytes\)$", p.stderr, re.M), p.stderr
    dev(cli, "domain", "create", "users-dbg.example", check=0)
    secret_pw = "Pw-Never-Shown-4711"
    p = dev(cli, "--debug", "users", "create", "dbg@users-dbg.example", "--password-stdin",
            input=secret_pw + "\n")
    assert "> Authorization: MC ****:****" in p.stderr, p.stderr
    assert '"password":"****"' in p.stderr, p.stderr
    assert "< X-RateLimit-Limit" in p.stderr or "< x-ratelimit-limit" in p.stderr.lower()
    for s in (c["secret_key"], c["access_key"], c["app_key"], secret_pw, c["password"]):
        assert s not in p.stderr and s not in p.stdout
    assert secret_pw not in whole_log(server)
    # a login traced with --debug shows neither the password nor the keys it returns
    p = cli.run("--profile", "dbglogin", "--debug", "login", "--email", c["email"],
                "--password-stdin", "--base-url", server.base, "--app-id", c["app_id"],
                input=c["password"] + "\n", check=0)
    assert c["password"] not in p.stderr + p.stdout
    text = open(cli.config).read().split("[dbglogin]", 1)[1].split("\n[", 1)[0]
    keys = dict(line.split(" = ", 1) for line in text.strip().splitlines())
    p = cli.run("--profile", "dbglogin", "--debug", "account", env={"MCAPI_APP_KEY": c["app_key"]},
                check=0)
    assert keys["access_key"] not in p.stderr and keys["secret_key"] not in p.stderr


def test_password_never_an_argument(cli, server):
    c = server.creds
    # while login waits for the password, its command line (what ps shows) has none
    p = subprocess.Popen([CLI, "--profile", "pslogin", "login", "--email", c["email"],
                          "--password-stdin", "--base-url", server.base, "--app-id", c["app_id"]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=cli_env(cli), text=True)
    argv = ""
    for _ in range(200):  # the child may not have exec'd yet (its cmdline is empty until then)
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            argv = f.read().decode()
        if "login" in argv:
            break
        time.sleep(0.01)
    out, err = p.communicate(c["password"] + "\n", timeout=60)
    assert p.returncode == 0, err
    assert "--password-stdin" in argv and c["password"] not in argv
    # nor does the server's log hold it (past the --dev banner, which prints the credentials)
    log = whole_log(server)
    i = log.index("development credentials (shown once")  # the --dev banner prints them once
    log = log[:i] + log[log.index("\n}\n", i):]
    assert c["password"] not in log
    p = dev(cli, "login", "--email", "a@b.example", "--password", "hunter2", check=2)
    assert "--password-stdin" in p.stderr
    dev(cli, "users", "create", "x@y.example", "--password", "hunter2", check=2)
    dev(cli, "users", "create", "x@y.example", "--password=hunter2", check=2)


def test_progress_on_a_terminal(cli):
    for i in range(12):
        dev(cli, "domain", "create", "prog%02d.example" % i, check=0)
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, "--profile", "dev", "domain", "pending", "--all", "--page-size", "3"],
                         stdout=subprocess.PIPE, stderr=slave, env=cli_env(cli))
    os.close(slave)
    err = b""
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        err += b
    out = p.stdout.read()
    assert p.wait(timeout=60) == 0
    os.close(master)
    assert re.search(rb"\r/api/domain/get-pending-domain: \d+ pages, \d+ records", err), err
    assert len(json.loads(out)["data"]) >= 12
    # not a terminal: no progress
    p = dev(cli, "domain", "pending", "--all", "--page-size", "3", check=0)
    assert p.stderr == ""


# ---- profiles -------------------------------------------------------------------------------


def test_configure_interactive_on_a_pty(cli, server):
    c = server.creds
    answers = [server.base, c["app_id"], c["app_key"], c["access_key"], c["secret_key"]]
    rc, shown = run_on_pty([CLI, "--profile", "typed", "configure"], cli_env(cli), answers)
    assert rc == 0, shown
    for a in ("Base URL [", "Application id [", "Application key [", "Secret key ["):
        assert a in shown, shown
    # the keys were typed with echo off: never shown
    for s in (c["app_key"], c["access_key"], c["secret_key"]):
        assert s not in shown, shown
    out = cli.json("--profile", "typed", "auth", "status", "-o", "json")
    assert out["authenticated"] is True and out["accountCode"] == c["account_code"]
    # run again: Enter keeps every value, the current ones shown masked
    rc, shown = run_on_pty([CLI, "--profile", "typed", "configure"], cli_env(cli),
                           ["", "", "", "", ""])
    assert rc == 0 and "Base URL [%s]" % server.base in shown and c["secret_key"] not in shown
    assert cli.json("--profile", "typed", "auth", "status")["authenticated"] is True
    # an unusable secret key is refused and nothing is written
    before = open(cli.config).read()
    rc, shown = run_on_pty([CLI, "--profile", "typed", "configure"], cli_env(cli),
                           ["", "", "", "", "not base64!"])
    assert rc == 2 and "not valid base64" in shown
    assert open(cli.config).read() == before


def test_configure_from_dev(cli, server):
    c = server.creds
    path = os.path.join(server.data_dir, "dev-credentials.json")
    cli.run("--profile", "fromdev", "configure", "--from-dev", path, check=0)
    out = cli.json("--profile", "fromdev", "account")
    assert out["data"][0]["accountCode"] == c["account_code"]
    p = cli.run("--profile", "fromdev", "configure", "--from-dev", "/nonexistent.json", check=2)
    assert "cannot read" in p.stderr


def test_precedence_flag_env_profile(cli, server):
    set_profile(cli, server, "prec")
    cli.run("profile", "set", "prec", "base_url=http://127.0.0.1:1", check=0)

    def effective(*args, env=None):
        p = cli.run("--profile", "prec", "profile", "show", "--effective", "-o", "json", *args,
                    env=env, check=0)
        return {r["key"]: r for r in json.loads(p.stdout)}

    e = effective()
    assert e["base_url"] == {"key": "base_url", "value": "http://127.0.0.1:1", "source": "profile"}
    assert e["profile"]["value"] == "prec" and e["profile"]["source"] == "--profile"
    assert e["max_retries"] == {"key": "max_retries", "value": "4", "source": "default"}
    assert e["secret_key"]["value"].startswith("********")
    e = effective(env={"MCAPI_BASE_URL": server.base})
    assert e["base_url"]["value"] == server.base and e["base_url"]["source"] == "MCAPI_BASE_URL"
    e = effective("--base-url", "http://127.0.0.1:2", "--max-retries", "0",
                  env={"MCAPI_BASE_URL": server.base, "MCAPI_MAX_RETRIES": "3"})
    assert e["base_url"]["source"] == "--base-url" and e["max_retries"]["value"] == "0"
    # and calls follow the same order: env over profile, flag over env
    cli.run("--profile", "prec", "account", env={"MCAPI_BASE_URL": server.base}, check=0)
    cli.run("--profile", "prec", "account", "--base-url", "http://127.0.0.1:1", "--max-retries",
            "0", env={"MCAPI_BASE_URL": server.base}, check=4)
    cli.run("--profile", "prec", "account", "--base-url", server.base, check=0)
    # MCAPI_PROFILE selects the profile when --profile is absent
    p = cli.run("profile", "show", "--effective", "-o", "json", env={"MCAPI_PROFILE": "prec"}, check=0)
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert rows["profile"] == {"key": "profile", "value": "prec", "source": "MCAPI_PROFILE"}


def test_profile_delete_and_auth_status(cli, server):
    set_profile(cli, server, "gone")
    assert cli.json("--profile", "gone", "auth", "status")["authenticated"] is True
    cli.run("profile", "delete", "gone", check=0)
    p = cli.run("profile", "delete", "gone", check=1)
    assert "does not exist" in p.stderr
    assert "gone" not in [r["name"] for r in cli.json("profile", "list")]
    # no keys at all: an authentication problem
    cli.run("profile", "set", "nokeys", "base_url=" + server.base, check=0)
    p = cli.run("--profile", "nokeys", "auth", "status", check=3)
    assert "is not set" in p.stderr


# ---- every endpoint family ------------------------------------------------------------------


def test_domain_dns_record(cli):
    rec = cli.json("--profile", "dev", "domain", "create", "dns-rec.example")["data"][0]
    out = cli.json("--profile", "dev", "domain", "dns", "dns-rec.example")
    assert out["data"] == [{"domain": "dns-rec.example", "name": "dns-rec.example", "type": "TXT",
                            "value": rec["token"]}]
    p = dev(cli, "-o", "text", "--query", "data[*]", "domain", "dns", "dns-rec.example", check=0)
    assert p.stdout.split("\t")[1:] == ["dns-rec.example", "TXT", rec["token"] + "\n"]


def test_managed_urls(cli):
    e = cli.json("--profile", "dev", "urls", "create", "https://bad.example/path", "--action",
                 "block", "--comment", "cli")["data"][0]
    assert e["action"] == "block" and e["domain"] == "bad.example" and e["id"]
    ids = cli.json("--profile", "dev", "urls", "list", "--all", "--query", "data[*].id")
    assert e["id"] in ids
    out = cli.json("--profile", "dev", "urls", "decode", "https://not-ours.example/")
    assert out["data"][0]["success"] is False
    cli.json("--profile", "dev", "urls", "delete", e["id"])
    assert e["id"] not in cli.json("--profile", "dev", "urls", "list", "--query", "data[*].id")
    # an id may begin with '-' (base64url): an operand, not an option; the server answers
    p = dev(cli, "urls", "delete", "-ZbRCDA2rYVV2mR-y86ouw", check=1)
    assert "unexpected argument" not in p.stderr and "err_" in p.stderr, p.stderr
    assert dev(cli, "urls", "delete", "--bogus", check=2).returncode == 2


def test_hold_messages_logs(cli):
    out = cli.json("--profile", "dev", "hold", "list", "--admin", "--route", "inbound",
                   "--search", "x", "--search-by", "subject")
    assert out["fail"] == [] and out["data"] == []
    assert cli.json("--profile", "dev", "hold", "summary")["fail"] == []
    p = dev(cli, "hold", "release", "nosuchid", check=1)
    assert "err_hold_message_not_found" in p.stderr or "err_validation" in p.stderr, p.stderr
    p = dev(cli, "hold", "reject", "nosuchid", "--reason", "MESSAGE_CONTAINS_UNDESIRABLE_CONTENT",
            check=1)
    assert json.loads(p.stdout)["fail"]
    out = cli.json("--profile", "dev", "messages", "search", "--from", "nobody@example.com")
    assert out["fail"] == []
    assert cli.json("--profile", "dev", "messages", "processing", "--all")["fail"] == []
    out = cli.json("--profile", "dev", "messages", "queues", "--start", "2024-01-01T00:00:00+0000",
                   "--end", "2024-01-01T03:00:00+0000")
    assert "inboundEmailQueue" in out["data"][0]
    p = dev(cli, "messages", "info", "nosuchid", check=1)
    assert "err_message_not_found" in p.stderr or "err_validation" in p.stderr, p.stderr
    for cmd in (["ttp", "attachments"], ["ttp", "impersonation"], ["dlp", "logs"]):
        assert cli.json("--profile", "dev", *cmd) == []
