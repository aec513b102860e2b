"""What an operator meets around the API: `mcapid admin` on a directory without a store (a clear
error, nothing created), mistyped --config paths, SIGHUP (ignored, the server keeps answering),
a PostgreSQL URL given as --store, and the development credentials file following the port
the server really listens on (--listen 127.0.0.1:0)."""
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest
import requests

from mc import MCAPID, PG, SLOW, Client, Server, store_env
from mc import free_port as mc_free_port

PG_BIN = os.environ.get("MCAPI_PG_BIN", "/usr/lib/postgresql/15/bin")


def mcapid(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MCAPID_")}
    e.update(env or {})
    return subprocess.run([MCAPID] + [str(a) for a in args], capture_output=True, text=True,
                          env=e, timeout=60)


# ---- admin without a store ----

def test_admin_on_missing_data_dir_creates_nothing(tmp_path):
    d = tmp_path / "empty"
    p = mcapid("--data-dir", d, "admin", "app", "list")
    assert p.returncode == 1, p.stderr
    assert ("no store in '%s': start 'mcapid serve' there first, or check --data-dir" % d
            in p.stderr), p.stderr
    assert p.stdout == ""
    assert not d.exists()
    # the flags may follow "admin" too
    p = mcapid("admin", "--data-dir", d, "account", "list")
    assert p.returncode == 1 and "no store in '%s'" % d in p.stderr
    assert not d.exists()


def test_admin_on_empty_dir_creates_neither_store_nor_key(tmp_path):
    p = mcapid("--data-dir", tmp_path, "admin", "user", "list")
    assert p.returncode == 1 and "no store in '%s'" % tmp_path in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []
    # with --db-path the message names that file
    db = tmp_path / "other.db"
    p = mcapid("--data-dir", tmp_path, "--db-path", db, "admin", "user", "list")
    assert p.returncode == 1 and "no store in '%s'" % db in p.stderr and "--db-path" in p.stderr
    assert os.listdir(tmp_path) == []


def test_admin_does_not_turn_an_empty_file_into_a_store(tmp_path):
    (tmp_path / "made").mkdir()
    s = Server(data_dir=str(tmp_path / "made")).start()  # a real server key
    assert s.stop() == 0
    d = tmp_path / "d"
    d.mkdir()
    key = tmp_path / "made" / "server.key"
    (d / "mcapid.db").write_bytes(b"")
    p = mcapid("--data-dir", d, "--key-file", key, "admin", "app", "list")
    assert p.returncode == 1 and "no store in '%s'" % d in p.stderr, p.stderr
    assert (d / "mcapid.db").stat().st_size == 0
    assert sorted(os.listdir(d)) == ["mcapid.db"]


def test_admin_without_key_file_does_not_create_one(tmp_path):
    s = Server(data_dir=str(tmp_path)).start()
    assert s.stop() == 0
    os.rename(tmp_path / "server.key", tmp_path / "server.key.saved")
    p = mcapid("--data-dir", tmp_path, "admin", "app", "list", env=store_env(str(tmp_path)))
    assert p.returncode == 1, p.stderr
    assert "no server key '%s'" % (tmp_path / "server.key") in p.stderr, p.stderr
    assert not (tmp_path / "server.key").exists()
    os.rename(tmp_path / "server.key.saved", tmp_path / "server.key")
    p = mcapid("--data-dir", tmp_path, "admin", "app", "list", env=store_env(str(tmp_path)))
    assert p.returncode == 0 and len(json.loads(p.stdout)) == 1, p.stderr


def test_admin_help_and_usage_errors_need_no_store(tmp_path):
    d = tmp_path / "none"
    p = mcapid("--data-dir", d, "admin", "help")
    assert p.returncode == 0 and "usage: mcapid admin" in p.stdout
    p = mcapid("--data-dir", d, "admin", "app", "list", "--help")
    assert p.returncode == 0 and "usage: mcapid admin app list" in p.stdout
    p = mcapid("--data-dir", d, "admin", "app", "frobnicate")
    assert p.returncode == 2 and "unknown command 'app frobnicate'" in p.stderr
    assert not d.exists()


def test_flags_around_admin_are_one_list(tmp_path):
    """`mcapid --data-dir A admin --data-dir B ...`: the later flag wins, and the database and
    key paths follow it; flags beat the environment on either side of "admin"."""
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        s = Server(data_dir=str(d)).start()
        assert s.stop() == 0
    acct = json.loads(mcapid("--data-dir", b, "admin", "account", "create", "--name", "OnlyB",
                             env=store_env(str(b))).stdout)
    p = mcapid("--data-dir", a, "admin", "--data-dir", b, "account", "list", env=store_env(str(b)))
    assert p.returncode == 0, p.stderr
    assert acct["account_code"] in [x["account_code"] for x in json.loads(p.stdout)]
    p = mcapid("--data-dir", b, "admin", "account", "list",
               env=dict(store_env(str(b)), MCAPID_DATA_DIR=str(a)))
    assert p.returncode == 0, p.stderr
    assert acct["account_code"] in [x["account_code"] for x in json.loads(p.stdout)]


@pytest.mark.skipif(not PG, reason="PostgreSQL run only (make pg)")
def test_admin_postgres_without_key_file(tmp_path):
    p = mcapid("--data-dir", tmp_path, "admin", "app", "list", env=store_env(str(tmp_path)))
    assert p.returncode == 1 and "no server key" in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


# ---- --config ----

@pytest.mark.parametrize("where", ["serve", "admin"])
def test_config_path_that_cannot_be_read(tmp_path, where):
    cmd = ["serve"] if where == "serve" else ["admin", "app", "list"]
    missing = tmp_path / "mcapid.conf"
    for args in (["--config", missing], ["--config=%s" % missing], ["--config-file", missing]):
        p = mcapid(*(cmd + args)) if where == "serve" else mcapid(*(args + cmd))
        assert p.returncode == 2, (args, p.stderr)
        assert "cannot open config file '%s'" % missing in p.stderr, p.stderr
    p = mcapid(*cmd, env={"MCAPID_CONFIG_FILE": str(missing)})
    assert p.returncode == 2 and str(missing) in p.stderr
    # a directory opens but cannot be read
    p = mcapid(*(cmd + ["--config", tmp_path]))
    assert p.returncode == 2 and "cannot read config file '%s'" % tmp_path in p.stderr, p.stderr
    # a flag without a file name
    for args in (["--config"], ["--config="], ["--config", ""]):
        p = mcapid(*(cmd + args))
        assert p.returncode == 2 and "'--config' needs a file name" in p.stderr, (args, p.stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files of any mode")
def test_config_path_without_permission(tmp_path):
    conf = tmp_path / "mcapid.conf"
    conf.write_text("rate_limit = 7\n")
    conf.chmod(0)
    p = mcapid("serve", "--config", conf)
    assert p.returncode == 2 and str(conf) in p.stderr


# ---- SIGHUP ----

def test_sighup_is_ignored(server):
    cl = server.client()
    for _ in range(2):
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert server.proc.poll() is None, server.read_log()
        assert requests.get(server.base + "/healthz", timeout=5).status_code == 200
        assert cl.post("/api/account/get-account").status_code == 200
    log = server.read_log()
    assert log.count("SIGHUP ignored: configuration is read at start-up; logs go to stderr") == 2


def test_sighup_then_sigterm_exits_0(tmp_path):
    s = Server(data_dir=str(tmp_path)).start()
    s.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert requests.get(s.base + "/healthz", timeout=5).status_code == 200
    assert s.stop() == 0


# ---- --store ----

def test_store_unknown_value_names_the_choices(tmp_path):
    for value in ("mysql://u@h/db", "sqlite3", "postgres:/x", "a-very-long-backend-name-indeed"):
        p = mcapid("serve", "--data-dir", tmp_path, "--store", value)
        assert p.returncode == 2, p.stderr
        assert "store must be sqlite, postgres or a postgres:// URL, not '%s'" % value in p.stderr
        assert "--pg-dsn" in p.stderr
    p = mcapid("serve", env={"MCAPID_STORE": "oracle"})
    assert p.returncode == 2 and "MCAPID_STORE" in p.stderr and "'oracle'" in p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_store_url_unreachable_is_a_postgres_error(tmp_path, scheme):
    """A URL as --store selects PostgreSQL with that URL (here nobody listens on port 1). A
    database that does not answer does not stop the start (docs/postgres.md): the node says
    what it waits for, answers /healthz, /readyz 503, and stops cleanly on SIGTERM."""
    url = "%s://nobody@127.0.0.1:1/mcapi?connect_timeout=2" % scheme
    port = mc_free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCAPID_")}
    p = subprocess.Popen([MCAPID, "serve", "--data-dir", str(tmp_path), "--store", url,
                          "--listen", "127.0.0.1:%d" % port, "--smtp-listen", "off"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 20
        while time.time() < deadline and p.poll() is None:
            try:
                if requests.get("http://127.0.0.1:%d/healthz" % port, timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        assert requests.get("http://127.0.0.1:%d/readyz" % port, timeout=5).status_code == 503
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "store must be" not in err and "too long" not in err
    assert "waiting for it" in err and ("127.0.0.1" in err or "connect" in err.lower()), err
    assert not os.path.exists(tmp_path / "mcapid.db")


@pytest.mark.skipif(not os.path.exists(os.path.join(PG_BIN, "initdb")), reason="no PostgreSQL")
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_store_url_serves_from_postgres(tmp_path, scheme):
    import pgserver
    pg = pgserver.shared()
    db = pg.new_database("mcapi_url")
    url = "%s://postgres@127.0.0.1:%d/%s" % (scheme, pg.port, db)
    s = Server(data_dir=str(tmp_path), args=["--store", url]).start()
    try:
        assert s.client().post("/api/account/get-account").status_code == 200
        code = s.creds["account_code"]
        assert code in pg.psql("SELECT code FROM accounts", db=db).stdout
        p = mcapid("--data-dir", tmp_path, "--store", url, "admin", "account", "list")
        assert p.returncode == 0 and code in p.stdout, p.stderr
    finally:
        assert s.stop() == 0
    assert not os.path.exists(tmp_path / "mcapid.db")


# ---- the development credentials file follows the real port ----

class PortZero:
    """mcapid serve --dev --listen 127.0.0.1:0, its stdout in a file to read the URL from."""

    def __init__(self, data_dir, args=()):
        self.data_dir = str(data_dir)
        self.out_path = os.path.join(self.data_dir, "stdout-%d.txt" % time.monotonic_ns())
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ)
        env.update(store_env(self.data_dir))
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([MCAPID, "serve", "--dev", "--listen", "127.0.0.1:0",
                                      "--data-dir", self.data_dir, "--threads", "2",
                                      "--tls-listen", "off", "--smtp-listen", "off"] + list(args),
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + (60 if SLOW else 20)
        while time.time() < deadline:
            m = re.search(r"listening on (\S+)", self.text())
            if m:
                self.url = m.group(1)
                return
            assert self.proc.poll() is None, self.text()
            time.sleep(0.05)
        raise AssertionError("no listening line: " + self.text())

    def text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def creds(self):
        with open(os.path.join(self.data_dir, "dev-credentials.json")) as f:
            return json.load(f)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.out.close()
        return rc


def test_dev_credentials_follow_the_bound_port(tmp_path):
    cred = tmp_path / "dev-credentials.json"
    s = PortZero(tmp_path)
    try:
        m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", s.url)
        assert m and m.group(1) != "0", s.url
        c = s.creds()
        assert c["base_url"] == s.url
        # the credentials shown once carry the same URL
        assert '"base_url": "%s"' % s.url in s.text()
        assert stat.S_IMODE(cred.stat().st_mode) == 0o600
        cl = Client(c["base_url"], c["app_id"], c["app_key"], c["access_key"], c["secret_key"])
        assert cl.post("/api/account/get-account").status_code == 200
    finally:
        assert s.stop() == 0
    first = c

    # a later start on another port rewrites base_url only; the secrets stay
    with socket_holding(int(m.group(1))):  # the old port cannot come back
        s = PortZero(tmp_path)
    try:
        c = s.creds()
        assert c["base_url"] == s.url != first["base_url"]
        assert {k: v for k, v in c.items() if k != "base_url"} == \
            {k: v for k, v in first.items() if k != "base_url"}
        assert list(c) == list(first)  # same fields in the same order
        assert stat.S_IMODE(cred.stat().st_mode) == 0o600
        assert "development credentials: see %s" % cred in s.text()
        assert c["secret_key"] not in s.text()
        cl = Client(c["base_url"], c["app_id"], c["app_key"], c["access_key"], c["secret_key"])
        assert cl.post("/api/account/get-account").status_code == 200
    finally:
        assert s.stop() == 0
    assert [f for f in os.listdir(tmp_path) if ".tmp" in f] == []


def test_discovery_names_the_bound_port(tmp_path):
    """--listen HOST:0: discovery's region table names the port the kernel picked (it is
    built from the configuration, so the port is bound before it is)."""
    s = PortZero(tmp_path)
    try:
        c = s.creds()
        r = requests.post(s.url + "/api/login/discover-authentication",
                          headers={"x-mc-app-id": c["app_id"]},
                          json={"data": [{"emailAddress": c["email"]}]}, timeout=10)
        region = r.json()["data"][0]["region"]
        assert region["api"] == s.url, region
        assert not region["api"].endswith(":0")
    finally:
        assert s.stop() == 0


def test_dev_credentials_take_an_explicit_public_url(tmp_path):
    s = PortZero(tmp_path)
    assert s.stop() == 0
    s = PortZero(tmp_path, ["--public-base-url", "https://api.example.test"])
    try:
        assert s.url == "https://api.example.test"
        assert s.creds()["base_url"] == "https://api.example.test"
    finally:
        assert s.stop() == 0


def test_dev_credentials_file_missing_is_reported_not_fatal(tmp_path):
    s = PortZero(tmp_path)
    assert s.stop() == 0
    os.unlink(tmp_path / "dev-credentials.json")
    s = PortZero(tmp_path)
    try:
        assert requests.get(s.url + "/healthz", timeout=5).status_code == 200
        assert "dev-credentials.json' is missing" in s.text()
        assert not (tmp_path / "dev-credentials.json").exists()
    finally:
        assert s.stop() == 0


class socket_holding:
    """Keeps 127.0.0.1:port bound (if it is free) so the kernel hands out another port."""

    def __init__(self, port):
        import socket
        self.s = socket.socket()
        try:
            self.s.bind(("127.0.0.1", port))
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.s.close()


@pytest.mark.parametrize("which", ["listen", "tls"])
def test_a_second_server_on_a_port_in_use_fails(tmp_path, which):
    a = Server(tls=True).start()
    try:
        if which == "listen":
            args = ["--listen", "127.0.0.1:%d" % a.port, "--tls-listen", "off"]
        else:
            args = ["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:%d" % a.tls_port]
        args += ["--smtp-listen", "off"]
        p = subprocess.run([MCAPID, "serve", "--dev", "--data-dir", str(tmp_path)] + args,
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **store_env(str(tmp_path))))
        assert p.returncode == 1
        assert "Address already in use" in p.stderr, p.stderr
        # the first server still answers every call alone
        for _ in range(20):
            assert requests.get(a.base + "/healthz", timeout=5).status_code == 200
    finally:
        assert a.stop() == 0
