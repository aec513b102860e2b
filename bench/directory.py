#!/usr/bin/env python3
"""Directory and policy scale benchmark (driver of bench/directory.sh; standard library only).

Two SQLite stores in one run: "empty" (the development account and one verified domain) and
"loaded" (the same plus 100,000 users, 10,000 groups with 5 members each, and 10,000
blocked-senders policies), filled by direct SQL inserts into the store file between a first
start of mcapid (which creates the schema and the development account) and the measured one.
Measures (a) SMTP intake messages/s with 10 parallel smtplib sessions for BENCH_DURATION
seconds on each store (target: loaded within 20% of empty), with how many accepted messages the
process stage has not reached at the end and how long it takes to catch up (BENCH_DRAIN s at
most), and (b) find-groups on the loaded
store: the first page against the page reached by following `next` tokens ~50 times (target:
the same cost, keyset pages). Prints the figures; exits non-zero only when something does not
work (a server not starting, a message refused, an API answer with a fail)."""
import json
import os
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcclient  # noqa: E402

MCAPID = os.environ["MCAPID"]
WORK = os.environ["WORK"]
DURATION = float(os.environ.get("BENCH_DURATION", "10"))
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "10"))
N_USERS = int(os.environ.get("BENCH_USERS", "100000"))
N_GROUPS = int(os.environ.get("BENCH_GROUPS", "10000"))
N_POLICIES = int(os.environ.get("BENCH_POLICIES", "10000"))
GROUP_EVERY = int(os.environ.get("BENCH_GROUP_POLICY_EVERY", "100"))  # 0: none name a group
MEMBERS = 5
DOMAIN = "bench.test"
PIDS = []


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Mcapid:
    def __init__(self, name):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        self.port, self.smtp_port = free_port(), free_port()
        cmd = [MCAPID, "serve", "--dev", "--listen", "127.0.0.1:%d" % self.port,
               "--tls-listen", "off", "--smtp-listen", "127.0.0.1:%d" % self.smtp_port,
               "--data-dir", self.dir, "--access-log", "0", "--log-level", "warn",
               "--rate-limit", "1000000", "--rate-refill-ms", "1", "--ip-limit", "1000000",
               "--smtp-hostname", "bench.local"]
        self.log = open(os.path.join(self.dir, "mcapid.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        PIDS.append(self.proc)
        end = time.time() + 60
        while time.time() < end:
            if self.proc.poll() is not None:
                sys.exit("bench: mcapid exited %d (log %s)" % (self.proc.returncode, self.dir))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port,
                                            timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit("bench: mcapid did not come up")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        PIDS.remove(self.proc)
        self.log.close()

    @property
    def creds(self):
        with open(os.path.join(self.dir, "dev-credentials.json")) as f:
            return json.load(f)


def fill(db_path, loaded):
    """Inserts the verified domain, and for the loaded store the directory and the policies."""
    now = int(time.time() * 1000)
    con = sqlite3.connect(db_path)
    try:
        (acct,) = con.execute("SELECT id FROM accounts ORDER BY id LIMIT 1").fetchone()
        with con:
            con.execute("INSERT INTO domains (account_id, name, state, inbound_type, created,"
                        " verified) VALUES (?, ?, 1, 'any', ?, ?)", (acct, DOMAIN, now, now))
            if not loaded:
                return acct
            con.executemany(
                "INSERT INTO users (account_id, email, name, created) VALUES (?, ?, ?, ?)",
                ((acct, "user%06d@%s" % (i, DOMAIN), "User %d" % i, now)
                 for i in range(N_USERS)))
            con.executemany(
                "INSERT INTO groups (account_id, name, created) VALUES (?, ?, ?)",
                ((acct, "group %05d" % i, now) for i in range(N_GROUPS)))
            gids = [r[0] for r in con.execute(
                "SELECT id FROM groups WHERE account_id = ? ORDER BY id", (acct,))]
            con.executemany(
                "INSERT INTO group_members (group_id, kind, value, created) VALUES (?, ?, ?, ?)",
                ((g, "email", "user%06d@%s" % ((k * MEMBERS + j) % N_USERS, DOMAIN), now)
                 for k, g in enumerate(gids) for j in range(MEMBERS)))
            # the mix: mostly single addresses, some domains, 1 in GROUP_EVERY naming a group
            # (each of those costs a membership query per recipient when evaluated)
            pol = []
            for i in range(N_POLICIES):
                if GROUP_EVERY and i % GROUP_EVERY == 0:
                    ft, fv = "profile_group", str(gids[i % len(gids)])
                elif i % 10 == 5:
                    ft, fv = "email_domain", "spam%05d.example" % i
                else:
                    ft, fv = "individual_email_address", "blocked%05d@spam.example" % i
                pol.append((acct, "bench policy %d" % i, ft, fv, now, now))
            con.executemany(
                "INSERT INTO sender_policies (account_id, kind, action, description, from_part,"
                " from_type, from_value, to_type, created, updated)"
                " VALUES (?, 0, 0, ?, 'envelope_from', ?, ?, 'everyone', ?, ?)", pol)
        con.execute("ANALYZE")
        return acct
    finally:
        con.close()


def intake(srv, duration):
    """Messages/s over SESSIONS parallel SMTP sessions, each sending one message after another
    on its connection (MAIL, RCPT, DATA, then RSET-free reuse) for `duration` seconds."""
    counts = [0] * SESSIONS
    errors = []
    stop_at = [0.0]
    start = threading.Barrier(SESSIONS + 1)
    body = ("From: sender@outside.example\r\nTo: user000001@%s\r\nSubject: bench\r\n\r\n"
            "Hello from the directory benchmark.\r\n" % DOMAIN) + ("x" * 70 + "\r\n") * 20

    def run(k):
        try:
            s = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30)
            s.ehlo("bench.client")
        except Exception as ex:  # noqa: BLE001
            errors.append(repr(ex))
            start.wait()
            return
        start.wait()
        i = 0
        try:
            while time.time() < stop_at[0]:
                rcpt = "user%06d@%s" % ((k * 7919 + i) % max(N_USERS, 1), DOMAIN)
                refused = s.sendmail("sender%d@outside.example" % k, [rcpt], body)
                if refused:
                    raise RuntimeError("refused %r" % refused)
                counts[k] += 1
                i += 1
            s.quit()
        except Exception as ex:  # noqa: BLE001
            errors.append(repr(ex))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(SESSIONS)]
    for t in threads:
        t.start()
    stop_at[0] = time.time() + duration + 0.05
    t0 = time.time()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    if errors:
        sys.exit("bench: SMTP errors: %s (log %s)" % (errors[:3], srv.dir))
    return sum(counts) / elapsed, sum(counts)


