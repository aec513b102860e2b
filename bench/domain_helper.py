#!/usr/bin/env python3
"""Helpers of bench/domain.sh (standard library only).

  call  --creds F --url URL --body JSON [--out FILE]   one signed call; exit 1 unless HTTP 200
                                                       with an empty fail array
  seed  --db DB --account CODE -n N --state internal|pending
                                                       bulk-inserts N domains into a stopped
                                                       server's database (one transaction)
  hold  --creds F --base URL -n N --seconds S          keeps N verify-domain calls waiting (each
                                                       re-sent when it returns) for S seconds
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import sqlite3
import sys
import threading
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


def post(creds, url, body, timeout=120):
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", u.path, body=body.encode(), headers=signed_headers(creds, u.path))
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def cmd_call(a):
    creds = json.load(open(a.creds))
    status, body = post(creds, a.url, a.body)
    if a.out:
        open(a.out, "wb").write(body)
    doc = json.loads(body)
    if status != 200 or doc.get("fail"):
        sys.exit("call failed: %d %s" % (status, body[:300]))
    print(body.decode()[:200])


def cmd_seed(a):
    con = sqlite3.connect(a.db)
    (acct,) = con.execute("SELECT id FROM accounts WHERE code = ?", (a.account,)).fetchone()
    state = 1 if a.state == "internal" else 0
    now = int(time.time() * 1000)
    t = time.time()
    with con:
        con.execute(
            "INSERT INTO domains(account_id, name, state, inbound_type, token, created, "
            "expiry, verified) "
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) "
            "SELECT ?2, printf('d%08d.%s.bench', x, ?5), ?3, 'any', "
            "CASE WHEN ?3 = 0 THEN 'mcapi-verify-' || lower(hex(randomblob(16))) ELSE '' END, "
            "?4, CASE WHEN ?3 = 0 THEN ?4 + 30 * 86400000 ELSE 0 END, "
            "CASE WHEN ?3 = 1 THEN ?4 ELSE 0 END FROM c",
            (a.n, acct, state, now, a.account.lower()))
    con.execute("ANALYZE")
    con.close()
    print("seeded %d %s domains in account %s in %.1f s" % (a.n, a.state, a.account,
                                                            time.time() - t))


def cmd_hold(a):
    creds = json.load(open(a.creds))
    url = a.base + "/api/domain/verify-domain"
    end = time.time() + a.seconds
    done = [0]
    lock = threading.Lock()

    def worker(i):
        body = json.dumps({"data": [{"domain": "wait%04d.bench" % i}]})
        while time.time() < end:
            try:
                post(creds, url, body, timeout=a.seconds + 120)
            except OSError:
                time.sleep(0.1)
            with lock:
                done[0] += 1
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(a.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.seconds + 150)
    print("verify-domain calls completed: %d" % done[0])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call")
    c.add_argument("--creds", required=True)
    c.add_argument("--url", required=True)
    c.add_argument("--body", default='{"data":[]}')
    c.add_argument("--out")
    s = sub.add_parser("seed")
    s.add_argument("--db", required=True)
    s.add_argument("--account", required=True)
    s.add_argument("-n", type=int, required=True)
    s.add_argument("--state", choices=("internal", "pending"), default="internal")
    h = sub.add_parser("hold")
    h.add_argument("--creds", required=True)
    h.add_argument("--base", required=True)
    h.add_argument("-n", type=int, default=100)
    h.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()
    {"call": cmd_call, "seed": cmd_seed, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    main()
