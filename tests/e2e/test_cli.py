"""The mcapi command-line client against a real mcapid: profiles from the development
credentials, account, the domain commands, raw calls with Python-literal bodies, --all over
several pages, a 429 retried transparently, login storing keys into a profile, usage errors
(exit 2) and clear errors for unknown profiles and refused calls (exit 1). The CLI habits of
issue 13 (exit codes, --output, --query, global flags, --verbose, write errors, profiles,
configure, auth status, logout, the commands of every endpoint family) are in
test_cli_habits.py."""
import json
import os
import re
import stat
import subprocess
import tempfile
import time

import pytest

import mc
from mc import ROOT, Server

CLI = os.environ.get("MCAPI_CLI", os.path.join(ROOT, "build", "mcapi"))


class Cli:
    def __init__(self, config):
        self.config = config

    def run(self, *args, input=None, env=None, check=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MCAPI_")}
        e["MCAPI_CONFIG"] = self.config
        e.update(env or {})
        p = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                           input=input, env=e, timeout=120)
        if check is not None:
            assert p.returncode == check, "%s -> %d\nstdout: %s\nstderr: %s" % (
                args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
        return p

    def json(self, *args, **kw):
        p = self.run(*args, check=0, **kw)
        return json.loads(p.stdout)


def set_profile(cli, server, name="dev"):
    c = server.creds
    cli.run("profile", "set", name, "base_url=" + server.base, "app_id=" + c["app_id"],
            "app_key=" + c["app_key"], "access_key=" + c["access_key"], "secret_key=-",
            input=c["secret_key"] + "\n", check=0)


@pytest.fixture(scope="module")
def cli(server):
    d = tempfile.mkdtemp(prefix="mcapi-cli-")
    c = Cli(os.path.join(d, "conf", "profiles"))
    set_profile(c, server)
    return c


def test_profile_file_and_show(cli, server):
    c = server.creds
    st = os.stat(cli.config)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(cli.config)).st_mode) == 0o700
    p = cli.run("profile", "show", "dev", check=0)
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert rows["base_url"]["value"] == server.base
    assert c["secret_key"] not in p.stdout + p.stderr
    assert c["app_key"] not in p.stdout + p.stderr
    assert c["access_key"] not in p.stdout + p.stderr
    assert rows["secret_key"]["value"].startswith("********")
    out = cli.json("--profile", "dev", "profile", "list")
    assert out == [{"name": "dev", "active": True, "base_url": server.base}]
    # the environment wins over the profile, and show says so
    p = cli.run("profile", "show", "dev", env={"MCAPI_BASE_URL": "http://other"}, check=0)
    rows = {r["key"]: r for r in json.loads(p.stdout)}
    assert rows["base_url"]["overriddenBy"] == "MCAPI_BASE_URL"
    # on a terminal-less table: KEY VALUE SOURCE columns
    p = cli.run("profile", "show", "dev", "--output", "table", check=0)
    assert p.stdout.split("\n")[0].split() == ["key", "value", "source"]
    assert "secret_key" in p.stdout and c["secret_key"] not in p.stdout


def test_account(cli, server):
    out = cli.json("--profile", "dev", "account")
    assert out["meta"]["status"] == 200 and out["fail"] == []
    assert out["data"][0]["accountCode"] == server.creds["account_code"]
    # MCAPI_PROFILE selects the profile too
    out = cli.json("account", env={"MCAPI_PROFILE": "dev"})
    assert out["data"][0]["accountCode"] == server.creds["account_code"]


