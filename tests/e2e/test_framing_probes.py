"""Framing probes (docs/api.md §1, "Request framing"): a table of raw requests, each sent on a
fresh connection to mcapid and to a real nginx started on a loopback port in the same run,
with both answers' status printed side by side (pytest -s shows them). Ours must be exactly
one well-formed status line, headers, and the JSON envelope (never HTML, never a second
status line), with the expected status, and closed or kept open as the table says (kept open
is proved by a second request on the same connection). nginx is the reference for what a
careful server answers; its column is printed, not asserted, and left empty when nginx is not
installed. Also: later requests on a keep-alive connection, and a string holding \\u0000 as a
per-item validation error."""
import contextlib
import glob
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from mc import Server, free_port

MAX_BODY = 4096  # mcapid --max-body and nginx client_max_body_size of this run
API = b"/api/account/get-account"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


SIGNED = b"@SIGNED@"  # replaced by a freshly signed call's headers when the probe is sent


def signed(server, payload):
    if SIGNED not in payload:
        return payload
    h = server.client().headers(API.decode())
    h.pop("Content-Type", None)
    lines = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in h.items())
    return payload.replace(SIGNED, lines)


def post(head_extra, body=b"", target=API):
    return b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n" + head_extra + b"\r\n" + body


def chunked_body(total, size=1024):
    out = b""
    while total > 0:
        n = min(size, total)
        out += b"%x\r\n" % n + b"a" * n + b"\r\n"
        total -= n
    return out + b"0\r\n\r\n"


# name: (bytes, our status, after our answer: "close" | "keep"; body kind "env" | "health")
PROBES = {
    # the list
    "TE 'chunked ' (trailing space)": (
        post(b"Transfer-Encoding: chunked \r\n", b"2\r\n{}\r\n0\r\n\r\n"), 400, "close", "env"),
    "TE 'chunked<TAB>'": (
        post(b"Transfer-Encoding: chunked\t\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 400, "close", "env"),
    "NUL in a header value": (
        post(b"X-A: a\x00b\r\nContent-Length: 2\r\n", b"{}"), 400, "close", "env"),
    "bare CR in a header value": (
        post(b"X-A: a\rb\r\nContent-Length: 2\r\n", b"{}"), 400, "close", "env"),
    "folded header line": (
        post(b"X-A: a\r\n b\r\nContent-Length: 2\r\n", b"{}"), 400, "close", "env"),
    "Content-Length: abc": (post(b"Content-Length: abc\r\n", b"{}"), 400, "close", "env"),
    "Content-Length: +2": (post(b"Content-Length: +2\r\n", b"{}"), 400, "close", "env"),
    "Content-Length: 2 2": (post(b"Content-Length: 2 2\r\n", b"{}"), 400, "close", "env"),
    "Content-Length over uint64": (
        post(b"Content-Length: 99999999999999999999999\r\n"), 400, "close", "env"),
    "no Host on HTTP/1.1": (
        b"POST /api/account/get-account HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, "close",
        "env"),
    "huge chunk extension": (
        post(b"Transfer-Encoding: chunked\r\n", b"2;" + b"e" * 20000 + b"\r\n{}\r\n0\r\n\r\n"),
        400, "close", "env"),
    "absolute-form target": (
        b"GET http://api.mimecast.com/healthz HTTP/1.1\r\nHost: api.mimecast.com\r\n\r\n", 200,
        "keep", "health"),
    # signed: credentials are checked from the headers first (an unsigned call is answered
    # before its body is read, docs/api.md §1.1)
    "chunked body over max_body": (
        post(SIGNED + b"Transfer-Encoding: chunked\r\n", chunked_body(MAX_BODY * 2)), 413,
        "close", "env"),
    "Content-Length over max_body": (
        post(b"Content-Length: %d\r\n" % (MAX_BODY * 1000)), 413, "close", "env"),
    "GET /healthz": (HEALTH, 200, "keep", "health"),
    "POST /healthz with a body": (
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, "keep", "health"),
    "404 outside /api": (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, "keep", "env"),
    "404 POST with a body": (post(b"Content-Length: 2\r\n", b"{}", b"/api/no/such"), 404, "keep",
                             "env"),
    "404 chunked": (post(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n",
                         b"/api/no/such"), 404, "keep", "env"),
    "405 GET on /api": (b"GET /api/account/get-account HTTP/1.1\r\nHost: x\r\n\r\n", 405, "keep",
                        "env"),
    # more of the same kind
    "space before the colon": (b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400, "close", "env"),
    "line without a colon": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nOops\r\n\r\n", 400, "close",
                             "env"),
    "space in the target": (b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "close", "env"),
    "HTTP/2.0 request line": (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400, "close", "env"),
    "two Content-Length": (post(b"Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"), 400,
                           "close", "env"),
    "Content-Length and chunked": (
        post(b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400, "close",
        "env"),
    "TE gzip, chunked": (post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 400,
                         "close", "env"),
    "head over conn_memory/2": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-F: " + b"a" * 9000 + b"\r\n\r\n", 431, "close",
        "env"),
    "bare LF line ends": (b"GET /healthz HTTP/1.1\nHost: x\n\n", 200, "keep", "health"),
    "empty line before the request": (b"\r\n" + HEALTH, 200, "keep", "health"),
}


def read_answer(sock, deadline):
    """One HTTP answer from sock: (head bytes, body bytes, rest) or raises on a bad shape."""
    data = b""
    while b"\r\n\r\n" not in data:
        if time.time() > deadline:
            raise AssertionError("no complete answer head: %r" % data[:300])
        b = sock.recv(65536)
        if not b:
            raise AssertionError("closed before a complete answer head: %r" % data[:300])
        data += b
    head, rest = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"\r\ncontent-length: *([0-9]+)", head, re.I)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        if time.time() > deadline:
            raise AssertionError("body incomplete")
        b = sock.recv(65536)
        if not b:
            break
        rest += b
    return head, rest[:n], rest[n:]


