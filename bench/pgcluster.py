"""A private PostgreSQL cluster for the directory benchmark (bench/directory.py):
`initdb` into a scratch directory, `pg_ctl` listening on 127.0.0.1 at a free
port, a password-protected role and database `portcullis`; never the system
instance. As crates/testkit/src/postgres.rs does for the tests.

PostgreSQL refuses to run as root, so its tools run as the unprivileged
`postgres` user that Debian's package creates (`runuser -u postgres`), in a
directory that user owns. The cluster runs with PostgreSQL's defaults
(fsync on): the figure is what a node sees from a real database, though
nothing of it is on the per-message path.
"""

import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

from servers import free_port

ROLE = "portcullis"
PASSWORD = "bench-directory-password"


def bin_dir():
    """The newest /usr/lib/postgresql/N/bin holding initdb, or None."""
    root = Path("/usr/lib/postgresql")
    found = sorted((int(d.name), d / "bin") for d in root.iterdir()
                   if d.name.isdigit() and (d / "bin" / "initdb").exists()) if root.is_dir() else []
    return found[-1][1] if found else None


class PgCluster:
    def __init__(self, base):
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.dir = base / "postgres"
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.running = False

    def url(self):
        return f"postgres://{ROLE}:{PASSWORD}@127.0.0.1:{self.port}/{ROLE}"

    def write_url_file(self, path):
        path.write_text(self.url() + "\n")
        os.chmod(path, 0o600)

    def _as_owner(self, *args, timeout=120):
        cmd = [str(a) for a in args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, cwd="/", capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(r.stdout + r.stderr).decode().strip()[-400:]}")
        return r.stdout.decode()

    def start(self):
        """initdb, start, CREATE DATABASE portcullis; waits until it listens."""
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o700)
        pwfile = self.dir / "pwfile"
        pwfile.write_text(PASSWORD)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.dir, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._as_owner(self.bin / "initdb", "-D", self.data, "-U", ROLE, "--pwfile", pwfile,
                       "--auth=scram-sha-256", "-E", "UTF8")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                   f"-c unix_socket_directories={self.dir}")
        self._as_owner(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.log, "-w", "start")
        self.running = True
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not listen on {self.port}; see {self.log}")
                time.sleep(0.05)
        env = dict(os.environ, PGPASSWORD=PASSWORD)
        r = subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE,
                            "-d", "postgres", "-X", "-v", "ON_ERROR_STOP=1", "-c",
                            f"CREATE DATABASE {ROLE}"], env=env, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE failed: {r.stderr.decode().strip()}")

    def root(self):
        """The postmaster's pid (its backends are its children)."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if self.running:
            self._as_owner(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
            self.running = False
