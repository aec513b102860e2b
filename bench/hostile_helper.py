#!/usr/bin/env python3
"""The hardening issue's attacks on a running mcapid, with its figures (standard library and
bench/mcclient.py only). Run by bench/hostile.sh; each prints one RESULT line.

  bodies    --creds F --port P --pid PID -n N [--signed]
            N connections (spread over 16 loopback addresses, 127.0.1.x) each announce a 1 MiB
            body and send 1 MiB - 1 of it: unsigned (refused from the headers) or signed (the body
            budget). Prints mcapid's RSS before and at its peak, and the answers.
  slowloris --creds F --port P --pid PID -n N [--every S] [--seconds T]
            N connections (from 127.0.2.x) each send a request line, then one header line every S
            seconds; meanwhile a new client from 127.0.0.1 tries a signed call every 0.25 s.
            Prints when the attack's connections were cut and how long new clients waited.
"""
import argparse
import os
import resource
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcclient import load_creds, raw_request, read_response, rss_kb, signed_headers  # noqa: E402

PATH = "/api/account/get-account"
MIB = 1 << 20


def fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        if hard != resource.RLIM_INFINITY and hard < n + 64:
            sys.exit(f"hostile: need {n + 64} file descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, hard))


def conn_from(src, port, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def head(headers, length):
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(sock):
    sock.settimeout(2)
    data = b""
    try:
        while b"\r\n" not in data:
            b = sock.recv(4096)
            if not b:
                break
            data += b
    except OSError:
        pass
    parts = data.split(b"\r\n", 1)[0].split()
    return parts[1].decode() if len(parts) > 1 else "closed"


def cmd_bodies(a):
    creds = load_creds(a.creds)
    fd_limit(a.n)
    base = rss_kb(a.pid)
    body = b" " * (MIB - 1)
    socks, answers, peak = [], {}, base
    t0 = time.monotonic()
    for i in range(a.n):
        h = signed_headers(creds, PATH)
        if not a.signed:
            h["Authorization"] = "MC nosuchkey:AAAA"
        try:
            s = conn_from("127.0.1.%d" % (1 + i % 16), a.port)
            s.sendall(head(h, MIB))
        except OSError:
            answers["connect failed"] = answers.get("connect failed", 0) + 1
            continue
        socks.append(s)
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if r:  # answered from its headers
            st = status_of(s)
            answers[st] = answers.get(st, 0) + 1
            s.close()
            continue
        try:
            s.sendall(body)  # "sent": no answer yet when its body went out
            answers["sent"] = answers.get("sent", 0) + 1
        except OSError:
            answers["cut"] = answers.get("cut", 0) + 1
        peak = max(peak, rss_kb(a.pid))
    for _ in range(10):
        time.sleep(0.2)
        peak = max(peak, rss_kb(a.pid))
    secs = time.monotonic() - t0
    for s in socks:
        s.close()
    print(f"RESULT bodies signed={int(a.signed)} conns={a.n} rss_base_kb={base} rss_peak_kb={peak} "
          f"seconds={secs:.1f} answers={answers}")
    return 0


def cmd_slowloris(a):
    creds = load_creds(a.creds)
    fd_limit(a.n)
    socks, t0 = [], time.monotonic()
    for i in range(a.n):
        try:
            s = conn_from("127.0.2.%d" % (1 + i % 200), a.port, timeout=2)
            s.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode())
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    opened = time.monotonic() - t0
    alive = {s: None for s in socks}
    lat, fails, first_ok, last_feed = [], 0, None, time.monotonic()
    next_probe = time.monotonic()
    end = t0 + a.seconds
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_probe:
            next_probe = now + 0.25
            t = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", a.port), timeout=5) as c:
                    c.sendall(raw_request("127.0.0.1", a.port, PATH, signed_headers(creds, PATH)))
                    st, _ = read_response(c)
                ok = st == 200
            except OSError:
                ok = False
            if ok:
                lat.append((time.monotonic() - t) * 1000)
                if first_ok is None:
                    first_ok = time.monotonic() - t0
            else:
                fails += 1
        open_ = [s for s, v in alive.items() if v is None]
        if not open_:
            time.sleep(0.05)
            continue
        # poll, not select: descriptors above 1023 are the rule with 4,200 connections
        poller, by_fd = select.poll(), {}
        for s in open_:
            poller.register(s, select.POLLIN)
            by_fd[s.fileno()] = s
        for fd, _ in poller.poll(0):
            s = by_fd[fd]
            try:
                if s.recv(4096) == b"":
                    alive[s] = time.monotonic() - t0
            except OSError:
                alive[s] = time.monotonic() - t0
        if time.monotonic() - last_feed >= a.every:
            last_feed = time.monotonic()
            for s in open_:
                if alive[s] is None:
                    try:
                        s.send(b"X-Slow: 1\r\n")
                    except OSError:
                        alive[s] = time.monotonic() - t0
        time.sleep(0.02)
    cut = sorted(v for v in alive.values() if v is not None)
    for s in socks:
        s.close()
    lat.sort()
    p99 = lat[max(0, int(len(lat) * 0.99) - 1)] if lat else -1
    print(f"RESULT slowloris conns={a.n} opened={len(socks)} open_seconds={opened:.1f} "
          f"cut={len(cut)} last_cut_s={cut[-1] if cut else -1:.1f} "
          f"new_client_first_ok_s={first_ok if first_ok is not None else -1:.1f} "
          f"new_client_ok={len(lat)} new_client_failed={fails} new_client_p99_ms={p99:.1f}")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("bodies", "slowloris"):
        q = sub.add_parser(name)
        q.add_argument("--creds", required=True)
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--pid", type=int, required=True)
        q.add_argument("-n", type=int, default=1000)
        if name == "bodies":
            q.add_argument("--signed", action="store_true")
        else:
            q.add_argument("--every", type=float, default=3.0)
            q.add_argument("--seconds", type=float, default=40.0)
    a = p.parse_args()
    return {"bodies": cmd_bodies, "slowloris": cmd_slowloris}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
