"""libmcapi's retry paths end to end, through the mcapi CLI (which calls mcapi_call) against a
real mcapid: a 429 retried once, after its X-RateLimit-Reset; a 503 from a store whose lock
another process holds, retried after Retry-After until the lock goes; connection refused until the server comes up on the port, within the
total timeout; the total timeout ending a call against a port nobody listens on; the
per-attempt and connect timeouts against a stopped mcapid (SIGSTOP: the kernel still accepts
the connection, nobody answers), and a timed-out attempt retried until it resumes; and TLS:
refused without the server's CA, accepted with ca_file."""
import datetime
import os
import re
import signal
import sqlite3
import tempfile
import threading
import time

import pytest

import mc
from mc import Server
from test_cli import Cli, set_profile


def access_lines(server, path):
    time.sleep(mc.LOG_FLUSH_WAIT)
    with open(server.log_path) as f:
        lines = [ln for ln in f if "path=%s " % path in ln and "status=" in ln]
    # in time order: each worker thread's lines reach the file in batches of their own
    return sorted(lines, key=lambda ln: ln.split(" ", 1)[0])


def new_cli(server, name="dev"):
    d = os.path.join(server.data_dir, "cli-%s" % name)
    c = Cli(os.path.join(d, "profiles"))
    set_profile(c, server, name)
    return c


