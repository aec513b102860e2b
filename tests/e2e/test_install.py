"""`make install DESTDIR=...` and what it installs, used as a user would: the man pages render
with man -l, pkg-config finds mcapi inside the staging tree (PKG_CONFIG_SYSROOT_DIR), the
example program builds against the installed header and library and lists the pending domains
of a running mcapid, the static library exports only mcapi_*, and the bash and zsh completion
scripts parse and complete a command in real shells driven through tmux."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import mc
from mc import MCAPID, ROOT

PREFIX = "/usr/local"


@pytest.fixture(scope="module")
def staged():
    """The tree `make install` wrote under a fresh DESTDIR, from the build of MCAPID."""
    destdir = tempfile.mkdtemp(prefix="mcapi-destdir-")
    build = os.path.dirname(os.path.abspath(MCAPID))
    # not the job server of a make that runs this test
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "install", "BUILD=" + build,
                        "DESTDIR=" + destdir, "PREFIX=" + PREFIX, "JOBS=2"],
                       capture_output=True, text=True, timeout=1800, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    yield destdir
    shutil.rmtree(destdir, ignore_errors=True)


def inst(destdir, *parts):
    return os.path.join(destdir, PREFIX.lstrip("/"), *parts)


def libdir(destdir):
    """lib, or Debian's lib/<triplet> when the prefix is /usr."""
    for root, _dirs, files in os.walk(inst(destdir)):
        if "libmcapi.so" in files:
            return root
    raise AssertionError("no libmcapi.so installed")


def pc_env(destdir):
    e = dict(os.environ)
    e["PKG_CONFIG_PATH"] = os.path.join(libdir(destdir), "pkgconfig")
    e["PKG_CONFIG_SYSROOT_DIR"] = destdir
    e["PKG_CONFIG_LIBDIR"] = ""  # nothing from the machine's own .pc files
    return e


pytestmark = pytest.mark.nosan  # installing is not about memory; the build is a plain one


def test_files_and_soname(staged):
    for f in ("sbin/mcapid", "bin/mcapi", "include/mcapi/mcapi.h", "share/man/man1/mcapi.1",
              "share/man/man8/mcapid.8", "share/bash-completion/completions/mcapi",
              "share/zsh/site-functions/_mcapi", "share/doc/mcapi/examples/list_pending.c"):
        assert os.path.isfile(inst(staged, f)), f
    lib = libdir(staged)
    for f in ("libmcapi.so", "libmcapi.so.0", "libmcapi.a", "pkgconfig/mcapi.pc"):
        assert os.path.exists(os.path.join(lib, f)), f
    dyn = subprocess.run(["readelf", "-d", os.path.join(lib, "libmcapi.so")],
                         capture_output=True, text=True, check=True).stdout
    assert "Library soname: [libmcapi.so.0]" in dyn
    # both libraries export mcapi_* and nothing else
    for f, flags in (("libmcapi.so", ["-D"]), ("libmcapi.a", [])):
        out = subprocess.run(["nm", "-g", "--defined-only"] + flags + [os.path.join(lib, f)],
                             capture_output=True, text=True, check=True).stdout
        syms = [ln.split()[-1] for ln in out.splitlines() if re.match(r"^[0-9a-f]+ [A-Z] ", ln)]
        assert "mcapi_call" in syms and "mcapi_strerror" in syms, f
        assert [s for s in syms if not s.startswith("mcapi_")] == [], f


def test_man_pages_render(staged):
    env = dict(os.environ, MANPAGER="cat", MANWIDTH="100", LC_ALL="C.UTF-8")
    out = {}
    for page in ("man1/mcapi.1", "man8/mcapid.8"):
        p = subprocess.run(["man", "-l", inst(staged, "share/man", page)], capture_output=True,
                           text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        out[page] = p.stdout
    one, eight = out["man1/mcapi.1"], out["man8/mcapid.8"]
    assert "mcapi - command-line client of the Mimecast API 1.0" in one
    # the commands come from the CLI's table: every one of them is in the page
    cmds = subprocess.run([inst(staged, "bin/mcapi"), "completion", "commands"],
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, LD_LIBRARY_PATH=libdir(staged))).stdout
    names = [ln.split("\t")[0] for ln in cmds.splitlines()]
    assert "domain" in names and "completion" in names
    for n in names:
        assert re.search(r"^\s+%s$" % re.escape(n), one, re.M), n
    assert "mcapid - a server of the Mimecast API 1.0" in eight
    # the options come from the server's config table: every flag of --help is in the page
    helptext = subprocess.run([MCAPID, "--help"], capture_output=True, text=True).stdout
    flags = re.findall(r"^  (--[a-z0-9-]+) ", helptext, re.M)
    assert "--db-busy-timeout-ms" in flags
    for f in flags:
        assert f + " value" in eight, f
    assert "MCAPID_DB_BUSY_TIMEOUT_MS" in eight and "Default: 5000." in eight
    assert "keys create --email E --app-id ID" in eight  # mcapid admin help


