"""Call-level failures of the store (API.md §3.1): a store that stays locked answers 503
err_xdk_unavailable with Retry-After; an unexpected store failure answers 500
err_xdk_internal without leaking internals; neither crashes the server."""
import os
import sqlite3

import pytest
import requests

import mc
from mc import Server


def err(body):
    return body["fail"][0]["errors"][0]


@pytest.mark.skipif(mc.PG, reason="holds SQLite's file lock; the PostgreSQL lock timeout is "
                    "covered by tests/unit/test_store_pg.c")
def test_locked_store_is_503_and_recovers():
    s = Server(args=["--db-busy-timeout-ms", "300"]).start()
    try:
        cl = s.client()
        other = sqlite3.connect(os.path.join(s.data_dir, "mcapid.db"), timeout=5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        try:
            r = cl.post("/api/domain/create-domain",
                        {"data": [{"domain": "locked.example.com", "inboundType": "any"}]})
            assert r.status_code == 503, r.text
            e = err(r.json())
            assert e["code"] == "err_xdk_unavailable" and e["retryable"] is True
            assert r.headers["Retry-After"]
            # reads still work meanwhile (WAL)
            assert cl.post("/api/domain/get-pending-domain").status_code == 200
        finally:
            other.execute("ROLLBACK")
            other.close()
        r = cl.post("/api/domain/create-domain",
                    {"data": [{"domain": "locked.example.com", "inboundType": "any"}]})
        assert r.status_code == 200 and r.json()["data"][0]["domain"] == "locked.example.com"
    finally:
        assert s.stop() == 0


def test_unexpected_store_failure_is_500_without_internals():
    s = Server().start()
    try:
        cl = s.client()
        mc.db_exec(s, "DROP TABLE domains")  # a store that no longer matches the code
        r = cl.post("/api/domain/get-pending-domain")
        assert r.status_code == 500
        e = err(r.json())
        assert e["code"] == "err_xdk_internal" and e["retryable"] is True
        assert "domains" not in r.text and "SQL" not in r.text.upper().replace("ERR_XDK", "")
        assert r.json()["data"] == []
        # the server is still up and other functions work
        assert requests.get(s.base + "/healthz").status_code == 200
        assert cl.post("/api/account/get-account").status_code == 200
    finally:
        assert s.stop() == 0
