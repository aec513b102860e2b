"""Measuring helpers for the hostile-client suites (test_hostile_http.py, test_hostile_smtp.py):
the RSS of the mcapid process, a normal signed client that keeps calling while an attack runs
and reports its latency percentiles, and sockets from another loopback address (127.0.0.0/8 is
all local on Linux), so that per-IP limits hit the attacker and not the normal client."""
import http.client
import os
import socket
import threading
import time
import uuid

from mc import mc_date, sign

# The bounds the suites hold mcapid to (stated here so every suite prints the same ones).
P99_MS = 50.0


def rss_mb(pid):
    """Resident set size of pid in MB, from /proc."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for pid %d" % pid)


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def connect_from(src_ip, port, timeout=5.0):
    """A TCP connection to 127.0.0.1:port from src_ip (e.g. 127.0.0.2)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src_ip, 0))
    s.connect(("127.0.0.1", port))
    return s


def signed_head(client, uri, length=None, chunked=False, extra=None, **over):
    """The bytes of a signed POST's request line and headers (no body)."""
    h = client.headers(uri, **over)
    lines = ["POST %s HTTP/1.1" % uri, "Host: 127.0.0.1"]
    lines += ["%s: %s" % kv for kv in h.items()]
    if length is not None:
        lines.append("Content-Length: %d" % length)
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    lines += list(extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_status(sock, timeout=5.0):
    """The status code of the first answer on sock (None if it closed or timed out first)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            b = sock.recv(4096)
            if not b:
                break
            data += b
    except (socket.timeout, OSError):
        pass
    parts = data.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class Prober:
    """A normal client: signed get-account calls one after the other on a kept-alive
    connection from 127.0.0.1, in a thread, until stop(). Latencies in ms; answers other than
    200 are counted as failures."""

    URI = "/api/account/get-account"

    def __init__(self, server, pause=0.002):
        c = server.creds
        self.port = server.port
        self.app_id, self.app_key = c["app_id"], c["app_key"]
        self.access_key, self.secret_key = c["access_key"], c["secret_key"]
        self.pause = pause
        self.lat, self.failures, self.errors = [], 0, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _call(self, conn):
        date, rid = mc_date(), str(uuid.uuid4())
        h = {"Authorization": "MC %s:%s" % (self.access_key,
                                            sign(self.secret_key, date, rid, self.URI, self.app_key)),
             "x-mc-app-id": self.app_id, "x-mc-date": date, "x-mc-req-id": rid,
             "Content-Type": "application/json"}
        t = time.monotonic()
        conn.request("POST", self.URI, body=b'{"data": []}', headers=h)
        r = conn.getresponse()
        r.read()
        return r.status, (time.monotonic() - t) * 1000.0

    def _run(self):
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                status, ms = self._call(conn)
                self.lat.append(ms)
                if status != 200:
                    self.failures += 1
                    self.errors.append(status)
            except (OSError, http.client.HTTPException) as e:
                self.failures += 1
                self.errors.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(timeout=30)
        return self

    def p(self, q):
        return percentile(self.lat, q)

    def summary(self):
        return "calls=%d failures=%d p50=%.1fms p99=%.1fms max=%.1fms" % (
            len(self.lat), self.failures, self.p(50), self.p(99), max(self.lat or [0]))


def slow(factor=1.0):
    """A time bound scaled for sanitizer builds (MCAPI_E2E_SLOW=1)."""
    return factor * (4.0 if os.environ.get("MCAPI_E2E_SLOW") == "1" else 1.0)
