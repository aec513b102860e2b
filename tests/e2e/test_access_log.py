"""The access log is buffered per thread (issue 11, item 8): lines appear within
--log-flush-ms, SIGTERM writes every one, lines are whole and never interleaved, and the
format is unchanged."""
import concurrent.futures
import re
import signal
import time

from mc import Server

ACCESS = re.compile(r"^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info access ip=127\.0\.0\.1 "
                    r"method=POST path=/api/account/get-account status=200 ms=\d+ "
                    r"req_id=(\S+) app_id=\S+ user=\S+ bytes_in=\d+$")


def raw_log(s):
    with open(s.log_path, "rb") as f:
        return f.read().decode()


def access_ids(text):
    ids = []
    for line in text.splitlines():
        if " access " in line and "get-account" in line:
            m = ACCESS.match(line)
            assert m, "malformed access line: %r" % line
            ids.append(m.group(1))
    return ids


def calls(s, n, threads=8):
    c = s.client()

    def one(_):
        h = c.headers("/api/account/get-account")
        import requests
        r = requests.post(s.base + "/api/account/get-account", data="{}", headers=h, timeout=10)
        assert r.status_code == 200, r.text
        return h["x-mc-req-id"]
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(one, range(n)))


def test_lines_appear_within_the_flush_interval():
    s = Server(args=["--threads", "4"]).start()
    try:
        ids = calls(s, 300)
        deadline = time.time() + 1.0  # the default interval is 100 ms
        while time.time() < deadline:
            if set(ids) <= set(access_ids(raw_log(s))):
                break
            time.sleep(0.02)
        got = access_ids(raw_log(s))
        assert set(ids) <= set(got), "%d of %d lines after 1 s" % (len(set(ids) & set(got)),
                                                                 len(ids))
        assert len(got) == len(set(got)), "a line was written twice"
        # secrets never reach the log lines (--dev prints them once on stdout, same file)
        creds = s.creds
        log = "\n".join(x for x in raw_log(s).splitlines() if "level=" in x)
        assert creds["secret_key"] not in log and creds["app_key"] not in log
    finally:
        assert s.stop() == 0


def test_sigterm_writes_every_line():
    # a long interval: nothing would be written by time before the SIGTERM
    s = Server(args=["--log-flush-ms", "10000", "--threads", "4"]).start()
    ids = calls(s, 400)
    rc = s.stop(sig=signal.SIGTERM)
    assert rc == 0
    text = raw_log(s)
    got = access_ids(text)
    assert set(ids) <= set(got)
    assert len(got) == len(set(got))
    assert "msg=stopped" in text  # the last line of all, after the workers stopped
    for line in text.splitlines():  # log lines whole: one timestamp each, at the start
        if "level=" in line:
            assert line.startswith("ts=") and line.count(" level=") == 1, line


def test_direct_mode_writes_at_once():
    s = Server(args=["--log-flush-ms", "0"]).start()
    try:
        ids = calls(s, 20, threads=2)
        assert set(ids) <= set(access_ids(raw_log(s)))  # no wait at all
    finally:
        assert s.stop() == 0


def test_kill_9_loses_at_most_the_interval():
    s = Server(args=["--log-flush-ms", "100"]).start()
    ids = calls(s, 100, threads=4)
    time.sleep(0.5)  # several intervals: all written
    s.stop(sig=signal.SIGKILL)
    assert set(ids) <= set(access_ids(raw_log(s)))
