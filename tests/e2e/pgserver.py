"""A throw-away PostgreSQL 15 for tests: initdb in a temporary directory, postgres on a free
loopback port with trust authentication for 127.0.0.1 only, fresh databases on demand, and
everything removed on stop. PostgreSQL refuses to run as root, so under root the server runs
as the `postgres` system user in a directory that user owns

(Python's own setuid in the child, the equivalent of runuser: signals then reach postgres
itself, so SIGINT is its fast shutdown.)

As a program it wraps a command: `pgserver.py --run CMD ARGS...` starts a server, creates
one database, runs CMD with MCAPI_TEST_PG_DSN set to it, stops the server, and exits with
CMD's status (or 1 if PostgreSQL could not be started)."""
import atexit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import ports

PG_BIN = os.environ.get("MCAPI_PG_BIN", "/usr/lib/postgresql/15/bin")


def _free_port():
    return ports.free_port()


class PgServer:
    def __init__(self):
        self.dir = None
        self.port = None
        self.proc = None
        self.count = 0
        self.as_user = os.geteuid() == 0

    def _user(self):
        return {"user": "postgres", "group": "postgres", "extra_groups": []} if self.as_user else {}

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="mcapi-pg-")
        data = os.path.join(self.dir, "data")
        if self.as_user:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        try:
            p = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres",
                                "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
                               capture_output=True, text=True, timeout=120, cwd=self.dir,
                               **self._user())
        except OSError:
            self.stop()
            raise
        if p.returncode != 0:
            self.stop()
            raise RuntimeError("initdb failed: " + p.stderr + p.stdout)
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        last = ""
        for _ in range(5):  # the free port may be taken between the check and the bind
            self.port = _free_port()
            if self._spawn():
                atexit.register(self.stop)
                return self
            last = self.read_log()
            self.stop_proc()
        self.stop()
        raise RuntimeError("postgres did not start: " + last)

    def _spawn(self):
        """Runs postgres on this data directory and port; True once it answers (30 s)."""
        log = open(os.path.join(self.dir, "postgres.log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(PG_BIN, "postgres"), "-D", os.path.join(self.dir, "data"),
             "-k", self.dir, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB"],
            stdout=log, stderr=log, cwd=self.dir, **self._user())
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            if self.psql("SELECT 1", check=False).returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def restart_proc(self):
        """Starts postgres again after stop_proc, on the same data and port."""
        if not self._spawn():
            raise RuntimeError("postgres did not restart: " + self.read_log())

    def pids(self):
        """The postmaster and every process it started (backends, background workers)."""
        if not self.proc:
            return []
        found = {self.proc.pid}
        for _ in range(3):  # children of children (none today, but cheap)
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/stat" % d) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in found:
                    found.add(int(d))
        return sorted(found)

    def signal_all(self, sig):
        """Sends sig to the postmaster and all its processes (SIGSTOP: a hung server)."""
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def read_log(self):
        try:
            with open(os.path.join(self.dir, "postgres.log"), "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def psql(self, sql, db="postgres", check=True):
        p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db,
                            "-At", "-c", sql], capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (sql, p.stderr))
        return p

    def dsn(self, db):
        return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (self.port, db)

    def new_database(self, prefix="mcapi"):
        self.count += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self.count)
        self.psql("CREATE DATABASE %s" % name)
        return name

    def stop_proc(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown (SIGTERM waits for clients)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self.stop_proc()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


_shared = None


def shared():
    """The one server of this test process, started on first use, stopped at exit."""
    global _shared
    if _shared is None:
        _shared = PgServer().start()
    return _shared


def main(argv):
    if len(argv) < 3 or argv[1] != "--run":
        sys.stderr.write("usage: pgserver.py --run CMD [ARGS...]\n")
        return 2
    try:
        pg = PgServer().start()
    except Exception as ex:  # the test must fail, not skip, without PostgreSQL
        sys.stderr.write("pgserver: cannot start PostgreSQL: %s\n" % ex)
        return 1
    try:
        env = dict(os.environ)
        env["MCAPI_TEST_PG_DSN"] = pg.dsn(pg.new_database("unit"))
        return subprocess.run(argv[2:], env=env).returncode
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
