"""The SMTP front of the gateway (API.md §13.1) against the real mcapid, with swaks and raw
sockets: the greeting and EHLO capabilities, STARTTLS with swaks --tls (the certificate of
--tls-cert/--tls-key, no HTTPS listener needed), messages accepted for an internal domain,
the session limits in all and per client address, the idle timeout, over-long command lines,
the message size limit (declared and counted), and 421 to a waiting session on SIGTERM.
Skipped while mcapid does not serve SMTP."""
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import mc
from mc import Server

SWAKS = shutil.which("swaks")
DOMAIN = "gw.example"
_no_smtp = []  # set once a server was seen without SMTP: the other tests skip at once


def smtp_server(*args, tls=None):
    """A started mcapid with SMTP on a free port (and STARTTLS with tls = make_ca's triple);
    skips the test when it does not listen for SMTP."""
    if _no_smtp:
        pytest.skip("mcapid does not serve SMTP yet")
    extra = list(args)
    if tls:
        extra += ["--tls-cert", tls[1], "--tls-key", tls[2]]
    s = Server(smtp=True, args=extra).start()
    deadline = time.time() + (10 if mc.SLOW else 3)  # /healthz may answer a moment before
    while True:
        try:
            c = Smtp(s.smtp_port, timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                s.stop()
                _no_smtp.append(True)
                pytest.skip("mcapid does not serve SMTP yet")
            time.sleep(0.05)
    c.reply()
    c.cmd("QUIT")
    c.closed()  # and its session slot is free again
    c.close()
    return s


def make_domain(server, name=DOMAIN):
    """An internal (verified) domain of the dev account, inboundType any."""
    from test_domain import make_internal
    make_internal(server, server.client(), name)


class Smtp:
    """A line-at-a-time SMTP client on a raw socket."""

    def __init__(self, port, source=None, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                          source_address=(source, 0) if source else None)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            b = self.s.recv(65536)
            if not b:
                raise EOFError("connection closed; had %r" % self.buf)
            self.buf += b
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def reply(self):
        """(code, [lines]) of one reply, multi-line replies joined."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return int(lines[-1][:3]), lines

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection within timeout (after what it says)."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def swaks(server, *args, timeout=60):
    if not SWAKS:
        pytest.skip("swaks is not installed")
    p = subprocess.run([SWAKS, "--server", "127.0.0.1:%d" % server.smtp_port] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="mcapi-smtp-ca-")
    yield mc.make_ca(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def gw(certs):
    s = smtp_server("--smtp-max-size", "65536", tls=certs)
    make_domain(s)
    yield s
    rc = s.stop()
    assert rc == 0, "mcapid exited %d on SIGTERM: %s" % (rc, s.read_log())


def test_greeting_and_capabilities(gw):
    c = Smtp(gw.smtp_port)
    code, lines = c.reply()
    assert code == 220 and re.fullmatch(r"220 \S+ ESMTP mcapid", lines[0]), lines
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    caps = [l[4:] for l in lines[1:]]
    assert caps == ["PIPELINING", "SIZE 65536", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS"]
    assert c.cmd("HELO client.test")[0] == 250
    assert c.cmd("NOOP") == (250, ["250 2.0.0 Ok"])
    assert c.cmd("VRFY someone")[0] == 252
    assert c.cmd("WHAT")[1] == ["500 5.5.2 command not recognized"]
    assert c.cmd("RCPT TO:<a@%s>" % DOMAIN)[1][0].startswith("503 5.5.1")
    assert c.cmd("QUIT") == (221, ["221 2.0.0 Bye"])
    assert c.closed()
    c.close()


def test_no_starttls_without_a_certificate():
    s = smtp_server()
    try:
        c = Smtp(s.smtp_port)
        c.reply()
        code, lines = c.cmd("EHLO client.test")
        assert "250 STARTTLS" not in lines and "250-STARTTLS" not in lines
        assert "SIZE 26214400" in [l[4:] for l in lines]  # the default limit
        assert c.cmd("STARTTLS")[0] == 502
        c.close()
    finally:
        assert s.stop() == 0


def test_message_accepted(gw):
    rc, out = swaks(gw, "--from", "sender@outside.test", "--to", "user@%s" % DOMAIN,
                    "--header", "Subject: e2e plain", "--body", "hello\n.leading dot\n")
    assert rc == 0, out
    assert re.search(r"<-  250 2\.0\.0 ", out), out


def test_starttls_with_swaks(gw, certs):
    ca = certs[0]
    rc, out = swaks(gw, "--from", "sender@outside.test", "--to", "user@%s" % DOMAIN, "--tls",
                    "--tls-verify", "--tls-ca-path", ca, "--header", "Subject: e2e tls")
    assert rc == 0, out
    assert re.search(r"=== TLS started with cipher TLSv1\.[23]:", out), out
    # after the handshake the session starts over and STARTTLS is no longer offered
    after = out.split("=== TLS started", 1)[1]
    assert " ~> EHLO " in after and "STARTTLS" not in after.split("~> MAIL", 1)[0]
    assert re.search(r"<~  250 2\.0\.0 ", after), out
    # TLS 1.1 is refused
    rc, out = swaks(gw, "--from", "sender@outside.test", "--to", "user@%s" % DOMAIN, "--tls",
                    "--tls-protocol", "tlsv1_1", "--quit-after", "TLS")
    assert rc != 0 and "TLS started" not in out, out


def test_pipelining_with_swaks(gw):
    rc, out = swaks(gw, "--pipeline", "--from", "sender@outside.test", "--to",
                    "user@%s,other@%s" % (DOMAIN, DOMAIN), "--header", "Subject: e2e pipe")
    assert rc == 0, out
    assert "PIPELINING" in out
    assert re.search(r"<-  250 2\.0\.0 ", out), out


def test_relay_denied(gw):
    c = Smtp(gw.smtp_port)
    c.reply()
    c.cmd("EHLO client.test")
    assert c.cmd("MAIL FROM:<sender@outside.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<someone@elsewhere.test>")
    assert code == 550 and lines[0].startswith("550 5.7.1"), lines
    c.close()


def test_long_command_lines(gw):
    c = Smtp(gw.smtp_port)
    c.reply()
    # exactly 512 octets with CRLF is a line; 513 is not
    assert c.cmd("NOOP " + "x" * 505)[0] == 250
    c.send("NOOP " + "x" * 506 + "\r\nNOOP\r\n")
    assert c.reply() == (500, ["500 5.5.2 line too long"])
    assert c.reply() == (250, ["250 2.0.0 Ok"])
    # far longer than any buffer: one 500, the rest of the line skipped, still in step
    c.send("EHLO " + "y" * 100000 + "\r\nNOOP\r\n")
    assert c.reply() == (500, ["500 5.5.2 line too long"])
    assert c.reply() == (250, ["250 2.0.0 Ok"])
    assert c.cmd("MAIL FROM:<a@b.test>")[1][0].startswith("503 5.5.1")  # no EHLO was taken
    c.close()


def test_size_limit(gw):
    c = Smtp(gw.smtp_port)
    c.reply()
    c.cmd("EHLO client.test")
    # declared
    code, lines = c.cmd("MAIL FROM:<sender@outside.test> SIZE=65537")
    assert code == 552 and lines[0].startswith("552 5.3.4"), lines
    # counted while the text streams: refused at the dot, the session in step
    assert c.cmd("MAIL FROM:<sender@outside.test> SIZE=100")[0] == 250
    assert c.cmd("RCPT TO:<user@%s>" % DOMAIN)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(("Subject: big\r\n\r\n" + ("z" * 78 + "\r\n") * 1000 + ".\r\n").encode())
    code, lines = c.reply()
    assert code == 552 and lines[0].startswith("552 5.3.4"), lines
    assert c.cmd("NOOP")[0] == 250
    c.close()
    # swaks sees the same
    rc, out = swaks(gw, "--from", "sender@outside.test", "--to", "user@%s" % DOMAIN, "--body",
                    ("w" * 70 + "\n") * 1000)
    assert rc != 0 and "<** 552 5.3.4" in out, out


def test_session_limits():
    s = smtp_server("--smtp-max-sessions", "3", "--smtp-per-ip-sessions", "2")
    conns = []
    try:
        for src in ("127.0.0.1", "127.0.0.1"):
            c = Smtp(s.smtp_port, source=src)
            assert c.reply()[0] == 220
            conns.append(c)
        # a third from 127.0.0.1: its own limit
        c = Smtp(s.smtp_port, source="127.0.0.1")
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0") and "your address" in lines[0]
        assert c.closed()
        c.close()
        c = Smtp(s.smtp_port, source="127.0.0.2")
        assert c.reply()[0] == 220
        conns.append(c)
        # a fourth in all, from elsewhere: the limit in all
        c = Smtp(s.smtp_port, source="127.0.0.3")
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.7.0"), lines
        c.close()
        # one ends, one may come
        conns[0].cmd("QUIT")
        conns[0].closed()
        time.sleep(0.3)
        c = Smtp(s.smtp_port, source="127.0.0.3")
        assert c.reply()[0] == 220
        conns.append(c)
    finally:
        for c in conns:
            c.close()
        assert s.stop() == 0


@pytest.mark.nosan
def test_idle_timeout():
    s = smtp_server("--smtp-timeout", "1")
    try:
        c = Smtp(s.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        t0 = time.time()
        code, lines = c.reply()
        assert code == 421 and lines[0].startswith("421 4.4.2"), lines
        assert 0.8 < time.time() - t0 < 5
        assert c.closed()
        c.close()
    finally:
        assert s.stop() == 0


def test_sigterm_answers_waiting_sessions():
    s = smtp_server()
    c = Smtp(s.smtp_port)
    c.reply()
    c.cmd("EHLO client.test")
    s.proc.send_signal(signal.SIGTERM)
    code, lines = c.reply()
    assert code == 421 and lines[0].startswith("421 4.3.2"), lines
    assert c.closed()
    c.close()
    assert s.stop() == 0