def test_domain_lifecycle(cli):
    out = cli.json("--profile", "dev", "domain", "create", "cli-one.example", "--inbound", "smtp")
    rec = out["data"][0]
    assert rec["domain"] == "cli-one.example" and rec["token"] and rec["id"]
    pend = cli.json("--profile", "dev", "domain", "pending", "cli-one.example")
    assert [d["domain"] for d in pend["data"]] == ["cli-one.example"]
    code = cli.json("--profile", "dev", "domain", "code", "cli-one.example")
    assert code["data"][0]["token"] == rec["token"]
    status = cli.json("--profile", "dev", "domain", "status", "cli-one.example")
    assert status["data"][0]["status"] == "pending"
    internal = cli.json("--profile", "dev", "domain", "internal")
    assert internal["fail"] == []
    gone = cli.json("--profile", "dev", "domain", "delete", "cli-one.example")
    assert gone["data"][0]["deleted"] is True
    # a function-level failure: exit 1, the answer on stdout, the error on stderr
    p = cli.run("--profile", "dev", "domain", "code", "cli-one.example", check=1)
    assert json.loads(p.stdout)["fail"][0]["errors"][0]["code"] == "err_domain_not_found"
    assert re.search(r"^error: 'cli-one.example': .*\(err_domain_not_found\)$", p.stderr, re.M), p.stderr
    # verify without a TXT record is a (retryable) failure, not a crash
    cli.json("--profile", "dev", "domain", "create", "cli-two.example")
    p = cli.run("--profile", "dev", "domain", "verify", "cli-two.example", check=1)
    assert "error: 'cli-two.example'" in p.stderr


def test_call_python_literal(cli):
    body = "{'data': [{'domain': 'py-literal.example', 'inboundType': 'any'}], 'meta': None}"
    out = cli.json("--profile", "dev", "call", "/api/domain/create-domain", body)
    assert out["data"][0]["domain"] == "py-literal.example"
    # the body from stdin, the path without /api/
    out = cli.json("--profile", "dev", "call", "domain/get-verification-code", "-",
                   input="{'data': [{'domain': 'py-literal.example'}]}")
    assert out["data"][0]["token"]
    # a call-level failure: HTTP 404
    p = cli.run("--profile", "dev", "call", "/api/nosuch/thing", check=1)
    assert "HTTP 404" in p.stderr and "err_xdk_not_found" in p.stderr


def test_all_pages(cli):
    names = ["page%02d.example" % i for i in range(60)]
    for chunk in (names[:50], names[50:]):
        out = cli.json("--profile", "dev", "domain", "create", *chunk)
        assert len(out["data"]) == len(chunk)
    body = json.dumps({"meta": {"pagination": {"pageSize": 25}}, "data": []})
    one = cli.run("--profile", "dev", "call", "/api/domain/get-pending-domain", body, check=0)
    assert len(json.loads(one.stdout)["data"]) == 25
    assert "--all" in one.stderr  # a hint that more pages follow
    out = cli.json("--profile", "dev", "call", "--all", "/api/domain/get-pending-domain", body)
    got = [d["domain"] for d in out["data"]]
    assert set(names) <= set(got) and len(got) == len(set(got))
    assert out["meta"]["pagination"]["pages"] >= 3
    out = cli.json("--profile", "dev", "domain", "pending", "--all", "--page-size", "20")
    assert set(names) <= {d["domain"] for d in out["data"]}
    assert out["meta"]["pagination"]["pages"] >= 4


def test_usage_errors(cli):
    for args in (["domain", "create"], ["call"], ["nosuch"], ["--profile"],
                 ["call", "/api/x", "{'data': ["], ["domain", "create", "a.example", "--inbound", "fax"],
                 ["domain", "frobnicate"], ["audit", "--from", "2024-01-01"], ["login"],
                 ["profile", "set", "dev", "colour=blue"], ["--bogus", "account"],
                 ["domain", "pending", "--page-size", "0"]):
        p = cli.run("--profile", "dev", *args, check=2) if args[0] != "--profile" else cli.run(*args, check=2)
        assert p.stderr.startswith("error: "), (args, p.stderr)
    assert cli.run(check=2).stderr.startswith("usage: mcapi")


def test_help_and_version(cli):
    p = cli.run("--version", check=0)
    assert re.match(r"mcapi version \d+\.\d+\.\d+", p.stdout)
    assert "commands:" in cli.run("--help", check=0).stdout
    for cmd in ("call", "domain", "account", "audit", "login", "profile"):
        p = cli.run(cmd, "--help", check=0)
        assert p.stdout.startswith("usage: mcapi"), cmd
        assert cli.run("help", cmd, check=0).stdout == p.stdout
    assert cli.run("domain", "create", "--help", check=0).stdout.startswith("usage:")


