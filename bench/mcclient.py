#!/usr/bin/env python3
"""Small signed client for the benchmark (standard library only).

  probe  --creds F --url URL [--out FILE]   one signed call; prints status and body, writes the
                                            body to FILE; exit 1 unless HTTP 200 and no "fail"
  curl   --creds F --url URL                prints and runs the same call as a curl command
         (both: an https URL needs --cacert CA, the PEM file of the CA that signed the server's)
  idle   --creds F --url URL --pid PID -n N opens N keep-alive connections, one signed call on
                                            each, keeps them open and prints mcapid's RSS

Signing is docs/api.md §2.1, written independently of bench/signer.lua so the two check each
other.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import resource
import shlex
import socket
import ssl
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

BODY = b'{"data":[]}'


def load_creds(path):
    with open(path) as f:
        c = json.load(f)
    for k in ("app_id", "app_key", "access_key", "secret_key"):
        if not c.get(k):
            sys.exit(f"mcclient: '{path}' has no {k}")
    return c


def signed_headers(creds, path):
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    req_id = str(uuid.uuid4())
    msg = f"{date}:{req_id}:{path}:{creds['app_key']}".encode()
    sig = base64.b64encode(
        hmac.new(base64.b64decode(creds["secret_key"]), msg, hashlib.sha1).digest()
    ).decode()
    return {
        "x-mc-app-id": creds["app_id"],
        "x-mc-date": date,
        "x-mc-req-id": req_id,
        "Authorization": f"MC {creds['access_key']}:{sig}",
        "Content-Type": "application/json",
    }


def raw_request(host, port, path, headers, body=BODY):
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_response(sock):
    """Reads one Content-Length framed response; returns (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside the response body")
        rest += chunk
    return status, rest[:length]


def target(url):
    u = urlsplit(url)
    return u.hostname, u.port or (443 if u.scheme == "https" else 80), u.path or "/"


def connect(url, cacert):
    """A socket to URL's server; TLS (checked against cacert) for https."""
    host, port, _ = target(url)
    sock = socket.create_connection((host, port), timeout=5)
    if urlsplit(url).scheme != "https":
        return sock
    if not cacert:
        sock.close()
        sys.exit("mcclient: an https URL needs --cacert")
    ctx = ssl.create_default_context(cafile=cacert)
    return ctx.wrap_socket(sock, server_hostname=host)


def ok_envelope(status, body):
    try:
        env = json.loads(body)
    except ValueError:
        return False
    return status == 200 and env.get("fail") == [] and env.get("meta", {}).get("status") == 200


def cmd_probe(a):
    creds = load_creds(a.creds)
    host, port, path = target(a.url)
    with connect(a.url, a.cacert) as s:
        s.sendall(raw_request(host, port, path, signed_headers(creds, path)))
        status, body = read_response(s)
    print(f"HTTP {status}, {len(body)} bytes: {body.decode(errors='replace')[:400]}")
    if a.out:
        with open(a.out, "wb") as f:
            f.write(body)
    return 0 if ok_envelope(status, body) else 1


def cmd_curl(a):
    creds = load_creds(a.creds)
    _, _, path = target(a.url)
    argv = ["curl", "-sS", "-i", "--max-time", "5", "-X", "POST", a.url, "--data-binary", BODY.decode()]
    if a.cacert:
        argv += ["--cacert", a.cacert]
    for k, v in signed_headers(creds, path).items():
        argv += ["-H", f"{k}: {v}"]
    print("$ " + " ".join(shlex.quote(x) for x in argv), flush=True)
    return subprocess.call(argv)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cmd_idle(a):
    creds = load_creds(a.creds)
    host, port, path = target(a.url)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"mcclient: need {want} file descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    time.sleep(0.5)
    base_rss, base_fds = rss_kb(a.pid), open_fds(a.pid)
    socks, bad = [], 0
    deadline = time.monotonic() + a.timeout
    for i in range(a.n):
        if time.monotonic() > deadline:
            sys.exit(f"mcclient: opened only {i} connections in {a.timeout}s")
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(raw_request(host, port, path, signed_headers(creds, path)))
        status, body = read_response(s)
        if not ok_envelope(status, body):
            bad += 1
            if bad == 1:
                print(f"mcclient: unexpected answer {status}: {body[:300]!r}", file=sys.stderr)
        socks.append(s)
    time.sleep(a.settle)
    rss, fds = rss_kb(a.pid), open_fds(a.pid)
    # The connections must still be open at the moment RSS was read: a closed one reads EOF.
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    print(
        f"RESULT conns={a.n} alive={alive} bad={bad} rss_base_kb={base_rss} rss_kb={rss} "
        f"fds_base={base_fds} fds={fds}"
    )
    return 0 if bad == 0 and alive == a.n else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("probe", "curl", "idle"):
        s = sub.add_parser(name)
        s.add_argument("--creds", required=True, help="dev-credentials.json")
        s.add_argument("--url", required=True, help="http://127.0.0.1:PORT/api/account/get-account")
        if name in ("probe", "curl"):
            s.add_argument("--cacert", help="CA file checking an https server")
        if name == "probe":
            s.add_argument("--out", help="write the response body here")
        if name == "idle":
            s.add_argument("--pid", type=int, required=True, help="mcapid's process id")
            s.add_argument("-n", type=int, default=1000, help="connections to open")
            s.add_argument("--settle", type=float, default=1.0, help="seconds before reading RSS")
            s.add_argument("--timeout", type=float, default=60.0, help="give up opening after this")
    a = p.parse_args()
    return {"probe": cmd_probe, "curl": cmd_curl, "idle": cmd_idle}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
