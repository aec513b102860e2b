"""Native HTTPS (tls_listen, tls_cert, tls_key) and the development CONNECT proxy
(docs/proxy.md): real clients with hard-coded https://*.mimecast.com URLs reach mcapid with only
HTTPS_PROXY and a CA setting changed; CONNECT to anything else is 403, never an open proxy."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile

import pytest
import requests

from mc import Server, clean_env, make_ca, raw_request, run_seed_sample, sign, mc_date, status_of


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="mcapi-pki-")
    yield make_ca(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def server(pki):
    ca, crt, key = pki
    s = Server(tls=True, args=["--tls-cert", crt, "--tls-key", key, "--connect-proxy", "on"])
    s.start()
    yield s
    assert s.stop() == 0, s.read_log()


def https_base(s):
    return "https://127.0.0.1:%d" % s.tls_port


def proxy_env(s, ca):
    p = "http://127.0.0.1:%d" % s.port
    return {"HTTPS_PROXY": p, "https_proxy": p, "REQUESTS_CA_BUNDLE": ca, "SSL_CERT_FILE": ca,
            "CURL_CA_BUNDLE": ca}


def test_https_answers_with_tls_12_or_13(server, pki):
    ca = pki[0]
    r = requests.get(https_base(server) + "/healthz", verify=ca)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", server.tls_port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as t:
            assert t.version() in ("TLSv1.2", "TLSv1.3")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(ca)
    try:
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    except ValueError:
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with socket.create_connection(("127.0.0.1", server.tls_port)) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="localhost")


def test_seed_sample_over_https(server, pki):
    out = run_seed_sample(server, "/api/account/get-account", base=https_base(server),
                          env={"REQUESTS_CA_BUNDLE": pki[0]})
    assert out["meta"]["status"] == 200 and out["data"][0]["accountCode"]


def test_seed_sample_through_the_proxy_with_a_mimecast_url(server, pki):
    out = run_seed_sample(server, "/api/account/get-account", base="https://eu-api.mimecast.com",
                          env=proxy_env(server, pki[0]))
    assert out["meta"]["status"] == 200 and out["data"][0]["accountCode"]
    assert "Connection established" not in server.read_log()  # nothing odd logged


def test_curl_through_the_proxy(server, pki):
    p = subprocess.run(["curl", "-sS", "--fail", "-x", "http://127.0.0.1:%d" % server.port,
                        "--cacert", pki[0], "https://api.mimecast.com/healthz"],
                       capture_output=True, text=True, timeout=30, env=clean_env())
    assert p.returncode == 0 and json.loads(p.stdout) == {"status": "ok"}, p.stderr


@pytest.mark.parametrize("target", [b"example.com:443", b"api.mimecast.com:80",
                                    b"127.0.0.1:443", b"mimecast.com:443",
                                    b"evil-api.mimecast.com.attacker.net:443",
                                    b"xx-api.mimecast.com:443"])
def test_connect_elsewhere_is_403(server, target):
    out = raw_request(server.port, b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target +
                      b"\r\n\r\n")
    assert status_of(out) == 403
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert body["fail"][0]["errors"][0]["code"] == "err_xdk_forbidden"


@pytest.mark.parametrize("head", [b"CONNECT api.mimecast.com HTTP/1.1\r\n\r\n",
                                  b"CONNECT api.mimecast.com:99999 HTTP/1.1\r\n\r\n",
                                  b"CONNECT api.mimecast.com:443 HTTP/2\r\n\r\n",
                                  b"CONNECT a b c\r\n\r\n",
                                  b"CONNECT " + b"a" * 5000 + b":443 HTTP/1.1\r\n\r\n"])
def test_malformed_connect_is_400(server, head):
    assert status_of(raw_request(server.port, head)) == 400


def tunnel(server, ca, host="api.mimecast.com"):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    raw.sendall(b"CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (host.encode(), host.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        head += raw.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    ctx = ssl.create_default_context(cafile=ca)
    return ctx.wrap_socket(raw, server_hostname=host)


def read_responses(t, n):
    data, got = b"", []
    while len(got) < n:
        chunk = t.recv(65536)
        assert chunk, (got, data)
        data += chunk
        while b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            length = int([x.split(b":")[1] for x in head.split(b"\r\n")
                          if x.lower().startswith(b"content-length:")][0])
            if len(rest) < length:
                break
            got.append((head, rest[:length]))
            data = rest[length:]
    return got


def test_tunnel_carries_keep_alive_and_pipelined_requests(server, pki):
    c = server.creds
    t = tunnel(server, pki[0])
    try:
        reqs = b""
        for _ in range(3):
            date, rid, uri = mc_date(), os.urandom(8).hex(), "/api/account/get-account"
            auth = "MC %s:%s" % (c["access_key"], sign(c["secret_key"], date, rid, uri, c["app_key"]))
            reqs += ("POST %s HTTP/1.1\r\nHost: api.mimecast.com\r\nx-mc-app-id: %s\r\n"
                     "x-mc-date: %s\r\nx-mc-req-id: %s\r\nAuthorization: %s\r\n"
                     "Content-Length: 11\r\n\r\n{\"data\":[]}" %
                     (uri, c["app_id"], date, rid, auth)).encode()
        t.sendall(reqs)  # three requests in one write: pipelined
        got = read_responses(t, 3)
        assert all(h.startswith(b"HTTP/1.1 200") for h, _ in got)
        assert all(json.loads(b)["data"][0]["accountCode"] == c["account_code"] for _, b in got)
        t.sendall(b"GET /healthz HTTP/1.1\r\nHost: api.mimecast.com\r\n\r\n")  # kept alive
        assert read_responses(t, 1)[0][0].startswith(b"HTTP/1.1 200")
    finally:
        t.close()


def test_plain_clients_still_pipeline_on_the_proxy_listener(server):
    out = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                   b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 2


def test_discovery_through_the_proxy_answers_the_mimecast_region_url(server, pki):
    c = server.creds
    body = {"data": [{"emailAddress": c["email"]}]}
    h = {"x-mc-app-id": c["app_id"], "Content-Type": "application/json"}
    with requests.Session() as s:
        s.trust_env = False
        s.proxies = {"https": "http://127.0.0.1:%d" % server.port}
        r = s.post("https://api.mimecast.com/api/login/discover-authentication", json=body,
                   headers=h, verify=pki[0])
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["region"]["api"] == "https://eu-api.mimecast.com"
    # reached directly, discovery keeps answering this server's own URL
    r = requests.post(server.base + "/api/login/discover-authentication", json=body, headers=h)
    assert r.json()["data"][0]["region"]["api"] == server.base


def test_dev_mode_makes_a_ca_and_serves_mimecast_names_through_the_proxy():
    s = Server(tls=True)  # --dev with HTTPS and no certificate: the development CA
    s.start()
    try:
        ca = os.path.join(s.data_dir, "dev-ca.pem")
        assert os.stat(os.path.join(s.data_dir, "dev-ca.key")).st_mode & 0o777 == 0o600
        assert os.stat(os.path.join(s.data_dir, "dev-server.key")).st_mode & 0o777 == 0o600
        with open(ca, "rb") as f:
            first = f.read()
        log = s.read_log()
        assert "export HTTPS_PROXY=http://127.0.0.1:%d REQUESTS_CA_BUNDLE=%s" % (
            s.port, os.path.realpath(ca)) in log
        for host in ("api.mimecast.com", "us-api.mimecast.com", "je-api.mimecast.com"):
            out = run_seed_sample(s, "/api/account/get-account", base="https://" + host,
                                  env=proxy_env(s, ca))
            assert out["meta"]["status"] == 200
        assert s.stop() == 0
        s.start()  # the CA survives restarts: clients trust it once
        with open(ca, "rb") as f:
            assert f.read() == first
        out = run_seed_sample(s, "/api/account/get-account", base=https_base(s),
                              env={"REQUESTS_CA_BUNDLE": ca})
        assert out["meta"]["status"] == 200
    finally:
        s.stop()