def test_unknown_profile(cli):
    p = cli.run("--profile", "nope", "account", check=1)
    assert "error: profile 'nope' does not exist" in p.stderr and cli.config in p.stderr
    p = cli.run("account", env={"MCAPI_PROFILE": "nope"}, check=1)
    assert "profile 'nope' does not exist" in p.stderr
    # no profile at all and no environment: says what is missing
    p = cli.run("account", check=3)
    assert "'base_url' is not set" in p.stderr


def test_refused_call_and_bad_keys(cli, server):
    set_profile(cli, server, "broken")
    cli.run("profile", "set", "broken", "secret_key=" + "QUJD" * 11, check=0)
    p = cli.run("--profile", "broken", "account", check=3)
    assert "HTTP 401" in p.stderr and "err_xdk_invalid_signature" in p.stderr
    p = cli.run("profile", "set", "broken", "secret_key=not base64", check=0)
    p = cli.run("--profile", "broken", "account", check=3)
    assert "'secret_key' is not valid base64" in p.stderr


def test_audit(cli):
    out = cli.json("--profile", "dev", "audit", "--from", "2000-01-01T00:00:00+0000",
                   "--to", "2100-01-01T00:00:00+0000")
    assert out["meta"]["status"] == 200


def test_login_stores_keys(cli, server):
    c = server.creds
    p = cli.run("--profile", "li", "login", "--email", c["email"], "--password-stdin",
                "--base-url", server.base, "--app-id", c["app_id"], "--app-key", c["app_key"],
                input=c["password"] + "\n", check=0)
    assert json.loads(p.stdout)["profile"] == "li"
    assert c["password"] not in p.stdout + p.stderr
    text = open(cli.config).read()
    section = text.split("[li]", 1)[1].split("\n[", 1)[0]
    keys = dict(line.split(" = ", 1) for line in section.strip().splitlines())
    assert keys["access_key"] != c["access_key"] and keys["secret_key"] != c["secret_key"]
    assert keys["base_url"] == server.base
    assert stat.S_IMODE(os.stat(cli.config).st_mode) == 0o600
    out = cli.json("--profile", "li", "account")
    assert out["data"][0]["accountCode"] == c["account_code"]
    # the other profiles are untouched
    assert cli.json("--profile", "dev", "account")["fail"] == []
    # a wrong password: exit 1, a clear message, nothing stored
    before = open(cli.config).read()
    p = cli.run("--profile", "li2", "login", "--email", c["email"], "--password-stdin",
                "--base-url", server.base, "--app-id", c["app_id"], input="wrong\n", check=3)
    assert "err_xdk_authentication_failed" in p.stderr
    assert open(cli.config).read() == before


def test_rate_limit_retried():
    s = Server(args=["--rate-limit", "2", "--rate-refill-ms", "300", "--ip-limit", "100000"]).start()
    try:
        d = tempfile.mkdtemp(prefix="mcapi-cli-rl-")
        cli = Cli(os.path.join(d, "profiles"))
        set_profile(cli, s)
        for _ in range(5):
            out = cli.json("--profile", "dev", "account")
            assert out["data"][0]["accountCode"] == s.creds["account_code"]
        time.sleep(mc.LOG_FLUSH_WAIT)  # the log is written within --log-flush-ms
        with open(s.log_path) as f:
            log = f.read()
        assert re.search(r"status=429", log), "no call was rate limited"
        # with retries off the 429 reaches the user
        seen_429 = False
        for _ in range(5):
            p = cli.run("--profile", "dev", "account", env={"MCAPI_MAX_RETRIES": "0"})
            if p.returncode == 5:  # rate limited (no retries allowed)
                assert "err_xdk_rate_limit_exceeded" in p.stderr and "retryable" in p.stderr
                seen_429 = True
        assert seen_429
    finally:
        assert s.stop() == 0


def test_connection_refused_is_a_clear_error(cli, server):
    set_profile(cli, server, "down")
    cli.run("profile", "set", "down", "base_url=http://127.0.0.1:1", check=0)
    p = cli.run("--profile", "down", "account", env={"MCAPI_MAX_RETRIES": "1"}, check=4)
    # the wait before the retry is announced, then the error
    assert re.match(r"note: .*retrying in \d+\.\d s \(attempt 2 of 2\)\n", p.stderr), p.stderr
    err = p.stderr.splitlines()[-1]
    assert err.startswith("error: /api/account/get-account: ") and "retries exhausted" in err
    assert p.stdout == ""
