"""Hostile SMTP clients against the real mcapid (docs/gateway.md, "Limits and deadlines"):
a connection flood from one address (past smtp_per_ip_sessions: 421 4.7.0 at once, closed)
and many sessions from many addresses, message text trickled below smtp_data_min_rate (cut
with 421 4.4.2), a command line trickled a byte at a time and a NOOP just inside
smtp_timeout (cut by smtp_timeout and smtp_txn_timeout, which trickling does not move),
commands and whole transactions pipelined without reading a reply, garbage and binary
lines, over-long lines, and HTTP sent to the SMTP port. Meanwhile a normal client
(smtplib) keeps getting 250 with a p99 under 50 ms per message (or, on a machine too busy
for that without attackers, under twice its p99 alone), and the RSS of mcapid
(/proc/<pid>/status) stays under RSS_BOUND. Every attack is bounded in count and time and
the whole file runs in well under a minute; the figures are printed (pytest -s) and in
the summary line."""
import json
import random
import socket
import subprocess
import sys
import threading
import time

import pytest

import mc
from mc import Server
from test_smtp import DOMAIN, Smtp, make_domain

pytestmark = pytest.mark.serial  # timing bounds: alone, after the parallel files (Makefile)

# The limits of the server under attack: short, so that each deadline is seen in seconds.
TIMEOUT = 2        # smtp_timeout: a command line within 2 s of the last reply
TXN = 4            # smtp_txn_timeout: DATA within 4 s of the greeting or the last message
GRACE = 1          # smtp_data_grace
RATE = 4096        # smtp_data_min_rate, bytes/s after the grace
PER_IP = 16        # smtp_per_ip_sessions
MAX_SESSIONS = 120  # smtp_max_sessions
MAX_COMMANDS = 100  # smtp_max_commands (the default)
# mcapid's RSS: ~20 MiB at rest; each session holds ~40 KiB of buffers and a thread whose
# stack it touches, and the accepts are bounded by smtp_accept_memory (64 MiB). 128 MiB leaves
# room for the sanitizer-free build's arenas on a machine with 2 cores.
RSS_BOUND = 128 * 1024 * 1024
P99_MS = 50 if not mc.SLOW else 500

SUMMARY = {}


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class RssWatch:
    """Samples the RSS of pid every 50 ms until stopped; keeps the largest."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop_ev = pid, 0, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.peak = max(self.peak, rss(self.pid))
            except OSError:
                return
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.t.join()
        return self.peak


# The normal client runs in a process of its own, so that what it measures is mcapid and not
# the attackers' threads holding this process's GIL.
NORMAL_SCRIPT = r"""
import json, smtplib, sys, time
port, seconds, domain = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
times, failures, i = [], [], 0
end = time.time() + seconds
while time.time() < end:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
            c.ehlo("normal.test")
            for _ in range(10):
                if time.time() >= end:
                    break
                msg = ("Message-ID: <normal-%d@outside.test>\r\nSubject: n %d\r\n\r\n"
                       "hello %d\r\n" % (i, i, i))
                t0 = time.perf_counter()
                c.sendmail("sender@outside.test", ["user@" + domain], msg)
                times.append((time.perf_counter() - t0) * 1000)
                i += 1
                time.sleep(0.02)
    except (smtplib.SMTPException, OSError) as e:
        failures.append(repr(e))
        time.sleep(0.1)
