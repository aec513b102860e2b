#!/usr/bin/env python3
"""Reset and snapshot timings of the emulator's control plane (driver of bench/emu_reset.sh;
standard library only).

Starts mcapid --dev on a fresh SQLite store once (schema and development account), stops it,
adds BENCH_USERS users, BENCH_DOMAINS pending domains and BENCH_AUDIT audit events to the
development account with direct SQL inserts, and starts it again: the start-up state (what
POST /__mcapi/reset returns to) is then that loaded store. Measures POST /__mcapi/reset
BENCH_RESETS times (each after one create-domain, so every reset has work to undo), and
GET and PUT /__mcapi/snapshot once each with the document's size. Prints the figures; exits
non-zero only when something does not work."""
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcclient  # noqa: E402

MCAPID = os.environ["MCAPID"]
WORK = os.environ["WORK"]
USERS = int(os.environ.get("BENCH_USERS", "1000"))
DOMAINS = int(os.environ.get("BENCH_DOMAINS", "1000"))
AUDIT = int(os.environ.get("BENCH_AUDIT", "10000"))
RESETS = int(os.environ.get("BENCH_RESETS", "20"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data, port):
    log = open(os.path.join(data, "mcapid.log"), "ab")
    p = subprocess.Popen([MCAPID, "serve", "--dev", "--listen", "127.0.0.1:%d" % port,
                          "--data-dir", data, "--public-base-url", "http://127.0.0.1:%d" % port,
                          "--smtp-listen", "off", "--tls-listen", "off", "--log-level", "warn",
                          "--max-body", "268435456", "--body-budget", "268435456",
                          "--body-budget-per-ip", "268435456"],
                         stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit("mcapid exited; see %s/mcapid.log" % data)
        try:
            creds = json.load(open(os.path.join(data, "dev-credentials.json")))
            if "control_token" in creds and urllib.request.urlopen(
                    "http://127.0.0.1:%d/healthz" % port, timeout=1).status == 200:
                return p, creds
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    p.kill()
    with open(os.path.join(data, "mcapid.log"), errors="replace") as f:
        sys.exit("mcapid did not come up:\n" + f.read()[-2000:])


def fill(db):
    con = sqlite3.connect(db)
    with con:
        now = int(time.time() * 1000)
        con.executemany("INSERT INTO users (account_id, email, name, created) VALUES (1, ?, ?, ?)",
                        (("user%d@bench.example" % i, "User %d" % i, now) for i in range(USERS)))
        con.executemany("INSERT INTO domains (account_id, name, state, inbound_type, token, "
                        "created, expiry) VALUES (1, ?, 0, 'any', 'mcapi-verify-bench', ?, ?)",
                        (("d%d.bench.example" % i, now, now + 86400000) for i in range(DOMAINS)))
        con.executemany("INSERT INTO audit_events (public_id, account_id, event_time, user_name, "
                        "audit_type, category, info) VALUES (?, 1, ?, 'bench', 'Bench', "
                        "'account_logs', 'a benchmark row')",
                        (("bench-%d" % i, now + i) for i in range(AUDIT)))
    con.close()


def api(creds, port, path, data):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps({"data": data}).encode(), method="POST",
                                 headers=mcclient.signed_headers(creds, path))
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, json.loads(r.read())


def control(port, token, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d/__mcapi/%s" % (port, path), data=body,
                                 method=method, headers={"Authorization": "Bearer " + token})
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
    return time.monotonic() - t0, data


def main():
    data = os.path.join(WORK, "emu-reset")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    p, creds = start(data, port)
    p.terminate()
    p.wait()
    fill(os.path.join(data, "mcapid.db"))
    p, creds = start(data, port)
    try:
        token = creds["control_token"]
        times = []
        for i in range(RESETS):
            status, body = api(creds, port, "/api/domain/create-domain",
                               [{"domain": "extra%d.example" % i, "inboundType": "any"}])
            if status != 200 or body.get("fail"):
                sys.exit("create-domain failed: %s" % body)
            t, _ = control(port, token, "POST", "reset")
            times.append(t * 1000)
        t_get, doc = control(port, token, "GET", "snapshot")
        t_put, _ = control(port, token, "PUT", "snapshot", doc)
        times.sort()
        print("store: %d users, %d pending domains, %d audit events (+ the dev account)"
              % (USERS, DOMAINS, AUDIT))
        print("reset: p50 %.1f ms, max %.1f ms over %d (target < 1000 ms on a small store)"
              % (statistics.median(times), times[-1], len(times)))
        print("snapshot: %.1f MB, GET %.1f ms, PUT %.1f ms"
              % (len(doc) / 1e6, t_get * 1000, t_put * 1000))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