def probe(port, payload, timeout=5.0, wrap=None):
    """Sends payload on a fresh connection; returns (status, head, body, after) where after
    is "close" (EOF after the answer), "keep" (a second request got its answer on the same
    connection) or "open" (neither within the time). wrap: e.g. TLS around the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if wrap:
        s = wrap(s)
    deadline = time.time() + timeout
    try:
        try:
            s.sendall(payload)
        except OSError:
            pass  # the server may answer and close before taking everything
        try:
            head, body, rest = read_answer(s, deadline)
        except (AssertionError, OSError) as e:
            return None, b"", str(e).encode(), "close"
        status = int(head.split(b" ", 2)[1])
        try:
            s.sendall(HEALTH)
            s.settimeout(2.0)
            more = rest
            while b"\r\n\r\n" not in more:
                b = s.recv(65536)
                if not b:
                    return status, head, body, "close"
                more += b
            return status, head, body, "keep" if more.startswith(b"HTTP/1.1 200") else "open"
        except socket.timeout:
            return status, head, body, "open"
        except OSError:
            return status, head, body, "close"
    finally:
        s.close()


def check_ours(name, status, head, body, want, after, want_after, kind):
    assert status == want, (name, status, head, body[:200])
    lines = head.split(b"\r\n")
    assert re.fullmatch(rb"HTTP/1\.1 [0-9]{3} [A-Za-z ]+", lines[0]), (name, lines[0])
    for line in lines[1:]:
        assert re.fullmatch(rb"[A-Za-z0-9-]+: [ -~]*", line), (name, line)
    assert b"HTTP/1." not in body and b"<html" not in body.lower(), (name, body[:200])
    ctype = [x for x in lines[1:] if x.lower().startswith(b"content-type:")]
    assert ctype == [b"Content-Type: application/json"], (name, ctype)
    doc = json.loads(body)
    if kind == "env":
        assert doc["meta"]["status"] == status and doc["data"] == [], (name, doc)
        e = doc["fail"][0]["errors"][0]
        assert e["code"].startswith("err_xdk_") and e["retryable"] is False and e["message"]
    else:
        assert "status" in doc, (name, doc)
    closes = any(x.lower() == b"connection: close" for x in lines[1:])
    assert after == want_after, (name, after, head)
    assert closes == (want_after == "close"), (name, "Connection header", head)


@pytest.fixture(scope="module")
def server():
    s = Server(args=["--max-body", str(MAX_BODY)]).start()
    yield s
    assert s.stop() == 0, s.read_log()


@contextlib.contextmanager
def run_nginx(cert=None, key=None):
    """nginx on a free loopback port (HTTPS with cert and key), or None when it is not
    installed. /api/ is proxied to its own /ok so that it reads request bodies (and enforces
    client_max_body_size on chunked ones) as a server behind it would."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not exe:
        yield None
        return
    d = tempfile.mkdtemp(prefix="mcapi-nginx-")
    os.chmod(d, 0o755)
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fastcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    client_max_body_size %(max)d;
    server {
        listen 127.0.0.1:%(port)d%(ssl)s;
        default_type application/json;
        location = /healthz { return 200 '{"status":"ok"}'; }
        location = /ok { return 200 '{}'; }
        location /api/account/ { proxy_pass http%(s)s://127.0.0.1:%(port)d/ok; }
        location / { return 404 '{}'; }
    }
}
""" % {"d": d, "port": port, "max": MAX_BODY,
       "ssl": " ssl;\n        ssl_certificate %s;\n        ssl_certificate_key %s" % (cert, key) if cert else "",
       "s": "s" if cert else ""})
    proc = subprocess.Popen([exe, "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    up = False
    for _ in range(100):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            up = True
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield port if up else None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx():
    with run_nginx() as port:
        yield port


@pytest.fixture(scope="module")
def nginx_tls(tls_server):
    """nginx over HTTPS with the development certificate of tls_server."""
    certs = glob.glob(os.path.join(tls_server.data_dir, "**", "dev-server.pem"), recursive=True)
    keys = glob.glob(os.path.join(tls_server.data_dir, "**", "dev-server.key"), recursive=True)
    if not certs or not keys:
        yield None
        return
    with run_nginx(certs[0], keys[0]) as port:
        yield port


@pytest.mark.parametrize("name", list(PROBES))
def test_probe(server, nginx, name):
    payload, want, want_after, kind = PROBES[name]
    payload = signed(server, payload)
    status, head, body, after = probe(server.port, payload)
    theirs = probe(nginx, payload) if nginx else None
    print("\n%-34s mcapid %s %-5s | nginx %s" % (
        name, status, after, "%s %s" % (theirs[0], theirs[3]) if theirs else "(not installed)"))
    check_ours(name, status, head, body, want, after, want_after, kind)


def second_request(port, first, second, wrap=None):
    """The answer to second, sent after first on one connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if wrap:
        s = wrap(s)
    try:
        try:
            s.sendall(first + second)
        except OSError:
            pass  # the server may answer and close before taking everything
        deadline = time.time() + 5
        _, _, rest = read_answer(s, deadline)
        data = rest
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except socket.timeout:
            pass
        return data
    finally:
        s.close()


