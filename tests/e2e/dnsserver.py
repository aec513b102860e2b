"""Real DNS servers on 127.0.0.1 for the end-to-end tests (Python 3 standard library only).

- start_dnsmasq(records) -> port: a dnsmasq serving a fixed list of TXT records. Names under
  `local_zones` (default nx.test) without data are NXDOMAIN, a name there with only an A record
  (`a_records`) answers TXT with NODATA, and every other name is REFUSED (no upstream).
- start_unbound(records) -> port: an unbound whose records tests change while it runs with
  unbound_add_txt(name, strings) / unbound_remove(name) (unbound-control on its own loopback
  port). Names under `zones` (default test.) without data are NXDOMAIN, names under
  `refuse_zones` are REFUSED, and every other name is forwarded to a companion dnsmasq that
  refuses it, so unbound answers SERVFAIL.
- start_silent() -> port: a UDP socket that reads queries and never answers (timeouts).
- query_txt(port, name) -> (rcode, records): a raw query, to check what a server answers.

A record is (name, strings): strings is a str (a record of one character-string) or a list of str
(one record made of several character-strings, which readers join). Several entries with one name
make several records. Every process dies with the test process; stop_all() stops everything.
"""
import atexit
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import ports

DNSMASQ = os.environ.get("MCAPI_DNSMASQ", "/usr/sbin/dnsmasq")
UNBOUND = os.environ.get("MCAPI_UNBOUND", "/usr/sbin/unbound")
UNBOUND_CONTROL = os.environ.get("MCAPI_UNBOUND_CONTROL", "/usr/sbin/unbound-control")

RCODE_NOERROR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 2, 3, 5

_servers = {}  # port -> server object
_last_unbound = None


