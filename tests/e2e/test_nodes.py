"""Two mcapid nodes on one PostgreSQL database (docs/policies.md, docs/gateway.md): node A is
started as usual, node B gets a data dir of its own but A's DSN and A's server key file
(--key-file). A blocked-sender policy made through A's API is enforced by B's very next SMTP
transaction (550 in the session), and a message B accepts is found through A's message-finder
search. Runs only with MCAPI_E2E_STORE=postgres: two processes sharing one SQLite file is not a
supported deployment."""
import os
import tempfile

import pytest

import mc
from mc import Server
from test_gateway import last_reply, search, swaks, unbound, verified, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(not mc.PG, reason="needs MCAPI_E2E_STORE=postgres")


@pytest.fixture(scope="module")
def nodes(unbound, tmp_path_factory):
    common = ["--dns-servers", "127.0.0.1:%d" % unbound, "--retry-min", "1", "--retry-max", "2"]
    a = Server(smtp=True, args=common + ["--maildir-root", str(tmp_path_factory.mktemp("mail_a"))])
    a.start()
    dsn = mc.store_env(a.data_dir)["MCAPID_PG_DSN"]
    b_dir = tempfile.mkdtemp(prefix="mcapid-b-")
    # B's own data dir, A's database and key: the env given to B wins over store_env(b_dir)
    b = Server(data_dir=b_dir, smtp=True,
               args=common + ["--maildir-root", str(tmp_path_factory.mktemp("mail_b")),
                              "--key-file", os.path.join(a.data_dir, "server.key")],
               env={"MCAPID_STORE": "postgres", "MCAPID_PG_DSN": dsn})
    b.start()
    # B really runs on A's database and key: nothing of its own was created
    assert not os.path.exists(os.path.join(b_dir, "mcapid.db"))
    assert not os.path.exists(os.path.join(b_dir, "server.key"))
    assert not os.path.exists(os.path.join(b_dir, "dev-credentials.json"))
    yield a, b
    try:
        assert b.stop() == 0, b.read_log()
    finally:
        assert a.stop() == 0, a.read_log()


def refused_550(p):
    return any(x.startswith("<** 550") for x in last_reply(p))


def test_policy_made_on_a_is_enforced_by_b_at_once(nodes):
    a, b = nodes
    client = a.client()
    d = verified(a, client, "twonodes.test")
    # B knows the domain A verified and accepts the sender before the policy exists
    p = swaks(b, "frank@" + d, sender="villain@evil.example")
    assert p.returncode == 0, p.stdout + b.read_log()
    r, body = client.call("/api/policy/blockedsenders/create-policy", [{
        "option": "block_sender",
        "policy": {"description": "no villains", "fromPart": "envelope_from",
                   "fromType": "individual_email_address", "fromValue": "villain@evil.example",
                   "toType": "everyone"}}])
    assert r.status_code == 200 and body["data"], body
    pid = body["data"][0]["id"]
    # the very next transaction on B is refused
    p = swaks(b, "frank@" + d, sender="villain@evil.example")
    assert p.returncode != 0 and refused_550(p), p.stdout
    # a managed block made through A acts on B just as fast
    r, body = client.call("/api/managedsender/permit-or-block-sender",
                          [{"sender": "pest@pests.example", "to": "gina@" + d, "action": "block"}])
    assert body["data"] and not body["fail"], body
    assert refused_550(swaks(b, "gina@" + d, sender="pest@pests.example"))
    # deleting the policy on A lets the sender in on B's next transaction
    client.call("/api/policy/blockedsenders/delete-policy", [{"id": pid}])
    assert swaks(b, "frank@" + d, sender="villain@evil.example").returncode == 0


def test_message_accepted_by_b_is_found_through_a(nodes):
    a, b = nodes
    client = a.client()
    d = verified(a, client, "twonodes2.test")
    p = swaks(b, "ivy@" + d, sender="someone@elsewhere.example")
    assert p.returncode == 0, p.stdout
    found = wait_for(lambda: search(client, to="ivy@" + d, **{"from": "someone@elsewhere.example"}))
    assert len(found) == 1, found
    assert found[0]["status"] != "rejected", found
    # and B's refusal shows up on A too
    client.call("/api/managedsender/permit-or-block-sender",
                [{"sender": "spam@elsewhere.example", "to": "ivy@" + d, "action": "block"}])
    assert refused_550(swaks(b, "ivy@" + d, sender="spam@elsewhere.example"))
    rej = wait_for(lambda: [m for m in search(client, to="ivy@" + d,
                                              **{"from": "spam@elsewhere.example"})
                            if m["status"] == "rejected"])
    assert rej