def test_pkg_config_and_example_against_a_running_mcapid(staged, server, client):
    env = pc_env(staged)
    p = subprocess.run(["pkg-config", "--cflags", "--libs", "mcapi"], capture_output=True,
                       text=True, env=env, check=True)
    flags = p.stdout.split()
    assert "-I" + inst(staged, "include") in flags
    assert "-L" + libdir(staged) in flags and "-lmcapi" in flags
    # the installed example, built with its own Makefile against the staged tree only
    work = tempfile.mkdtemp(prefix="mcapi-example-")
    shutil.copytree(inst(staged, "share/doc/mcapi/examples"), os.path.join(work, "ex"))
    p = subprocess.run(["make", "-C", os.path.join(work, "ex"), "CFLAGS=-O2 -Wall -Wextra -Werror"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for d in ("one.pending.example", "two.pending.example"):
        r, body = client.call("/api/domain/create-domain", [{"domain": d, "inboundType": "any"}])
        assert r.status_code == 200 and body["fail"] == [], body
    c = server.creds
    run_env = mc.clean_env({"LD_LIBRARY_PATH": libdir(staged), "MCAPI_BASE_URL": server.base,
                            "MCAPI_APP_ID": c["app_id"], "MCAPI_APP_KEY": c["app_key"],
                            "MCAPI_ACCESS_KEY": c["access_key"],
                            "MCAPI_SECRET_KEY": c["secret_key"],
                            "MCAPI_CONFIG": os.path.join(work, "none")})
    p = subprocess.run([os.path.join(work, "ex", "list_pending")], capture_output=True, text=True,
                       env=run_env, timeout=60)
    assert p.returncode == 0, p.stderr
    listed = p.stdout.split()
    assert "one.pending.example" in listed and "two.pending.example" in listed
    # the program uses the installed library, not the build tree's
    ldd = subprocess.run(["ldd", os.path.join(work, "ex", "list_pending")], capture_output=True,
                         text=True, env=run_env).stdout
    assert libdir(staged) + "/libmcapi.so.0" in ldd
    # and it fails cleanly: exit 1 with the library's message
    run_env["MCAPI_SECRET_KEY"] = "%%%"
    p = subprocess.run([os.path.join(work, "ex", "list_pending")], capture_output=True, text=True,
                       env=run_env, timeout=60)
    assert p.returncode == 1 and "'secret_key' is not valid base64" in p.stderr
    shutil.rmtree(work, ignore_errors=True)


def test_completion_scripts_parse(staged):
    subprocess.run(["bash", "-n", inst(staged, "share/bash-completion/completions/mcapi")],
                   check=True)
    subprocess.run(["zsh", "-n", inst(staged, "share/zsh/site-functions/_mcapi")], check=True)
    # what the scripts ask the CLI at completion time
    env = dict(os.environ, LD_LIBRARY_PATH=libdir(staged))

    def words(*args):
        return subprocess.run([inst(staged, "bin/mcapi"), "completion"] + list(args),
                              capture_output=True, text=True, env=env, check=True).stdout.split()

    assert words("words", "domain") == ["create", "pending", "verify", "code", "dns", "status",
                                        "internal", "delete"]
    assert words("words", "profile") == ["set", "show", "list", "delete"]
    assert words("words", "account") == []
    assert {"--all", "--page-size", "--inbound", "--help"} <= set(words("options", "domain"))
    # the names of the table are in the bash script, and the zsh one has their summaries
    table = dict(ln.split("\t", 1) for ln in subprocess.run(
        [inst(staged, "bin/mcapi"), "completion", "commands"], capture_output=True, text=True,
        env=env, check=True).stdout.splitlines())
    bash = open(inst(staged, "share/bash-completion/completions/mcapi")).read()
    zsh = open(inst(staged, "share/zsh/site-functions/_mcapi")).read()
    assert 'local cmds="%s"' % " ".join(table) in bash
    for name, summary in table.items():
        assert "'%s:%s'" % (name, summary.replace("'", "'\\''")) in zsh, name


class Tmux:
    """A shell in a detached tmux session on a private socket; keys in, screen out."""

    def __init__(self, shell_cmd, env):
        self.dir = tempfile.mkdtemp(prefix="mcapi-tmux-")
        self.sock = os.path.join(self.dir, "sock")
        self.env = env
        cmd = "env -i " + " ".join("%s=%s" % kv for kv in env.items()) + " " + shell_cmd
        self.tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "40", cmd)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True,
                              text=True, timeout=30)

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", "--", *keys)  # "--": keys such as "--pa"

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def wait_for(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.screen()
            if re.search(pattern, s, re.M):
                return s
            time.sleep(0.1)
        raise AssertionError("%r not on the screen:\n%s" % (pattern, self.screen()))

    def close(self):
        self.tmux("kill-server")
        shutil.rmtree(self.dir, ignore_errors=True)


def shell_env(staged):
    return {"PATH": inst(staged, "bin") + ":/usr/bin:/bin", "HOME": tempfile.mkdtemp(),
            "TERM": "xterm", "LD_LIBRARY_PATH": libdir(staged), "PS1": "'$ '", "PROMPT": "'$ '"}


def test_bash_completes_a_command_in_tmux(staged):
    t = Tmux("bash --norc --noprofile", shell_env(staged))
    try:
        t.keys("source " + inst(staged, "share/bash-completion/completions/mcapi"), "Enter")
        t.keys("echo ready", "Enter")
        t.wait_for(r"^ready$")
        t.keys("mcapi dom", "Tab")
        t.wait_for(r"^\$ mcapi domain\s*$")
        t.keys("pe", "Tab")  # the subcommand comes from 'mcapi domain --help'
        t.wait_for(r"^\$ mcapi domain pending\s*$")
        t.keys("--pa", "Tab")
        t.wait_for(r"^\$ mcapi domain pending --page-size\s*$")
    finally:
        t.close()


def test_zsh_completes_a_command_in_tmux(staged):
    t = Tmux("zsh -f", shell_env(staged))
    try:
        t.keys("fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D; echo ready"
               % inst(staged, "share/zsh/site-functions"), "Enter")
        t.wait_for(r"^ready$")
        t.keys("mcapi dom", "Tab")
        t.wait_for(r"^\$ mcapi domain\s*$")
        t.keys("pe", "Tab")
        t.wait_for(r"^\$ mcapi domain pending\s*$")
    finally:
        t.close()


def test_systemd_unit_points_at_the_installed_mcapid(staged):
    unit = open(inst(staged, "lib/systemd/system/mcapid.service")).read()
    execs = re.findall(r"^Exec\w+=\S*mcapid\b", unit, re.M)
    assert execs, unit
    for e in execs:
        assert "=" + PREFIX + "/sbin/mcapid" in e, e


def test_example_configuration_is_installed_and_loads(staged, tmp_path):
    conf = inst(staged, "share/doc/mcapi/mcapid.conf.example")
    assert open(conf).read() == open(os.path.join(ROOT, "dist", "mcapid.conf.example")).read()
    # the installed mcapid reads every line of it (an unknown or malformed option is an error
    # naming the line); the flags keep the store local, so nothing is contacted
    env = mc.clean_env({"LD_LIBRARY_PATH": libdir(staged)})
    args = [inst(staged, "sbin/mcapid"), "--config-file", conf, "--store", "sqlite",
            "--data-dir", str(tmp_path), "--key-file", str(tmp_path / "server.key")]
    p = subprocess.run(args + ["admin", "help"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0 and "usage: mcapid admin" in p.stdout, p.stdout + p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text(open(conf).read() + "no_such_option = 1\n")
    args[2] = str(bad)
    p = subprocess.run(args + ["admin", "help"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode != 0 and "unknown option 'no_such_option'" in p.stderr, p.stderr
