#!/usr/bin/env python3
"""Helpers of bench/siem.sh (standard library only).

  settle --db DB --timeout S
        waits until the process stage has gone through every accepted message (no message
        with processed = 0 and status received); prints messages, events and the seconds waited
  walk --creds F --api URL [--format json|key_value] [--no-compress] [--save F]
        walks the get-siem-logs chain from no token to its end (isLastToken) on one keep-alive
        connection; counts the events of every file (the zip is opened with zipfile, the
        events counted by their "datetime" keys); prints one key=value line: files, events,
        wall_s, events_per_s, and the server's time per file (first byte to last: p50_ms,
        p99_ms, max_ms, mean_ms). --save keeps the largest file (the nginx reference serves it)
  fetch --url URL --count N
        GETs URL N times on one keep-alive connection (the reference: the same bytes from nginx)
        and prints files_per_s and p50_ms
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import io
import json
import sqlite3
import sys
import time
import uuid
import zipfile
from urllib.parse import urlsplit

PATH = "/api/audit/get-siem-logs"


def signed_headers(creds, path):
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    req_id = str(uuid.uuid4())
    msg = f"{date}:{req_id}:{path}:{creds['app_key']}".encode()
    sig = base64.b64encode(hmac.new(base64.b64decode(creds["secret_key"]), msg,
                                    hashlib.sha1).digest()).decode()
    return {"x-mc-app-id": creds["app_id"], "x-mc-date": date, "x-mc-req-id": req_id,
            "Authorization": f"MC {creds['access_key']}:{sig}", "Content-Type": "application/json"}


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0


def cmd_settle(a):
    con = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True, timeout=30)
    t0 = time.time()
    while True:
        left = con.execute("SELECT count(*) FROM messages WHERE processed = 0 AND status = 0"
                           ).fetchone()[0]
        if left == 0 or time.time() - t0 > a.timeout:
            break
        time.sleep(1)
    msgs = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    events = con.execute("SELECT count(*) FROM mail_events").fetchone()[0]
    print("messages=%d events=%d unprocessed=%d waited_s=%.1f" % (msgs, events, left,
                                                                  time.time() - t0))


def count_events(body, zipped, fmt):
    if zipped:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            names = z.namelist()
            body = z.read(names[0]) if names else b""
    if fmt == "json":
        return body.count(b'"datetime":')
    return body.count(b"\ndatetime=") + (1 if body.startswith(b"datetime=") else 0)


def cmd_walk(a):
    creds = json.load(open(a.creds))
    u = urlsplit(a.api)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    token, files, events, times, biggest, full = None, 0, 0, [], b"", []
    t0 = time.time()
    while True:
        item = {"type": "MTA", "fileFormat": a.format, "compress": not a.no_compress}
        if token:
            item["token"] = token
        body = json.dumps({"data": [item]}).encode()
        t = time.perf_counter()
        conn.request("POST", PATH, body=body, headers=signed_headers(creds, PATH))
        r = conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t
        if r.status != 200:
            sys.exit("get-siem-logs: HTTP %d %s" % (r.status, data[:300]))
        ctype = r.getheader("Content-Type", "")
        nxt = r.getheader("mc-siem-token")
        if ctype.startswith("application/json") and b'"isLastToken":true' in data:
            break
        if not r.getheader("Content-Disposition"):
            sys.exit("get-siem-logs: an answer without a file: %s" % data[:300])
        n = count_events(data, not a.no_compress, a.format)
        if n == 0:
            break  # an empty file also ends the chain for some collectors
        files += 1
        events += n
        times.append(dt)
        if n >= a.full:
            full.append(dt)
        if len(data) > len(biggest):
            biggest = data
        if not nxt or nxt == token:
            break
        token = nxt
    wall = time.time() - t0
    if a.save and biggest:
        open(a.save, "wb").write(biggest)
    ms = [x * 1000 for x in times]
    print("files=%d events=%d wall_s=%.3f events_per_s=%.0f server_events_per_s=%.0f "
          "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f us_per_event=%.2f full_files=%d "
          "full_file_ms=%.2f bytes_max=%d"
          % (files, events, wall, events / wall if wall else 0,
             events / sum(times) if times else 0, percentile(ms, 0.5), percentile(ms, 0.99),
             max(ms) if ms else 0, sum(ms) / len(ms) if ms else 0,
             sum(times) * 1e6 / events if events else 0, len(full),
             sum(full) * 1000 / len(full) if full else 0, len(biggest)))


def cmd_fetch(a):
    u = urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    times = []
    t0 = time.time()
    for _ in range(a.count):
        t = time.perf_counter()
        conn.request("GET", u.path or "/")
        r = conn.getresponse()
        r.read()
        times.append(time.perf_counter() - t)
        if r.status != 200:
            sys.exit("reference: HTTP %d" % r.status)
    wall = time.time() - t0
    print("files_per_s=%.1f p50_ms=%.2f" % (a.count / wall, percentile(times, 0.5) * 1000))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("settle")
    c.add_argument("--db", required=True)
    c.add_argument("--timeout", type=float, default=3600)
    c = sub.add_parser("walk")
    c.add_argument("--creds", required=True)
    c.add_argument("--api", required=True)
    c.add_argument("--format", default="json")
    c.add_argument("--no-compress", action="store_true")
    c.add_argument("--save")
    c.add_argument("--full", type=int, default=10000,
                   help="events of a full file (siem_file_max_events)")
    c = sub.add_parser("fetch")
    c.add_argument("--url", required=True)
    c.add_argument("--count", type=int, default=50)
    a = p.parse_args()
    {"settle": cmd_settle, "walk": cmd_walk, "fetch": cmd_fetch}[a.cmd](a)


if __name__ == "__main__":
    main()
