"""Findings of the fuzz targets (tests/fuzz/) replayed against the real mcapid, one test each.
Those not fixed yet are strict xfails naming the part that owns the fix: when the fix lands the
test passes, the strict xfail fails, and the mark is removed (and the input moves from
tests/fuzz/known/ into the target's corpus)."""
import pytest

from mc import raw_request


def responses(raw):
    """Splits raw bytes into (status, headers, body) by Content-Length; asserts they are whole."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 "), raw[:200]
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon and name, line
            headers[name.strip().lower().decode()] = value.strip().decode()
        n = int(headers["content-length"])
        assert len(rest) >= n, (len(rest), n)
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


# fuzz_front found libmicrohttpd 0.9.75 (the front's HTTP server until 2026-12) sending the header
# block of its own 'Host required' 400 twice; the front's own parser answers a missing Host with
# one envelope 400 (docs/api.md §1)
@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\n\r\n",
    b'POST /api/login/login HTTP/1.1\r\nHsot: 127.0.0.1\r\nContent-Length: 11\r\n\r\n{"data":[]}',
])
def test_http11_request_without_host_gets_one_whole_400(server, payload):
    rs = responses(raw_request(server.port, payload))
    assert len(rs) == 1 and rs[0][0] == 400
    assert not rs[0][2].startswith(b"HTTP/1.1")
    assert rs[0][1]["content-type"] == "application/json"