def test_429_waits_for_x_ratelimit_reset():
    # one call per 1.5 s: the second call meets a 429 whose Reset says when the next call is
    # added back; waiting that long (not the 125-250 ms of the first back-off step) gets it
    # through at the first retry
    s = Server(args=["--rate-limit", "1", "--rate-refill-ms", "1500", "--ip-limit", "100000"])
    s.start()
    try:
        cli = new_cli(s)
        cli.run("--profile", "dev", "account", check=0)
        start = time.time()
        p = cli.run("--profile", "dev", "account", env={"MCAPI_MAX_RETRIES": "4"}, check=0)
        took = time.time() - start
        assert s.creds["account_code"] in p.stdout
        statuses = [re.search(r"status=(\d+)", ln).group(1)
                    for ln in access_lines(s, "/api/account/get-account")]
        assert statuses == ["200", "429", "200"], statuses
        assert 1.0 <= took < 10, took
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(mc.PG, reason="holds SQLite's file lock")
def test_503_retried_after_retry_after_until_the_store_is_back():
    s = Server(args=["--db-busy-timeout-ms", "200"]).start()
    try:
        cli = new_cli(s)
        other = sqlite3.connect(os.path.join(s.data_dir, "mcapid.db"), timeout=5,
                                isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
        released = threading.Event()

        def release():
            time.sleep(2.5)  # long enough for at least two 503s (200 ms + Retry-After: 1)
            other.execute("ROLLBACK")
            other.close()
            released.set()

        t = threading.Thread(target=release)
        t.start()
        try:
            start = time.time()
            p = cli.run("--profile", "dev", "call", "/api/domain/create-domain",
                        '{"data":[{"domain":"retry.example.com","inboundType":"any"}]}',
                        env={"MCAPI_MAX_RETRIES": "10", "MCAPI_TOTAL_TIMEOUT_MS": "60000"})
            took = time.time() - start
        finally:
            t.join()
        assert released.is_set()
        assert p.returncode == 0, p.stderr
        assert '"domain": "retry.example.com"' in p.stdout
        assert took >= 2.0
        lines = access_lines(s, "/api/domain/create-domain")
        statuses = [re.search(r"status=(\d+)", ln).group(1) for ln in lines]
        assert statuses.count("503") >= 2 and statuses[-1] == "200", statuses
        # each retry waited the answer's Retry-After (1 s; every API 503 carries it), not the
        # back-off's first steps (125-250 ms, then 250-500 ms)
        stamps = [datetime.datetime.strptime(re.search(r"ts=(\S+)Z", ln).group(1),
                                             "%Y-%m-%dT%H:%M:%S.%f") for ln in lines]
        gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
        assert min(gaps) >= 0.95, gaps
        # each attempt was signed afresh: no replay refusal, distinct request ids
        ids = [re.search(r"req_id=(\S+)", ln) for ln in lines]
        ids = [m.group(1) for m in ids if m]
        assert len(set(ids)) == len(ids)
        # with retries off the 503 reaches the user as it is
        other = sqlite3.connect(os.path.join(s.data_dir, "mcapid.db"), timeout=5,
                                isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            p = cli.run("--profile", "dev", "call", "/api/domain/create-domain",
                        '{"data":[{"domain":"retry2.example.com","inboundType":"any"}]}',
                        env={"MCAPI_MAX_RETRIES": "0"}, check=4)
            assert "err_xdk_unavailable" in p.stderr and "retryable" in p.stderr
        finally:
            other.execute("ROLLBACK")
            other.close()
    finally:
        assert s.stop() == 0


def test_connection_refused_retried_until_the_server_comes_up():
    s = Server()
    s.port = mc.free_port()
    # the profile points at the port before anything listens there; the credentials come
    # from a first run of the same data dir
    s.start()
    cli = new_cli(s)
    assert s.stop() == 0
    result = {}

    def run():
        start = time.time()
        result["p"] = cli.run("--profile", "dev", "account",
                              env={"MCAPI_MAX_RETRIES": "30", "MCAPI_TOTAL_TIMEOUT_MS": "60000"})
        result["took"] = time.time() - start

    t = threading.Thread(target=run)
    t.start()
    try:
        time.sleep(1.5)  # the client meets 'connection refused' meanwhile
        assert t.is_alive(), result.get("p") and result["p"].stderr
        s.start()  # same port, same data dir
        t.join(90)
        assert not t.is_alive()
        p = result["p"]
        assert p.returncode == 0, p.stderr
        assert s.creds["account_code"] in p.stdout
        assert result["took"] >= 1.5
        # every wait was announced on stderr before the library slept
        assert re.search(r"^note: Failed to connect to 127\.0\.0\.1 port %d.*; retrying in "
                         r"\d+\.\d s \(attempt 2 of 31\)$" % s.port, p.stderr, re.M), p.stderr
    finally:
        t.join(90)
        assert s.stop() == 0


def test_total_timeout_ends_the_retries():
    port = mc.free_port()  # nobody listens there
    cli = Cli(os.path.join(tempfile.mkdtemp(prefix="mcapi-cli-tt-"), "profiles"))
    cli.run("profile", "set", "down", "base_url=http://127.0.0.1:%d" % port, "app_id=a",
            "app_key=k", "access_key=ak", "secret_key=c2VjcmV0", check=0)
    start = time.time()
    p = cli.run("--profile", "down", "account",
                env={"MCAPI_MAX_RETRIES": "100", "MCAPI_TOTAL_TIMEOUT_MS": "1500"}, check=4)
    took = time.time() - start
    assert "total timeout of 1500 ms reached" in p.stderr, p.stderr
    assert took < 10, took  # 100 retries of back-off would take minutes


def test_timeouts_against_a_stopped_mcapid():
    s = Server(tls=True).start()
    cli = new_cli(s)
    set_profile(cli, s, "tls")
    cli.run("profile", "set", "tls", "base_url=https://127.0.0.1:%d" % s.tls_port,
            "ca_file=" + os.path.join(s.data_dir, "dev-ca.pem"), check=0)
    cli.json("--profile", "tls", "account")  # the profile works while the server runs
    os.kill(s.proc.pid, signal.SIGSTOP)
    try:
        # timeout_ms bounds one attempt: the request is sent, no answer comes
        start = time.time()
        p = cli.run("--profile", "dev", "account", env={"MCAPI_TIMEOUT_MS": "700",
                                                        "MCAPI_MAX_RETRIES": "0"}, check=4)
        took = time.time() - start
        assert "timed out" in p.stderr.lower(), p.stderr
        assert 0.6 <= took < 5, took
        # connect_timeout_ms bounds the set-up (TCP and TLS): the handshake gets no answer,
        # and the call ends long before timeout_ms
        start = time.time()
        p = cli.run("--profile", "tls", "account", env={"MCAPI_CONNECT_TIMEOUT_MS": "400",
                                                        "MCAPI_TIMEOUT_MS": "30000",
                                                        "MCAPI_MAX_RETRIES": "0"}, check=4)
        took = time.time() - start
        assert re.search(r"connection time(d )?out", p.stderr, re.I), p.stderr
        assert 0.3 <= took < 5, took
        # a timed-out attempt is retried (announced), and the call goes through once the
        # server answers again
        resumed = threading.Timer(2.0, os.kill, (s.proc.pid, signal.SIGCONT))
        resumed.start()
        start = time.time()
        p = cli.run("--profile", "dev", "account", env={"MCAPI_TIMEOUT_MS": "600",
                                                        "MCAPI_MAX_RETRIES": "20",
                                                        "MCAPI_TOTAL_TIMEOUT_MS": "60000"})
        took = time.time() - start
        resumed.join()
        assert p.returncode == 0, p.stderr
        assert s.creds["account_code"] in p.stdout
        assert re.search(r"^note: .*timed out.*; retrying in \d+\.\d s \(attempt 2 of 21\)$",
                         p.stderr, re.M | re.I), p.stderr
        assert took >= 1.5, took
    finally:
        os.kill(s.proc.pid, signal.SIGCONT)
        assert s.stop() == 0


def test_tls_verified_with_ca_file_only():
    s = Server(tls=True).start()
    try:
        cli = new_cli(s)
        base = "https://127.0.0.1:%d" % s.tls_port
        cli.run("profile", "set", "dev", "base_url=" + base, check=0)
        p = cli.run("--profile", "dev", "account", check=4)
        assert "certificate" in p.stderr.lower(), p.stderr
        assert "retries exhausted" not in p.stderr  # a bad certificate is not retried
        ca = os.path.join(s.data_dir, "dev-ca.pem")
        cli.run("profile", "set", "dev", "ca_file=" + ca, check=0)
        out = cli.json("--profile", "dev", "account")
        assert out["data"][0]["accountCode"] == s.creds["account_code"]
        # the variable wins over the profile
        p = cli.run("--profile", "dev", "account", env={"MCAPI_CA_FILE": "/nonexistent"},
                    check=3)
        assert "'ca_file' '/nonexistent' cannot be read" in p.stderr
    finally:
        assert s.stop() == 0