# Every request is parsed and checked by the same code (src/server/http/conn.c), the first or a
# later one on a keep-alive connection: these are answered with the envelope as a second request
# too, the malformed Content-Length and the huge chunk extension included (which, when
# libmicrohttpd parsed later requests, got its HTML page).
LATER = {
    "TE 'chunked '": post(b"Transfer-Encoding: chunked \r\n", b"2\r\n{}\r\n0\r\n\r\n"),
    "bare CR": post(b"X-A: a\rb\r\nContent-Length: 2\r\n", b"{}"),
    "no Host": b"POST /api/account/get-account HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "space before the colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "two Content-Length": post(b"Content-Length: 2\r\nContent-Length: 2\r\n", b"{}"),
    "Content-Length: abc": PROBES["Content-Length: abc"][0],
    "Content-Length: +2": PROBES["Content-Length: +2"][0],
    "Content-Length over uint64": PROBES["Content-Length over uint64"][0],
    "huge chunk extension": PROBES["huge chunk extension"][0],
    "huge chunk extension on a later chunk": post(
        b"Transfer-Encoding: chunked\r\n",
        b"1\r\n{\r\n1;" + b"e" * 20000 + b"\r\n}\r\n0\r\n\r\n", b"/api/no/such"),
    "NUL in a header value": PROBES["NUL in a header value"][0],
    "folded header line": PROBES["folded header line"][0],
}


def second_status(port, name, payload, wrap=None):
    """(status of the answer to payload sent as the second request, whole bytes received)."""
    out = second_request(port, HEALTH, payload, wrap)
    m = re.match(rb"HTTP/1\.1 ([0-9]{3}) ", out)
    return (int(m.group(1)) if m else None), out