print(json.dumps({"times": times, "failures": failures}))
"""


class Normal:
    """A well-behaved client on 127.0.0.1 for `seconds`: one message at a time over
    smtplib, a new session every 10 messages; records each message's time from MAIL to
    the 250."""

    def __init__(self, port, seconds):
        self.p = subprocess.Popen([sys.executable, "-c", NORMAL_SCRIPT, str(port), str(seconds),
                                   DOMAIN], stdout=subprocess.PIPE, text=True)
        self.times, self.failures = [], []

    def wait(self):
        out, _ = self.p.communicate(timeout=60)
        r = json.loads(out)
        self.times, self.failures = r["times"], r["failures"]
        return self

    def p99(self):
        t = sorted(self.times)
        return t[min(len(t) - 1, int(len(t) * 0.99))] if t else float("inf")


@pytest.fixture(scope="module")
def gw():
    s = Server(smtp=True, args=[
        "--smtp-timeout", str(TIMEOUT), "--smtp-txn-timeout", str(TXN),
        "--smtp-data-grace", str(GRACE), "--smtp-data-min-rate", str(RATE),
        "--smtp-per-ip-sessions", str(PER_IP), "--smtp-max-sessions", str(MAX_SESSIONS),
        "--smtp-max-size", "1048576"]).start()
    make_domain(s)
    yield s
    rc = s.stop()
    assert rc == 0, "mcapid exited %d on SIGTERM: %s" % (rc, s.read_log())
    if SUMMARY:
        print("\nhostile SMTP summary: " + " ".join("%s=%s" % kv for kv in sorted(SUMMARY.items())))


def greeted(port, source):
    c = Smtp(port, source=source, timeout=10)
    return c, c.reply()


def in_data(port, source):
    """A session from source in DATA (354 given)."""
    c, (code, _) = greeted(port, source)
    assert code == 220
    assert c.cmd("EHLO hostile.test")[0] == 250
    assert c.cmd("MAIL FROM:<sender@outside.test>")[0] == 250
    assert c.cmd("RCPT TO:<user@%s>" % DOMAIN)[0] == 250
    assert c.cmd("DATA")[0] == 354
    return c


# ---- the attacks: each returns what it saw, and asserts what must hold ----------------------

def flood_one_ip(port):
    """3 x PER_IP connections from one address: PER_IP greeted, the rest 421 4.7.0 at once
    and closed; the greeted ones are cut by smtp_timeout."""
    held, refused, slow = [], 0, 0.0
    for _ in range(3 * PER_IP):
        t0 = time.time()
        c, (code, lines) = greeted(port, "127.0.0.2")
        if code == 220:
            held.append(c)
            continue
        assert code == 421 and lines[0].startswith("421 4.7.0") and "your address" in lines[0]
        assert c.closed(2)
        slow = max(slow, time.time() - t0)
        refused += 1
        c.close()
    assert len(held) == PER_IP and refused == 2 * PER_IP, (len(held), refused)
    assert slow < 1.0, "a refusal took %.2f s" % slow
    for c in held:  # nothing sent: smtp_timeout ends each
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        c.close()
    return {"flood_greeted": len(held), "flood_refused": refused,
            "flood_refuse_max_ms": int(slow * 1000)}


def many_sessions(port):
    """Two sessions from each of 30 addresses at once, each NOOPs and quits."""
    conns = []
    for i in range(30):
        for _ in range(2):
            c, (code, _) = greeted(port, "127.0.1.%d" % (i + 1))
            assert code == 220
            conns.append(c)
    for c in conns:
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("QUIT")[0] == 221
        c.close()
    return {"many_sessions": len(conns)}


def slow_data(port):
    """Message text at 40 bytes/s, far below RATE: cut with 421 4.4.2 soon after the grace
    (the per-read smtp_timeout never fires, a chunk comes every 0.25 s)."""
    c = in_data(port, "127.0.0.3")
    c.send("Subject: slow\r\n\r\n")
    t0 = time.time()
    c.s.settimeout(0.25)
    got = b""
    while time.time() - t0 < 15:
        try:
            c.send("0123456789")
        except OSError:
            break
        try:
            b = c.s.recv(4096)
            if not b:
                break
            got += b
            if b"\r\n" in got:
                break
        except socket.timeout:
            pass
    cut = time.time() - t0
    assert got.startswith(b"421 4.4.2 ") and b"too slow" in got, got
    # the grace, then ~100 bytes at RATE: well before smtp_timeout would have counted
    assert GRACE * 0.8 < cut < GRACE + 2.5, cut
    c.close()
    return {"slow_data_cut_s": round(cut, 2)}


def fast_then_stall_data(port):
    """A fast sender of message text keeps its session (the rate is met)."""
    c = in_data(port, "127.0.0.3")
    body = ("x" * 70 + "\r\n") * 2000  # 144 KB at loopback speed
    c.send("Subject: fast\r\n\r\n" + body + ".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.cmd("QUIT")
    c.close()
    return {}


def trickled_command(port):
    """A command line a byte every 0.2 s never ends: smtp_timeout counts from the last
    reply, not from the last byte."""
    c, _ = greeted(port, "127.0.0.4")
    c.cmd("EHLO trickle.test")
    t0 = time.time()
    c.s.settimeout(0.2)
    got = b""
    for ch in ("NOOP " + "x" * 100):
        try:
            c.send(ch)
            b = c.s.recv(4096)
            if not b:
                break
            got += b
            break
        except socket.timeout:
            continue
        except OSError:
            break
    cut = time.time() - t0
    assert got.startswith(b"421 4.4.2 ") and b"timeout" in got, got
    assert TIMEOUT * 0.8 < cut < TIMEOUT + 1.5, cut
    c.close()
    return {"trickled_command_cut_s": round(cut, 2)}


def noop_keepalive(port):
    """A NOOP every TIMEOUT/2: each is answered, but no DATA within smtp_txn_timeout ends
    the session (421 4.4.2) however many such commands come."""
    c, _ = greeted(port, "127.0.0.5")
    t0 = time.time()
    c.cmd("EHLO keepalive.test")
    last = None
    while time.time() - t0 < TXN + 3:
        code, lines = c.cmd("NOOP")
        last = lines
        if code != 250:
            break
        time.sleep(TIMEOUT / 2)
    cut = time.time() - t0
    assert last[0].startswith("421 4.4.2") and "no message" in last[0], last
    assert TXN * 0.8 < cut < TXN + 2, cut
    c.close()
    return {"noop_keepalive_cut_s": round(cut, 2)}


def junk_without_lf(port):
    """A megabyte with no line end: one 500 5.5.2, the rest skipped, then the command
    deadline ends the session (no reply moved it)."""
    c, _ = greeted(port, "127.0.0.6")
    t0 = time.time()
    try:
        c.send(b"Z" * (1 << 20))
    except OSError:
        pass
    code, lines = c.reply()
    assert lines == ["500 5.5.2 line too long"], lines
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.4.2"), lines
    assert time.time() - t0 < TIMEOUT + 2
    c.close()
    return {}


def overlong_lines(port):
    """Over-long command lines: 500 5.5.2 once each, the session in step."""
    c, _ = greeted(port, "127.0.0.6")
    c.send("EHLO " + "y" * 200000 + "\r\nNOOP\r\n")
    assert c.reply() == (500, ["500 5.5.2 line too long"])
    assert c.reply() == (250, ["250 2.0.0 Ok"])
    assert c.cmd("QUIT")[0] == 221
    c.close()
    return {}


def garbage(port):
    """Random binary lines (NULs, CRs, bytes >= 0x80): 500s, then 421 4.7.0 once errors
    pass smtp_max_commands; mcapid lives on."""
    rnd = random.Random(7)
    c, _ = greeted(port, "127.0.0.7")
    lines = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))).replace(b"\n", b"")
             + b"\r\n" for _ in range(3 * MAX_COMMANDS)]
    try:
        c.send(b"".join(lines))
    except OSError:
        pass
    codes = []
    try:
        while True:
            code, _ = c.reply()
            codes.append(code)
            if code == 421:
                break
    except (EOFError, OSError):
        pass
    assert codes and codes[-1] == 421 and set(codes[:-1]) <= {500, 501, 503}, codes[-5:]
    assert len(codes) <= MAX_COMMANDS + 2, len(codes)
    c.close()
    # HTTP on the SMTP port: one 221 and closed
    c, _ = greeted(port, "127.0.0.7")
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    code, lines = c.reply()
    assert code == 221 and lines[0].startswith("221 2.7.0"), lines
    assert c.closed()
    c.close()
    return {"garbage_replies": len(codes)}


def pipelined_commands_unread(port):
    """MAX_COMMANDS - 1 NOOPs and a QUIT in one write, not read until all is sent: every
    reply, in order; then a flood past the limit: 421 4.7.0 and closed, nothing queued
    without bound (the server stops reading a client that does not read)."""
    c, _ = greeted(port, "127.0.0.8")
    c.send("NOOP\r\n" * (MAX_COMMANDS - 1) + "QUIT\r\n")
    time.sleep(0.2)
    for _ in range(MAX_COMMANDS - 1):
        assert c.reply() == (250, ["250 2.0.0 Ok"])
    assert c.reply()[0] == 221
    assert c.closed()
    c.close()
    c, _ = greeted(port, "127.0.0.8")
    sent = 0
    c.s.settimeout(5)
    try:
        for _ in range(200):  # up to 6 MB, or until the server closes
            c.send(b"RSET\r\n" * 5000)
            sent += 5000
    except OSError:
        pass
    n, last = 0, None
    try:
        while True:
            code, lines = c.reply()
            n += 1
            last = lines[0]
            if code != 250:
                break
    except (EOFError, OSError):
        pass
    # a reset can drop the replies still unread; whatever arrived is in step
    assert last is None or last.startswith("421 4.7.0") or last.startswith("250"), last
    assert n <= MAX_COMMANDS + 1
    c.close()
    return {"flood_sent_commands": sent, "flood_replies_read": n}


def pipelined_transactions_unread(port):
    """5 whole transactions in one write, the replies read only at the end: 5 x
    (250 250 354 250) in order."""
    c, _ = greeted(port, "127.0.0.9")
    c.cmd("EHLO pipe.test")
    one = ("MAIL FROM:<sender@outside.test>\r\nRCPT TO:<user@%s>\r\nDATA\r\n"
           "Subject: piped\r\n\r\n" % DOMAIN) + ("p" * 60 + "\r\n") * 100 + ".\r\n"
    c.send(one * 5 + "QUIT\r\n")
    time.sleep(0.3)
    for _ in range(5):
        assert [c.reply()[0] for _ in range(4)] == [250, 250, 354, 250]
    assert c.reply()[0] == 221
    c.close()
    return {}


ATTACKS = [flood_one_ip, many_sessions, slow_data, fast_then_stall_data, trickled_command,
           noop_keepalive, junk_without_lf, overlong_lines, garbage, pipelined_commands_unread,
           pipelined_transactions_unread]


def attack_round(gw, n):
    """The normal client alone for about as long as the attacks, then with every attack
    at once; asserts what must hold whatever the machine's load, returns the figures."""
    # as long as the attacks: as many chances to meet another program's slow fsync
    alone = Normal(gw.smtp_port, 5).wait()
    watch = RssWatch(gw.proc.pid)
    rss0 = rss(gw.proc.pid)
    normal = Normal(gw.smtp_port, 5)
    errors, results = [], {}

    def run(fn):
        try:
            results.update(fn(gw.smtp_port) or {})
        except Exception as e:  # reported below with the attack's name
            errors.append("%s: %r" % (fn.__name__, e))

    t0 = time.time()
    threads = [threading.Thread(target=run, args=(fn,), daemon=True) for fn in ATTACKS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(45)
    hung = [fn.__name__ for fn, t in zip(ATTACKS, threads) if t.is_alive()]
    normal.wait()
    peak = watch.stop()
    took = time.time() - t0
    SUMMARY.update(results)
    SUMMARY.update({"round": n, "normal_messages": len(normal.times),
                    "normal_failures": len(normal.failures),
                    "normal_p50_ms": round(sorted(normal.times)[len(normal.times) // 2], 1)
                    if normal.times else None,
                    "normal_p99_ms": round(normal.p99(), 1),
                    "alone_p99_ms": round(alone.p99(), 1), "rss_start_mib": rss0 >> 20,
                    "rss_peak_mib": peak >> 20, "rss_bound_mib": RSS_BOUND >> 20,
                    "seconds": round(took, 1)})
    print("\nhostile SMTP: " + " ".join("%s=%s" % kv for kv in sorted(SUMMARY.items())))
    print("normal client, slowest (ms): under attack %s, alone %s" % (
        [round(x, 1) for x in sorted(normal.times)[-4:]],
        [round(x, 1) for x in sorted(alone.times)[-4:]]))
    assert not hung, "attacks still running: %s" % hung
    assert not errors, errors
    assert gw.proc.poll() is None, "mcapid died: " + gw.read_log()
    assert not normal.failures, normal.failures[:3]
    assert len(normal.times) >= 10, len(normal.times)
    assert peak < RSS_BOUND, "RSS peaked at %d MiB" % (peak >> 20)
    return normal.p99(), alone.p99(), took


@pytest.mark.nosan
def test_hostile_clients_while_a_normal_one_delivers(gw):
    p99, alone, took = attack_round(gw, 1)
    # 50 ms; on a machine so busy with other work that the client alone misses it (the
    # SMTP threads run at mail_nice 19 and every 250 waits for an fsync), twice what it
    # saw alone. The disk of a shared machine stalls now and then for 100-300 ms, alone
    # or not: a miss is measured once more, and the second round decides.
    if p99 >= max(P99_MS, 2 * alone):
        first = (p99, alone)
        p99, alone, more = attack_round(gw, 2)
        took += more
        print("round 1 missed: p99 %.1f ms, alone %.1f ms" % first)
    assert p99 < max(P99_MS, 2 * alone), "normal client p99 %.1f ms (alone %.1f ms)" % (
        p99, alone)
    # the refusals of the flood are logged at most once a second (and a count after)
    time.sleep(mc.LOG_FLUSH_WAIT)
    with open(gw.log_path, "rb") as f:
        logged = f.read().count(b"too many sessions from your address")
    assert 1 <= logged <= took + 4, logged


def test_slots_are_free_after_the_attacks(gw):
    """Every session of the attacks has ended: all PER_IP slots of the flooded address
    can be taken again at once."""
    conns = []
    try:
        for _ in range(PER_IP):
            c, (code, lines) = greeted(gw.smtp_port, "127.0.0.2")
            assert code == 220, lines
            conns.append(c)
    finally:
        for c in conns:
            c.close()


@pytest.mark.nosan
def test_large_messages_at_once_wait_for_accept_memory(tmp_path):
    """12 sessions end DATA of a 4 MiB message at the same moment; smtp_accept_memory is
    the smallest allowed (64 KiB), so the accepts (which read a message into memory) run
    one at a time: each gets 250 (or 451 4.3.1 after waiting SMTP_GATE_WAIT_MS, which a
    message this size never needs here), and mcapid's RSS grows by less than 80 MiB: the
    accepts one at a time, then the process stage and the store's caches. Measured here:
    ~50 MiB; with the budget out of the way (--smtp-accept-memory 1073741824) ~130 MiB,
    and ~135 MiB before smtp_start fixed glibc's mmap threshold (the freed blocks stayed
    in the session threads' arenas)."""
    s = Server(smtp=True, args=["--smtp-accept-memory", "65536", "--smtp-max-size",
                                str(8 << 20)]).start()
    try:
        make_domain(s)
        watch = RssWatch(s.proc.pid)
        rss0 = rss(s.proc.pid)
        body = ("Subject: large\r\n\r\n" + ("L" * 998 + "\r\n") * 4096).encode()
        conns = [in_data(s.smtp_port, "127.0.0.%d" % (20 + i)) for i in range(12)]
        for c in conns:  # all but the final dot: the whole text is spooled to files
            c.send(body)
        time.sleep(0.5)
        t0 = time.time()
        for c in conns:
            c.send(".\r\n")
        codes = [c.reply() for c in conns]
        took = time.time() - t0
        peak = watch.stop()
        for c in conns:
            c.close()
        SUMMARY.update({"large_accepts_s": round(took, 2),
                        "large_rss_growth_mib": (peak - rss0) >> 20})
        print("\nlarge messages: 12 x 4 MiB accepted in %.2f s, RSS %d -> %d MiB" % (
            took, rss0 >> 20, peak >> 20))
        assert all(c[0] == 250 for c in codes), codes
        assert peak - rss0 < 80 << 20, "RSS grew by %d MiB" % ((peak - rss0) >> 20)
    finally:
        assert s.stop() == 0
