#!/usr/bin/env python3
"""Helpers of bench/smtp.sh (standard library only).

  internal --creds F --api URL --db DB --domain D
        creates domain D for the dev account through the signed Domain API and marks it
        verified behind the API's back (as tests/e2e/msgapi.py make_internal does): mail to it
        is then accepted and delivered to the default Maildir route
  latency --port P --to A --size N --interval S --max N --stop-file F
        one SMTP session on 127.0.0.1:P; every S seconds one transaction of an N-byte message,
        timing the DATA command to its final reply (DATA, 354, the message, the dot, 250);
        stops after N transactions or when F exists; prints one key=value line (count, errors,
        p50_ms, p99_ms, max_ms)
  watch --dir D --base B --expect N --timeout S --out F
        counts the files in Maildir D/new every 50 ms until there are B + N (or S seconds
        pass); writes the clock time at which each 10% of N was reached, as JSON, to F
  count --db DB
        prints the messages recorded in the store, by status, as key=value
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import smtplib
import sqlite3
import sys
import time
import uuid
from urllib.parse import urlsplit


def signed_headers(creds, path):
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    req_id = str(uuid.uuid4())
    msg = f"{date}:{req_id}:{path}:{creds['app_key']}".encode()
    sig = base64.b64encode(hmac.new(base64.b64decode(creds["secret_key"]), msg,
                                    hashlib.sha1).digest()).decode()
    return {"x-mc-app-id": creds["app_id"], "x-mc-date": date, "x-mc-req-id": req_id,
            "Authorization": f"MC {creds['access_key']}:{sig}", "Content-Type": "application/json"}


def cmd_internal(a):
    creds = json.load(open(a.creds))
    path = "/api/domain/create-domain"
    u = urlsplit(a.api)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    body = json.dumps({"data": [{"domain": a.domain, "inboundType": "any"}]})
    conn.request("POST", path, body=body.encode(), headers=signed_headers(creds, path))
    r = conn.getresponse()
    doc = json.loads(r.read())
    if r.status != 200 or doc.get("fail"):
        sys.exit("create-domain failed: %d %s" % (r.status, json.dumps(doc)[:300]))
    con = sqlite3.connect(a.db, timeout=30)
    with con:
        n = con.execute("UPDATE domains SET state = 1, verified = expiry - 1000 WHERE name = ?",
                        (a.domain,)).rowcount
    con.close()
    if n != 1:
        sys.exit("domain %s not found in %s" % (a.domain, a.db))
    print("%s is internal (verified) in the dev account" % a.domain)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cmd_latency(a):
    line = ("Y" * 76 + "\r\n").encode()
    head = ("From: <latency@example.org>\r\nTo: <%s>\r\nSubject: latency probe\r\n"
            "Date: %s\r\n\r\n" % (a.to, time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                                       time.gmtime()))).encode()
    body = head + line * max(1, (a.size - len(head)) // len(line))
    s = smtplib.SMTP("127.0.0.1", a.port, local_hostname="latency.example", timeout=60)
    s.ehlo()
    times, errors, last = [], 0, ""
    next_at = time.monotonic()
    while len(times) + errors < a.max and not os.path.exists(a.stop_file):
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at += a.interval
        try:
            code, resp = s.mail("latency@example.org")
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            code, resp = s.rcpt(a.to)
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            t = time.perf_counter()
            code, resp = s.data(body)  # DATA, 354, the message and the dot, the final reply
            dt = time.perf_counter() - t
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            times.append(dt * 1000.0)
        except smtplib.SMTPResponseException as ex:
            errors += 1
            last = "%d %s" % (ex.smtp_code, ex.smtp_error.decode(errors="replace"))
            s.rset()
    s.quit()
    if not times:
        sys.exit("latency: no transaction completed (%d errors, last: %s)" % (errors, last))
    print("count=%d errors=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f%s" % (
        len(times), errors, percentile(times, 50), percentile(times, 99), max(times),
        (" last_error=" + last.replace(" ", "_")) if last else ""))


def count_files(d):
    try:
        with os.scandir(d) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def cmd_watch(a):
    new = os.path.join(a.dir, "new")
    marks, seen = {}, 0
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        n = count_files(new) - a.base
        now = time.time()
        while seen < 10 and n >= a.expect * (seen + 1) / 10.0:
            seen += 1
            marks[seen * 10] = now
        if n >= a.expect:
            break
        time.sleep(0.05)
    with open(a.out, "w") as f:
        json.dump({"count": count_files(new) - a.base, "expect": a.expect, "marks": marks}, f)


def cmd_count(a):
    con = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True, timeout=30)
    names = {0: "received", 1: "held", 2: "processing", 3: "delivered", 4: "rejected",
             5: "bounced", 6: "released", 7: "discarded"}  # enum msg_status
    rows = con.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()
    con.close()
    total = sum(n for _, n in rows)
    print(" ".join(["total=%d" % total] +
                   ["%s=%d" % (names.get(s, "status%d" % s), n) for s, n in rows]))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("internal")
    c.add_argument("--creds", required=True)
    c.add_argument("--api", required=True)
    c.add_argument("--db", required=True)
    c.add_argument("--domain", required=True)
    c = sub.add_parser("latency")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--to", required=True)
    c.add_argument("--size", type=int, default=10240)
    c.add_argument("--interval", type=float, default=0.05)
    c.add_argument("--max", type=int, default=200)
    c.add_argument("--stop-file", required=True)
    c = sub.add_parser("watch")
    c.add_argument("--dir", required=True)
    c.add_argument("--base", type=int, default=0)
    c.add_argument("--expect", type=int, required=True)
    c.add_argument("--timeout", type=float, default=600)
    c.add_argument("--out", required=True)
    c = sub.add_parser("count")
    c.add_argument("--db", required=True)
    a = p.parse_args()
    {"internal": cmd_internal, "latency": cmd_latency, "watch": cmd_watch,
     "count": cmd_count}[a.cmd](a)


if __name__ == "__main__":
    main()