def check_later(name, out):
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), (name, out[:300])
    assert b"Connection: close" in head and out.count(b"HTTP/1.1") == 1, (name, out[:300])
    assert b"<html" not in out.lower(), (name, out[:300])
    assert json.loads(body)["fail"][0]["errors"][0]["code"] == "err_xdk_bad_request"


@pytest.mark.parametrize("name", list(LATER))
def test_later_request_on_a_keep_alive_connection(server, nginx, name):
    status, out = second_status(server.port, name, LATER[name])
    theirs = second_status(nginx, name, LATER[name])[0] if nginx else "(not installed)"
    print("\n%-40s second request: mcapid %s | nginx %s" % (name, status, theirs))
    check_later(name, out)


def tls_wrap(sock):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname="localhost")


@pytest.fixture(scope="module")
def tls_server():
    s = Server(tls=True, args=["--max-body", str(MAX_BODY)]).start()
    yield s
    assert s.stop() == 0, s.read_log()


@pytest.mark.parametrize("name", ["Content-Length: abc", "Content-Length over uint64",
                                  "huge chunk extension", "NUL in a header value",
                                  "folded header line", "no Host on HTTP/1.1"])
def test_probe_over_https(tls_server, nginx_tls, name):
    """The same checks over HTTPS, first and second request on a connection (OpenSSL in the
    front: the bytes are checked after decryption, by the same parser)."""
    payload, want, want_after, kind = PROBES[name]
    status, head, body, after = probe(tls_server.tls_port, payload, wrap=tls_wrap)
    theirs = probe(nginx_tls, payload, wrap=tls_wrap) if nginx_tls else None
    print("\n%-34s HTTPS mcapid %s %-5s | nginx %s" % (
        name, status, after, "%s %s" % (theirs[0], theirs[3]) if theirs else "(not installed)"))
    check_ours(name, status, head, body, want, after, want_after, kind)
    s2, out = second_status(tls_server.tls_port, name, payload, tls_wrap)
    theirs2 = second_status(nginx_tls, name, payload, tls_wrap)[0] if nginx_tls else None
    print("%-34s HTTPS second request: mcapid %s | nginx %s" % (name, s2, theirs2))
    check_later(name, out)


def test_head_check_option_is_kept_and_every_request_is_checked():
    """head_check (the old acceptor's switch) is still accepted so that configurations load,
    and changes nothing: every request is checked."""
    s = Server(args=["--head-check", "0"]).start()
    try:
        status, head, body, after = probe(s.port, PROBES["TE 'chunked ' (trailing space)"][0])
        assert status == 400 and after == "close" and json.loads(body)["meta"]["status"] == 400
        status, _, _, after = probe(s.port, HEALTH)
        assert status == 200 and after == "keep"
        assert probe(s.port, PROBES["folded header line"][0])[0] == 400
    finally:
        assert s.stop() == 0


def test_keep_alive_survives_404_405_and_healthz(server):
    """One connection, several early answers, then a real call: nothing closed it."""
    reqs = (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" +
            b"GET /api/account/get-account HTTP/1.1\r\nHost: x\r\n\r\n" +
            post(b"Content-Length: 2\r\n", b"{}", b"/api/no/such") + HEALTH)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        s.sendall(reqs)
        deadline = time.time() + 5
        got = []
        rest = b""
        for _ in range(4):
            data = rest
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, tail = data.partition(b"\r\n\r\n")
            n = int(re.search(rb"(?i)content-length: *([0-9]+)", head).group(1))
            while len(tail) < n and time.time() < deadline:
                tail += s.recv(65536)
            got.append(int(head.split(b" ", 2)[1]))
            rest = tail[n:]
            assert b"Connection: close" not in head
        assert got == [404, 405, 404, 200]
    finally:
        s.close()


