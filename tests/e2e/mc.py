"""Helpers for end-to-end tests: start the real mcapid on a free loopback port with a fresh
store, and call it the way real clients do (HMAC-SHA1 signed requests, raw sockets)."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import requests

import ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCAPID = os.environ.get("MCAPID", os.path.join(ROOT, "build", "mcapid"))
SLOW = os.environ.get("MCAPI_E2E_SLOW") == "1"  # sanitizer builds: allow more time
# MCAPI_E2E_STORE=postgres: every Server uses its own database on one PostgreSQL that the
# test process starts on first use and stops at exit (pgserver.py).
PG = os.environ.get("MCAPI_E2E_STORE", "sqlite") == "postgres"
LOG_FLUSH_WAIT = 0.3  # seconds: three times the default --log-flush-ms
_pg_dsns = {}  # data dir -> DSN: a Server restarted on the same dir finds its database


def store_env(data_dir):
    """Environment selecting the store of data_dir (empty for SQLite)."""
    if not PG:
        return {}
    import pgserver
    key = os.path.realpath(data_dir)
    if key not in _pg_dsns:
        pg = pgserver.shared()
        _pg_dsns[key] = pg.dsn(pg.new_database())
    return {"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": _pg_dsns[key]}


def _pg_sql(sql, args):
    """sql with each ? replaced by the next of args as a literal (tests only)."""
    parts = sql.split("?")
    assert len(parts) == len(args) + 1, sql
    out = [parts[0]]
    for a, rest in zip(args, parts[1:]):
        out.append(str(int(a)) if isinstance(a, int) else "'" + str(a).replace("'", "''") + "'")
        out.append(rest)
    return "".join(out)


def db_rows(server, sql, args=()):
    """Rows of one query on server's store behind its back (SQLite file or PostgreSQL); with
    PostgreSQL, integer-looking values come back as int."""
    if not PG:
        import sqlite3
        con = sqlite3.connect(os.path.join(server.data_dir, "mcapid.db"), timeout=10)
        try:
            with con:
                return con.execute(sql, args).fetchall()
        finally:
            con.close()
    import csv
    import pgserver
    dsn = store_env(server.data_dir)["MCAPID_PG_DSN"]
    p = subprocess.run([os.path.join(pgserver.PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "--csv", "-t", "-d", dsn, "-c", _pg_sql(sql, args)],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("psql failed: " + p.stderr)
    return [tuple(int(v) if re.fullmatch(r"-?[0-9]+", v) else v for v in row)
            for row in csv.reader(p.stdout.splitlines())]


def db_exec(server, sql, args=()):
    """Runs one writing statement on server's store behind its back."""
    db_rows(server, sql, args)


def free_port():
    return ports.free_port()