def backlog(srv, timeout=float(os.environ.get("BENCH_DRAIN", "60"))):
    """Messages accepted but not yet through the process stage right after intake, and the
    seconds until there are none (the process stage runs after the 250, off the session)."""
    def count():
        con = sqlite3.connect(os.path.join(srv.dir, "mcapid.db"), timeout=10)
        try:
            return con.execute("SELECT count(*) FROM messages WHERE processed = 0").fetchone()[0]
        finally:
            con.close()
    t0 = time.time()
    first = n = count()
    while n and time.time() - t0 < timeout:
        time.sleep(0.2)
        n = count()
    el = time.time() - t0
    return first, el if not n else None, (first - n) / el if el > 0 else 0


def call(creds, port, path, data, meta=None):
    body = json.dumps({"meta": meta or {}, "data": data}).encode()
    headers = mcclient.signed_headers(creds, path)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                 headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())
    if out.get("fail"):
        sys.exit("bench: %s failed: %s" % (path, out["fail"]))
    return out


def find_groups(srv, size, depth, reps):
    """Median ms of the first page and of the page `depth` next-tokens deep (reps calls each)."""
    creds = srv.creds
    path = "/api/directory/find-groups"
    token = None
    for _ in range(depth):
        meta = {"pagination": {"pageSize": size}}
        if token:
            meta["pagination"]["pageToken"] = token
        out = call(creds, srv.port, path, [{}], meta)
        token = out["meta"]["pagination"].get("next")
        if not token:
            sys.exit("bench: find-groups ran out of pages before depth %d" % depth)
    deep_first = out["data"][0]["folders"][0]["description"]

    def timed(tok):
        ms = []
        for _ in range(reps):
            meta = {"pagination": {"pageSize": size}}
            if tok:
                meta["pagination"]["pageToken"] = tok
            t = time.perf_counter()
            o = call(creds, srv.port, path, [{}], meta)
            ms.append((time.perf_counter() - t) * 1000)
            assert len(o["data"][0]["folders"]) == size, o
        ms.sort()
        return ms[len(ms) // 2]

    timed(None)  # warm
    first, deep = [], []
    for _ in range(3):  # interleaved so drift hits both alike
        first.append(timed(None))
        deep.append(timed(token))
    return min(first), min(deep), deep_first


def main():
    results = {}
    stores = {}
    for name, loaded in (("empty", False), ("loaded", True)):
        s = Mcapid(name).start()  # creates the schema and the development account
        s.stop()
        t = time.time()
        fill(os.path.join(s.dir, "mcapid.db"), loaded)
        if loaded:
            print("-- loaded store: %d users, %d groups (%d members), %d policies in %.1f s"
                  % (N_USERS, N_GROUPS, N_GROUPS * MEMBERS, N_POLICIES, time.time() - t))
        stores[name] = s
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    for name in ("empty", "loaded"):
        results[name] = []
    for r in range(rounds):  # alternate, each on a fresh start of its store
        for name in ("empty", "loaded"):
            s = stores[name].start()
            intake(s, 1.0)  # warm-up
            rate, n = intake(s, DURATION)
            results[name].append(rate)
            left, drain, prate = backlog(s)
            print("-- intake %-6s round %d: %d messages in %.0f s, %.1f msg/s; %d not yet"
                  " processed at the end, %s" % (
                      name, r + 1, n, DURATION, rate, left,
                      "drained in %.1f s" % drain if drain is not None
                      else "NOT drained, process stage %.1f msg/s after intake" % prate))
            if name == "loaded" and r == rounds - 1:
                size = int(os.environ.get("BENCH_PAGE_SIZE", "100"))
                depth = int(os.environ.get("BENCH_PAGE_DEPTH", "50"))
                first, deep, where = find_groups(s, size, depth, 20)
                results["pages"] = (size, depth, first, deep, where)
            s.stop()
    e, lo = max(results["empty"]), max(results["loaded"])
    ratio = lo / e if e else 0
    size, depth, first, deep, where = results["pages"]
    print()
    print("| measure | empty store | loaded store | ratio | target |")
    print("|---|---|---|---|---|")
    print("| SMTP intake, %d sessions, msg/s (best of %d) | %.1f | %.1f | %.2f | >= 0.80 %s |"
          % (SESSIONS, rounds, e, lo, ratio, "ok" if ratio >= 0.8 else "MISSED"))
    cost = deep / first if first else 0
    print("| find-groups page of %d, ms (median) | page 1: %.2f | page %d (%s...): %.2f | %.2f"
          " | ~1.0 %s |" % (size, first, depth + 1, where, deep, cost,
                            "ok" if cost <= 1.25 else "MISSED"))


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in list(PIDS):
            p.kill()
            p.wait()