def test_nul_in_a_string_fails_its_item_not_the_call(server):
    c = server.client()
    r = c.post("/api/domain/create-domain", raw='{"data": [{"domain": "a\\u0000.example.com", '
                                                '"inboundType": "smtp"}, {"domain": '
                                                '"nul-ok.example.com", "inboundType": "smtp"}]}')
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["domain"] for d in body["data"]] == ["nul-ok.example.com"], body
    assert len(body["fail"]) == 1, body
    f = body["fail"][0]
    assert f["key"]["domain"] == "a\x00.example.com"
    assert f["errors"][0]["code"] == "err_validation_invalid_value"
    assert f["errors"][0]["field"] == "domain"
    # Python literal form, one item only: the function does not run
    r = c.post("/api/directory/find-groups", raw="{'data': [{'query': 'x\\x00y'}]}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] == [] and body["fail"][0]["errors"][0]["field"] == "query"
    # in meta it is still the call's fault
    r = c.post("/api/directory/find-groups",
               raw='{"meta": {"pagination": {"pageToken": "x\\u0000"}}, "data": []}')
    assert r.status_code == 400
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_xdk_malformed_body"


def test_the_head_check_applies_with_the_connect_proxy_on():
    """With the development proxy on, the acceptor sorts CONNECT first, then checks the
    others' heads as usual."""
    s = Server(tls=True).start()
    try:
        for name in ("NUL in a header value", "folded header line", "Content-Length: abc"):
            payload, want, want_after, kind = PROBES[name]
            status, head, body, after = probe(s.port, payload)
            check_ours(name, status, head, body, want, after, want_after, kind)
        status, head, body, after = probe(s.port, HEALTH)
        assert status == 200 and after == "keep"
        status, head, body, after = probe(s.port, b"CONNECT nope:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 403 and json.loads(body)["fail"][0]["errors"][0]["code"] == \
            "err_xdk_forbidden"
    finally:
        assert s.stop() == 0


def send_in_two(port, first, second, pause=0.2):
    """first, a pause, then second on one connection; everything read until close or 3 s."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(first)
        time.sleep(pause)
        got = b""
        s.setblocking(False)
        try:
            got += s.recv(65536)  # 100 Continue, if sent
        except BlockingIOError:
            pass
        s.settimeout(3)
        try:
            s.sendall(second)
        except OSError:
            pass
        deadline = time.time() + 3
        try:
            while time.time() < deadline:
                b = s.recv(65536)
                if not b:
                    break
                got += b
                final = got.split(b"100 Continue\r\n\r\n")[-1]
                head, sep, body = final.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: *([0-9]+)", head)
                if sep and m and len(body) >= int(m.group(1)):
                    break
        except socket.timeout:
            pass
        return got
    finally:
        s.close()


def test_chunked_first_line_is_waited_for(server):
    """The acceptor waits for the first chunk line when it did not come with the head, so a
    huge chunk extension sent a moment later is still ours to answer."""
    head = post(b"Transfer-Encoding: chunked\r\n")
    out = send_in_two(server.port, head, b"2;" + b"e" * 20000 + b"\r\n{}\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and out.count(b"HTTP/1.1") == 1, out[:300]
    assert b"chunk extension" in out
    # a good one in two writes is served as usual
    head = post(b"Transfer-Encoding: chunked\r\n", target=b"/api/no/such")
    out = send_in_two(server.port, head, b"2\r\n{}\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404 "), out[:300]


def test_expect_100_continue_is_not_held_back(server):
    head = post(b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n", target=b"/api/no/such")
    out = send_in_two(server.port, head, b"2\r\n{}\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 "), out[:300]


def test_head_check_off_with_the_connect_proxy_on():
    s = Server(tls=True, args=["--head-check", "0"]).start()
    try:
        assert probe(s.port, PROBES["folded header line"][0])[0] == 400  # checked all the same
        status, head, body, after = probe(s.port, b"CONNECT nope:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 403
    finally:
        assert s.stop() == 0


def test_malformed_chunk_line_mid_body_is_logged_as_its_400(server):
    """A chunk line refused while the body streams in ends the request in the access log with
    the 400 it got (not as a cut), and the connection closes."""
    path = b"/api/no/such-%d" % int(time.time() * 1000)
    payload = post(b"Transfer-Encoding: chunked\r\n", b"1\r\n{\r\nzz\r\n}\r\n0\r\n\r\n", path)
    status, head, body, after = probe(server.port, payload)
    check_ours("chunk line mid-body", status, head, body, 400, after, "close", "env")
    line = [x for x in server.read_log().splitlines() if "path=" + path.decode() in x]
    assert line and " status=400 " in line[-1] and "aborted=1" not in line[-1], line
