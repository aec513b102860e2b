"""The list-answer cache (list_cache_ms): repeated polls of a list are served from memory, yet
this server's own changes show at once and another process's within the TTL."""
import os
import time

import mc
from mc import Server

PENDING = "/api/domain/get-pending-domain"
CREATE = "/api/domain/create-domain"
DELETE = "/api/domain/delete-pending-domain"


def names(client):
    r, body = client.call(PENDING)
    assert r.status_code == 200
    return sorted(d["domain"] for d in body["data"])


def test_own_changes_show_at_once():
    s = Server(args=["--list-cache-ms", "60000"]).start()  # long TTL: only invalidation helps
    try:
        cl = s.client()
        assert names(cl) == []
        assert names(cl) == []  # now cached
        cl.call(CREATE, [{"domain": "cached.example.com", "inboundType": "any"}])
        assert names(cl) == ["cached.example.com"]
        cl.call(DELETE, [{"domain": "cached.example.com"}])
        assert names(cl) == []
        # a call with other data is another entry
        assert cl.call(PENDING, [{"domain": "cached.example.com"}])[1]["data"] == []
    finally:
        assert s.stop() == 0


def test_other_process_changes_show_within_the_ttl():
    s = Server(args=["--list-cache-ms", "500"]).start()
    try:
        cl = s.client()
        cl.call(CREATE, [{"domain": "a.example.com", "inboundType": "any"}])
        assert names(cl) == ["a.example.com"]
        mc.db_exec(s, "UPDATE domains SET name = 'b.example.com' WHERE name = 'a.example.com'")
        deadline = time.time() + 3
        while names(cl) != ["b.example.com"]:
            assert time.time() < deadline, "the cached answer outlived list_cache_ms"
            time.sleep(0.1)
    finally:
        assert s.stop() == 0


def test_cache_off():
    s = Server(args=["--list-cache-ms", "0"]).start()
    try:
        cl = s.client()
        cl.call(CREATE, [{"domain": "c.example.com", "inboundType": "any"}])
        mc.db_exec(s, "DELETE FROM domains")
        assert names(cl) == []
    finally:
        assert s.stop() == 0