def mc_date(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%a, %d %b %Y %H:%M:%S") + " UTC"


def sign(secret_b64, date, req_id, uri, app_key):
    data = ":".join([date, req_id, uri, app_key])
    mac = hmac.new(base64.b64decode(secret_b64), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class Server:
    """One mcapid process on 127.0.0.1:<free port> with its own data dir."""

    def __init__(self, data_dir=None, args=(), env=None, tls=False, smtp=False):
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="mcapid-")
        self.args = list(args)
        self.tls = tls  # HTTPS (and the --dev CONNECT proxy) on a free port of its own
        self.tls_port = None
        self.smtp = smtp  # the SMTP gateway on a free port of its own
        self.smtp_port = None
        self.env = env
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data_dir, "mcapid.log")

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def admin(self, *args, check=True, input=None):
        cmd = [MCAPID, "admin", "--data-dir", self.data_dir] + [str(a) for a in args]
        env = dict(os.environ)
        env.update(store_env(self.data_dir))
        p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60, env=env)
        if check and p.returncode != 0:
            raise AssertionError("admin %s failed (%d): %s" % (args, p.returncode, p.stderr))
        return p

    def admin_json(self, *args):
        return json.loads(self.admin(*args).stdout)

    def start(self, port=None, ready=True):
        """Starts mcapid and waits until /readyz answers 200 (ready=False: /healthz, the
        process is up; its store may not be open yet)."""
        self.port = port or self.port or free_port()
        cmd = [MCAPID, "serve", "--dev", "--listen", "127.0.0.1:%d" % self.port,
               "--data-dir", self.data_dir, "--public-base-url", "http://127.0.0.1:%d" % self.port,
               "--threads", "2"] + self.args
        if self.tls:
            self.tls_port = self.tls_port or free_port()
            cmd += ["--tls-listen", "127.0.0.1:%d" % self.tls_port]
        elif not any(a.startswith("--tls-listen") for a in self.args):
            cmd += ["--tls-listen", "off"]
        if self.smtp:
            self.smtp_port = self.smtp_port or free_port()
            cmd += ["--smtp-listen", "127.0.0.1:%d" % self.smtp_port]
        elif not any(a.startswith("--smtp-listen") for a in self.args):
            cmd += ["--smtp-listen", "off"]
        env = dict(os.environ)
        env.update(store_env(self.data_dir))
        env.update(self.env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + (60 if SLOW else 20)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("mcapid exited %d: %s" % (self.proc.returncode, self.read_log()))
            try:
                if requests.get(self.base + ("/readyz" if ready else "/healthz"),
                                timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("mcapid did not come up: " + self.read_log())

    def read_log(self):
        # A running server writes its log lines within --log-flush-ms (default 100 ms) of
        # logging them: wait that long so what the test did is in the file.
        if self.proc and self.proc.poll() is None:
            time.sleep(LOG_FLUSH_WAIT)
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def creds(self):
        with open(os.path.join(self.data_dir, "dev-credentials.json")) as f:
            return json.load(f)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mcapid did not stop on signal %d" % sig)
        rc = self.proc.returncode if self.proc else 0
        if self.proc:
            self.log.close()
        self.proc = None
        return rc

    def client(self, **kw):
        c = self.creds
        kw.setdefault("app_id", c["app_id"])
        kw.setdefault("app_key", c["app_key"])
        kw.setdefault("access_key", c["access_key"])
        kw.setdefault("secret_key", c["secret_key"])
        return Client(self.base, **kw)


class Client:
    """Signs requests exactly as the seed's sample code does."""

    def __init__(self, base, app_id, app_key, access_key, secret_key):
        self.base = base
        self.app_id, self.app_key = app_id, app_key
        self.access_key, self.secret_key = access_key, secret_key
        self.session = requests.Session()

    def headers(self, uri, date=None, req_id=None, **over):
        date = date or mc_date()
        req_id = req_id or str(uuid.uuid4())
        h = {
            "Authorization": "MC %s:%s" % (self.access_key,
                                           sign(self.secret_key, date, req_id, uri, self.app_key)),
            "x-mc-app-id": self.app_id,
            "x-mc-date": date,
            "x-mc-req-id": req_id,
            "Content-Type": "application/json",
        }
        for k, v in over.items():
            k = k.replace("_", "-")
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        return h

    def post(self, uri, body=None, raw=None, headers=None, **hkw):
        h = headers if headers is not None else self.headers(uri, **hkw)
        data = raw if raw is not None else json.dumps(body if body is not None else {"data": []})
        return self.session.post(self.base + uri, data=data, headers=h, timeout=30)

    def call(self, uri, data=None, meta=None, **kw):
        body = {"data": data or []}
        if meta is not None:
            body["meta"] = meta
        r = self.post(uri, body, **kw)
        return r, r.json()


def seed_python_sample():
    """The Python sample of the seed document (003), exactly as published."""
    for cand in (os.path.join(ROOT, "..", "shared", "seeds", "003_e5d5daa1768e42f8.txt"),
                 os.path.join(ROOT, "tests", "data", "seed_003.txt")):
        if os.path.exists(cand):
            text = open(cand).read()
            start = text.index("import base64")
            end = text.index("print(r.text)") + len("print(r.text)")
            return text[start:end]
    raise AssertionError("seed 003 not found")


def run_seed_sample(server, uri, base=None, env=None):
    """Runs the seed's sample with only its five variables (and the URI) edited, as a user
    would; returns the JSON it prints. env: variables to set for it (e.g. a proxy and a CA)."""
    c = server.creds
    code = seed_python_sample()
    subs = {"base_url": base or server.base, "access_key": c["access_key"],
            "secret_key": c["secret_key"], "app_id": c["app_id"], "app_key": c["app_key"],
            "uri": uri}
    for name, value in subs.items():
        code, n = re.subn(r'^%s = ".*"$' % name, '%s = "%s"' % (name, value), code, flags=re.M)
        assert n == 1, name
    e = clean_env(env)
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=60,
                       env=e)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def raw_request(port, payload, timeout=5.0):
    """Sends payload bytes on a fresh connection; returns everything read until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(payload)
    chunks = []
    start = time.time()
    try:
        while time.time() - start < timeout:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except socket.timeout:
        pass
    finally:
        s.close()
    return b"".join(chunks)


def status_of(resp_bytes):
    line = resp_bytes.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else None


def clean_env(extra=None):
    """The environment for a client process: no proxy or CA settings of the machine, then
    extra."""
    e = {k: v for k, v in os.environ.items()
         if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                              "requests_ca_bundle", "ssl_cert_file", "curl_ca_bundle",
                              "node_extra_ca_certs")}
    e.update(extra or {})
    return e


def make_ca(directory, names=("localhost", "127.0.0.1", "api.mimecast.com", "eu-api.mimecast.com",
                              "us-api.mimecast.com")):
    """A throw-away CA and a server certificate for names, made with the openssl command as
    an operator would; returns (ca.pem, server.pem, server.key)."""
    ca, ca_key = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca.key")
    crt, key = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    csr, ext = os.path.join(directory, "server.csr"), os.path.join(directory, "ext.cnf")
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True, capture_output=True)  # noqa
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=mcapi test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/CN=%s" % names[0])
    sans = ",".join(("IP:" if n.replace(".", "").isdigit() else "DNS:") + n for n in names)
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\n" % sans)
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
        "-days", "2", "-extfile", ext)
    return ca, crt, key
