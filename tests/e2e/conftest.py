"""pytest fixtures: a running mcapid per module (fresh store) and a signed client."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mc import Server  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "nosan: too slow or timing-bound to run under sanitizers")
    config.addinivalue_line("markers", "serial: timing-bound; make test runs these files alone")


@pytest.fixture(scope="module")
def server():
    s = Server().start()
    yield s
    rc = s.stop()
    assert rc == 0, "mcapid exited %d on SIGTERM: %s" % (rc, s.read_log())


@pytest.fixture(scope="module")
def client(server):
    return server.client()
