"""Free loopback ports for test servers. Ports come from a range below the kernel's
ephemeral range (32768 and up on Linux), so no client socket of this or another test can
take one between our check and the server's bind; under pytest-xdist each worker draws from
its own slice (PYTEST_XDIST_WORKER=gwN), so two workers never hand out the same port."""
import os
import random
import socket

BASE, SLICE, WORKERS = 12000, 4000, 5  # 12000-31999: five slices of 4000 ports


def _slice():
    w = os.environ.get("PYTEST_XDIST_WORKER", "")
    n = int(w[2:]) if w.startswith("gw") and w[2:].isdigit() else WORKERS - 1
    lo = BASE + (n % WORKERS) * SLICE
    return lo, lo + SLICE


_handed = set()  # ports this process already gave out (a server may not have bound yet)


def free_port(udp=False):
    """A port of 127.0.0.1 free for TCP (and UDP with udp=True) right now, never one this
    process handed out before."""
    lo, hi = _slice()
    for _ in range(200):
        port = random.randrange(lo, hi)
        if port in _handed:
            continue
        socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM)]
        if udp:
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            for s in socks:
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        _handed.add(port)
        return port
    raise RuntimeError("no free loopback port in %d-%d" % (lo, hi))
