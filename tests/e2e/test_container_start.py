"""The container image's start-up (dist/container/): its entrypoint script run outside a container
against the built mcapid (the same script the image runs as its ENTRYPOINT), the Dockerfile's
promises checked as text, and, where a Docker daemon answers, the image built and its HEALTHCHECK
seen healthy."""
import json
import os
import re
import signal
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from mc import MCAPID, ROOT, Client, free_port

DIST = os.path.join(ROOT, "dist", "container")
ENTRY = os.path.join(DIST, "entrypoint.sh")


def start(data_dir, env_extra=None):
    port, smtp = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCAPID_")}
    env.update({"MCAPID_BIN": MCAPID, "MCAPID_DATA_DIR": data_dir,
                "MCAPID_LISTEN": "127.0.0.1:%d" % port,
                "MCAPID_SMTP_LISTEN": "127.0.0.1:%d" % smtp, "MCAPID_TLS_LISTEN": "off"})
    env.update(env_extra or {})
    log = open(os.path.join(tempfile.gettempdir(), "mcapid-entry-%d.log" % port), "w+b")
    p = subprocess.Popen(["sh", ENTRY], env=env, stdout=log, stderr=subprocess.STDOUT)
    return p, port, log


def wait_ready(p, port, log):
    for _ in range(200):
        if p.poll() is not None:
            log.seek(0)
            raise AssertionError("exited %d: %s" % (p.returncode, log.read().decode()))
        try:
            if requests.get("http://127.0.0.1:%d/readyz" % port, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError("not ready")


def test_entrypoint_starts_a_development_server_and_stops_on_sigterm(tmp_path):
    data = str(tmp_path / "data")  # created by the script, mode 0700
    p, port, log = start(data)
    try:
        wait_ready(p, port, log)
        assert p.pid  # mcapid replaced the shell (exec): signals reach it directly
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            assert os.path.basename(f.read().split(b"\0")[0].decode()) == "mcapid"
        assert os.stat(data).st_mode & 0o777 == 0o700
        with open(os.path.join(data, "dev-credentials.json")) as f:
            c = json.load(f)
        assert c["base_url"] == "http://localhost:%d" % port  # the published port's URL
        assert c["control_token"].startswith("mcc_")
        cl = Client("http://127.0.0.1:%d" % port, c["app_id"], c["app_key"], c["access_key"],
                    c["secret_key"])
        r, body = cl.call("/api/account/get-account")
        assert r.status_code == 200 and body["data"][0]["accountCode"] == c["account_code"]
        r = requests.get("http://127.0.0.1:%d/__mcapi/requests" % port, timeout=5,
                         headers={"Authorization": "Bearer " + c["control_token"]})
        assert r.status_code == 200
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        log.close()


def test_entrypoint_passes_flags_and_dev_off(tmp_path):
    data = str(tmp_path / "data")
    p, port, log = start(data, {"MCAPID_DEV": "0"})
    try:
        wait_ready(p, port, log)
        assert not os.path.exists(os.path.join(data, "dev-credentials.json"))
        assert requests.get("http://127.0.0.1:%d/__mcapi/" % port, timeout=5).status_code == 404
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        log.close()


def test_entrypoint_refuses_a_data_dir_it_cannot_make(tmp_path):
    blocker = tmp_path / "volume"  # a file where the volume's directory should be (root too)
    blocker.write_text("not a directory")
    p, port, log = start(str(blocker / "data"))
    assert p.wait(timeout=30) == 1
    log.seek(0)
    assert b"is not writable" in log.read()
    log.close()


def test_dockerfile_promises():
    with open(os.path.join(DIST, "Dockerfile")) as f:
        text = f.read()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms[0].startswith("debian:12") and froms[-1].startswith("debian:12")
    assert len(froms) >= 2  # multi-stage: the build tools stay out of the image
    assert re.search(r"^USER mcapid$", text, re.M)  # not root
    assert re.search(r"^HEALTHCHECK .*\n.*/readyz", text, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/mcapid-entrypoint"]' in text
    assert "COPY dist/container/entrypoint.sh /usr/local/bin/mcapid-entrypoint" in text
    # the runtime stage's packages are Debian 12's (the -dev packages of the build pull them
    # in here, so each is known to dpkg on this machine)
    run = text[text.rindex("FROM "):]
    pkgs = re.search(r"--no-install-recommends \\\n(.*?)&&", run, re.S).group(1)
    for pkg in pkgs.replace("\\", " ").split():
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                           text=True)
        assert r.returncode == 0 and "installed" in r.stdout, pkg
    with open(os.path.join(DIST, "compose.yaml")) as f:
        compose = f.read()
    assert "image: postgres:15" in compose and "dockerfile: dist/container/Dockerfile" in compose


def docker_ok():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.skipif(os.environ.get("MCAPI_DOCKER") != "1",
                    reason="set MCAPI_DOCKER=1 to build the image (needs a Docker daemon and "
                           "Debian's package mirror; minutes)")
def test_image_builds_and_becomes_healthy():
    if not docker_ok():
        pytest.skip("no Docker daemon")
    tag = "mcapid-test:%d" % os.getpid()
    subprocess.run(["docker", "build", "-q", "-f", os.path.join(DIST, "Dockerfile"), "-t", tag,
                    ROOT], check=True, timeout=1800)
    cid = subprocess.run(["docker", "run", "-d", "--rm", tag], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        for _ in range(60):
            st = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                                capture_output=True, text=True).stdout.strip()
            if st == "healthy":
                break
            time.sleep(1)
        assert st == "healthy"
        user = subprocess.run(["docker", "exec", cid, "id", "-u"], capture_output=True,
                              text=True).stdout.strip()
        assert user != "0"
    finally:
        subprocess.run(["docker", "stop", cid], capture_output=True)
        subprocess.run(["docker", "rmi", tag], capture_output=True)