def free_port():
    """A port of 127.0.0.1 that is free for both UDP and TCP right now."""
    return ports.free_port(udp=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: the server dies with the test process even if that one is killed
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _strings(strings):
    if isinstance(strings, (str, bytes)):
        strings = [strings]
    out = []
    for s in strings:
        b = s.encode() if isinstance(s, str) else bytes(s)
        if len(b) > 255:
            raise ValueError("a character-string holds at most 255 bytes: %r" % (s,))
        out.append(b)
    if not out:
        raise ValueError("a TXT record needs at least one character-string")
    return out


def _fqdn(name):
    name = name.strip()
    if not name or any(c in name for c in " \t\r\n\"'\\;#"):
        raise ValueError("bad domain name %r" % (name,))
    return name if name.endswith(".") else name + "."


class _Process:
    """A server process with its own temporary directory and log."""

    kind = "server"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mcapi-%s-" % self.kind)
        self.log = os.path.join(self.dir, "log")
        self.proc = None
        self.port = None

    def _spawn(self, argv):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         cwd=self.dir, preexec_fn=_die_with_parent)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait_ready(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            try:
                query_txt(self.port, "ready.probe", timeout=0.2)
                return
            except (OSError, ValueError):
                time.sleep(0.05)
        log = self.read_log()
        self.stop()
        raise RuntimeError("%s on port %s did not start:\n%s" % (self.kind, self.port, log))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        _servers.pop(self.port, None)
        shutil.rmtree(self.dir, ignore_errors=True)


def _dnsmasq_quote(b):
    out = ['"']
    for c in b.decode("latin-1"):
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            raise ValueError("dnsmasq cannot serve control characters in TXT records")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


class Dnsmasq(_Process):
    kind = "dnsmasq"

    def start(self, records=(), local_zones=("nx.test",), a_records=(), extra_args=()):
        # records go into a configuration file: dnsmasq reads quoted strings only there
        conf = os.path.join(self.dir, "dnsmasq.conf")
        with open(conf, "w", encoding="latin-1") as f:
            for name, strings in records:
                name = _fqdn(name).rstrip(".")
                quoted = ",".join(_dnsmasq_quote(b) for b in _strings(strings))
                f.write("txt-record=%s,%s\n" % (name, quoted))
            for zone in local_zones:
                f.write("local=/%s/\n" % _fqdn(zone).rstrip("."))
            for name, addr in a_records:
                socket.inet_aton(addr)
                f.write("host-record=%s,%s\n" % (_fqdn(name).rstrip("."), addr))
        self.port = free_port()
        self._spawn([DNSMASQ, "--no-daemon", "--port=%d" % self.port,
                     "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                     "--pid-file", "--log-facility=-", "--conf-file=" + conf] + list(extra_args))
        _servers[self.port] = self
        self._wait_ready()
        return self


def _unbound_quote(b):
    out = ['"']
    for c in b:
        if c in b'"\\\'':
            out.append("\\%03d" % c)  # also the quote: records sit inside '...' in unbound.conf
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    out.append('"')
    return "".join(out)


def _txt_rr(name, strings, ttl=60):
    quoted = " ".join(_unbound_quote(b) for b in _strings(strings))
    return "%s %d IN TXT %s" % (_fqdn(name), ttl, quoted)


class Unbound(_Process):
    kind = "unbound"

    def start(self, records=(), zones=("test.",), refuse_zones=()):
        self.upstream = Dnsmasq().start(local_zones=())  # refuses everything: SERVFAIL here
        try:
            self.port = free_port()
            self.control_port = free_port()
            self.conf = os.path.join(self.dir, "unbound.conf")
            lines = [
                "server:",
                "\tverbosity: 1",
                "\tinterface: 127.0.0.1",
                "\tport: %d" % self.port,
                "\tdo-ip6: no",
                "\tdo-daemonize: no",
                '\tchroot: ""',
                '\tusername: ""',
                '\tdirectory: "%s"' % self.dir,
                '\tpidfile: "%s"' % os.path.join(self.dir, "unbound.pid"),
                '\tlogfile: ""',
                "\tuse-syslog: no",
                "\taccess-control: 127.0.0.0/8 allow",
                "\tdo-not-query-localhost: no",
                "\toutgoing-interface: 127.0.0.1",
                '\tmodule-config: "iterator"',
                "\tnum-threads: 1",
            ]
            lines += ['\tlocal-zone: "%s" static' % _fqdn(z) for z in zones]
            lines += ['\tlocal-zone: "%s" always_refuse' % _fqdn(z) for z in refuse_zones]
            lines += ["\tlocal-data: '%s'" % _txt_rr(n, s) for n, s in records]
            lines += [
                "remote-control:",
                "\tcontrol-enable: yes",
                "\tcontrol-interface: 127.0.0.1",
                "\tcontrol-port: %d" % self.control_port,
                "\tcontrol-use-cert: no",
                "forward-zone:",
                '\tname: "."',
                "\tforward-addr: 127.0.0.1@%d" % self.upstream.port,
            ]
            with open(self.conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            self._spawn([UNBOUND, "-d", "-c", self.conf])
            _servers[self.port] = self
            self._wait_ready()
            self._control("status")
        except BaseException:
            self.upstream.stop()
            raise
        return self

    def _control(self, *args):
        p = subprocess.run([UNBOUND_CONTROL, "-c", self.conf] + list(args), capture_output=True,
                           text=True, timeout=10)
        if p.returncode != 0 or p.stdout.startswith("error"):
            raise RuntimeError("unbound-control %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
        return p.stdout

    def add_txt(self, name, strings, ttl=60):
        """Adds one TXT record (a str, or a list of character-strings); a name may hold several."""
        self._control("local_data", _txt_rr(name, strings, ttl))

    def remove(self, name):
        """Removes every record of name (all types)."""
        self._control("local_data_remove", _fqdn(name))

    def stop(self):
        super().stop()
        upstream = getattr(self, "upstream", None)
        if upstream is not None:
            upstream.stop()


class Silent:
    """A UDP socket on 127.0.0.1 that reads queries and never answers."""

    kind = "silent"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sock.recv(65535)
                self.received += 1
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()
        _servers.pop(self.port, None)


def start_dnsmasq(records=(), local_zones=("nx.test",), a_records=(), extra_args=()):
    """Starts dnsmasq with records [(name, str | [str, ...]), ...]; returns its port."""
    return Dnsmasq().start(records, local_zones, a_records, extra_args).port


def stop_dnsmasq(port):
    _stop(port, Dnsmasq)


def start_unbound(records=(), zones=("test.",), refuse_zones=()):
    """Starts unbound (and the refusing dnsmasq it forwards to); returns its port. The last one
    started is the default server of unbound_add_txt and unbound_remove."""
    global _last_unbound
    u = Unbound().start(records, zones, refuse_zones)
    _last_unbound = u
    return u.port


def stop_unbound(port=None):
    _stop(port if port is not None else _last_unbound and _last_unbound.port, Unbound)


def _unbound(port):
    u = _servers.get(port) if port is not None else _last_unbound
    if not isinstance(u, Unbound) or u.proc is None:
        raise RuntimeError("no unbound running%s" % ("" if port is None else " on port %d" % port))
    return u


def unbound_add_txt(name, strings, port=None, ttl=60):
    """Adds a TXT record to a running unbound (the last started unless port is given)."""
    _unbound(port).add_txt(name, strings, ttl)


def unbound_remove(name, port=None):
    """Removes every record of name from a running unbound."""
    _unbound(port).remove(name)


def start_silent():
    """Starts a UDP server that never answers; returns its port."""
    s = Silent()
    _servers[s.port] = s
    return s.port


def stop_silent(port):
    _stop(port, Silent)


def _stop(port, cls):
    s = _servers.get(port)
    if isinstance(s, cls):
        s.stop()


def stop_all():
    for s in list(_servers.values()):
        s.stop()


atexit.register(stop_all)


def _encode_name(name):
    out = b""
    for label in _fqdn(name).rstrip(".").split("."):
        b = label.encode("ascii")
        if not 0 < len(b) < 64:
            raise ValueError("bad label in %r" % (name,))
        out += bytes([len(b)]) + b
    return out + b"\0"


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += n + 1


def query_txt(port, name, timeout=2.0, host="127.0.0.1"):
    """Asks the server on port for the TXT records of name (UDP, then TCP if truncated).
    Returns (rcode, [record, ...]) with each record as bytes, its character-strings joined.
    Raises OSError (socket.timeout) when no answer comes and ValueError on a malformed one."""
    qid = random.randrange(65536)
    msg = (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name)
           + struct.pack(">HH", 16, 1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, (host, port))
        while True:
            r = s.recv(65535)
            if len(r) >= 12 and struct.unpack(">H", r[:2])[0] == qid:
                break
    if r[2] & 0x02:  # TC: ask again over TCP
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">H", len(msg)) + msg)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    raise ValueError("TCP answer cut short")
                data += chunk
            r = data[2:2 + struct.unpack(">H", data[:2])[0]]
    try:
        rcode = r[3] & 0x0F
        qd, an = struct.unpack(">HH", r[4:8])
        off = 12
        for _ in range(qd):
            off = _skip_name(r, off) + 4
        records = []
        for _ in range(an):
            off = _skip_name(r, off)
            rtype, _, _, rdlen = struct.unpack(">HHIH", r[off:off + 10])
            off += 10
            rdata = r[off:off + rdlen]
            off += rdlen
            if rtype != 16:
                continue
            rec, i = b"", 0
            while i < len(rdata):
                rec += rdata[i + 1:i + 1 + rdata[i]]
                i += 1 + rdata[i]
            records.append(rec)
    except (IndexError, struct.error) as e:
        raise ValueError("malformed answer: %s" % e)
    return rcode, records
