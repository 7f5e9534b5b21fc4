"""The servers under test and the smtp-sink: a private Postfix instance, a
Portcullis instance, each on its own loopback port with its own directories
under the benchmark's work dir, and set up to do the same durable work.

Postfix runs as `postfix -c <its config dir> start` with its own
queue_directory and data_directory: the system instance (/etc/postfix) is
never read, started or touched. Both servers log every message to a file.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import procstat

SINK_HOST = "sink.bench.test"
RELAY_DOMAIN = "remote.test"
# Marks the system user this harness creates for Postfix's local(8), so a
# later run (or the EXIT trap) removes only a user the harness made.
USER_COMMENT = "Portcullis benchmark (bench/run.sh)"


def record_pid(base, pid):
    """Notes a pid we started in <work>/pids, for run.sh's EXIT trap."""
    with open(base / "pids", "a") as f:
        f.write(f"{pid}\n")


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_reply(sock, deadline):
    """Reads one complete SMTP reply (multi-line included); returns its text or None."""
    buf = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except (socket.timeout, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
        lines = buf.split(b"\r\n")
        # Complete when the last full line is "NNN " (RFC 5321 §4.2.1).
        for line in lines[:-1]:
            if re.match(rb"^\d{3} ", line):
                return buf.decode("latin-1")
    return None


def wait_greeting(port, timeout):
    """Polls 127.0.0.1:port until a 220 greeting arrives; True on success."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                reply = read_reply(s, min(deadline, time.monotonic() + 5))
                if reply and reply.startswith("220"):
                    try:
                        s.sendall(b"QUIT\r\n")
                        read_reply(s, time.monotonic() + 1)
                    except OSError:
                        pass
                    return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


def count_files(path):
    try:
        return sum(1 for e in os.scandir(path) if e.is_file(follow_symlinks=False))
    except FileNotFoundError:
        return 0


def fresh_maildir(maildir, discard=False):
    """Moves the delivered messages out of the way and leaves an empty `new/`
    with the same owner. The old `new/` is renamed aside, not emptied:
    deleting thousands of files right before a run would make ext4's inode
    allocator step over the freshly freed inodes (on a journal-less ext4 it
    checks each one's deletion time), a cost of the harness, not the server.
    `discard`: the previous run's messages are deleted instead when they are
    few (the large messages: a hundred files, but a GiB a run, which would
    otherwise fill the journaled run's 8 GiB file system and slow block
    allocation for whichever server runs later); thousands of small ones
    are still only moved aside."""
    new = maildir / "new"
    st = os.stat(new)
    aside = maildir.parent / f"{maildir.name}-delivered"
    aside.mkdir(exist_ok=True)
    moved = aside / f"new-{time.monotonic_ns()}"
    os.rename(new, moved)
    if discard and len(os.listdir(moved)) <= 1000:
        shutil.rmtree(moved, ignore_errors=True)
    new.mkdir()
    os.chown(new, st.st_uid, st.st_gid)
    os.chmod(new, st.st_mode & 0o7777)


class Portcullis:
    name = "Portcullis"

    def __init__(self, binary, base, user, sink_port, max_sessions=None, subdir="portcullis"):
        self.binary = str(binary)
        self.max_sessions = max_sessions
        self.dir = base / subdir
        self.config = self.dir / "portcullis.toml"
        self.data = self.dir / "data"
        self.log = self.dir / "portcullis.log"
        self.user = user
        self.sink_port = sink_port
        self.port = free_port()
        self.proc = None
        # Set by the mail-authentication runs (bench/mailauth.py): more
        # `[limits]` keys, and TOML tables appended to the config.
        self.extra_limits = {}
        self.extra_toml = ""

    def config_text(self, allow=("127.0.0.1",)):
        allow_toml = ", ".join(f'"{a}"' for a in allow)
        return f"""# Written by bench/servers.py: a private Portcullis instance for the benchmark.
hostname = "portcullis.bench.test"
data_dir = "{self.data}"
local_domains = ["localhost", "portcullis.bench.test"]

[listen]
smtp = ["127.0.0.1:{self.port}"]
submission = []
submissions = []

[relay]
local_only = false
restricted = true
allow = [{allow_toml}]
authenticated = true

[log]
level = "info"
{self.limits_table()}
[routes]
"{RELAY_DOMAIN}" = "127.0.0.1:{self.sink_port}"
""" + self.extra_toml

    def knows_key(self, key):
        """True if this build has the config key (the harness runs against
        whatever the tree holds, older or newer)."""
        r = subprocess.run([self.binary, "config", "read", key, "--config", str(self.config)],
                           capture_output=True)
        return r.returncode == 0

    def limits_table(self):
        """`limits.connections` (500 by default, like Postfix's 100 processes)
        raised so the idle-session scenario can hold its sessions; every
        other limit keeps its default."""
        keys = dict(self.extra_limits)
        if self.max_sessions and self._has_connection_limit:
            keys["connections"] = self.max_sessions
        if not keys:
            return ""
        return "\n[limits]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())

    def setup(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        # `config read` wants an existing file: this one without [limits] first.
        self._has_connection_limit = False
        self.config.write_text(self.config_text())
        self._has_connection_limit = self.knows_key("limits.connections")
        self.config.write_text(self.config_text())
        r = subprocess.run(
            [self.binary, "user", "add", self.user, "--password-stdin", "--config", str(self.config)],
            input=b"bench-password-not-used\n",
            capture_output=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"portcullis user add failed: {r.stderr.decode().strip()}")
        maildir = self.maildir()
        for sub in ("new", "cur", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    def maildir(self):
        return self.data / "mail" / self.user

    def start(self, timeout=30):
        """Starts the server; returns the seconds until its first 220 greeting."""
        logf = open(self.log, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
        )
        logf.close()
        record_pid(self.dir.parent, self.proc.pid)
        if not wait_greeting(self.port, timeout):
            self.stop()
            raise RuntimeError(f"Portcullis did not greet on port {self.port}; see {self.log}")
        return time.monotonic() - t0

    def root(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def queue_empty(self):
        """No message waiting in the outbound spool (`<data_dir>/queue/<id>.mail`,
        or `<id>.msg` in the older two-file format)."""
        try:
            return not any(e.name.endswith((".mail", ".msg")) for e in os.scandir(self.data / "queue"))
        except FileNotFoundError:
            return True

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def check_list(self, allow_file_entries):
        """A config file like the server's but with `allow` = the given entries."""
        path = self.dir / "big-list.toml"
        path.write_text(self.config_text(allow_file_entries))
        return path


class Postfix:
    name = "Postfix"

    def __init__(self, base, user, sink_port):
        self.dir = base / "postfix"
        self.conf = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.datad = self.dir / "lib"
        self.log = self.dir / "maillog"
        self.home = base / "home" / user
        self.user = user
        self.sink_port = sink_port
        self.port = free_port()

    def setup(self):
        ensure_system_user(self.user, self.home)
        for d in (self.conf, self.spool, self.datad):
            d.mkdir(parents=True, exist_ok=True)
        # Postfix's master keeps its lock and caches here, as mail_owner.
        owner = pwd.getpwnam("postfix")
        os.chown(self.datad, owner.pw_uid, owner.pw_gid)
        pw = pwd.getpwnam(self.user)
        maildir = self.maildir()
        for d in (self.home, maildir, maildir / "new", maildir / "cur", maildir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        (self.conf / "main.cf").write_text(self.main_cf())
        (self.conf / "master.cf").write_text(self.master_cf())
        (self.conf / "transport").write_text(f"{RELAY_DOMAIN} smtp:[127.0.0.1]:{self.sink_port}\n")

    def main_cf(self):
        return f"""# Written by bench/servers.py: a private Postfix instance for the benchmark.
compatibility_level = 3.6
queue_directory = {self.spool}
data_directory = {self.datad}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.test
mydomain = bench.test
myorigin = $myhostname
mydestination = localhost, $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
home_mailbox = Maildir/
# The large-message scenario sends 10 MiB bodies (the defaults: 10,240,000
# per message, 51,200,000 per mailbox file).
message_size_limit = 52428800
mailbox_size_limit = 0
biff = no
append_dot_mydomain = no
transport_maps = texthash:{self.conf}/transport
maillog_file = {self.log}
maillog_file_prefixes = {self.dir}
"""

    def master_cf(self):
        """Debian's master.cf with smtpd on our loopback port and no chroot
        (a chroot would need copies of /etc files in the queue directory;
        it changes nothing in the work done per message)."""
        out = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            if line and not line[0].isspace() and not line.startswith("#"):
                f = line.split()
                if len(f) >= 8:
                    if f[0] == "smtp" and f[1] == "inet":
                        f[0] = f"127.0.0.1:{self.port}"
                    f[4] = "n"
                    line = " ".join(f[:7]) + " " + " ".join(f[7:])
            out.append(line)
        return "\n".join(out) + "\n"

    def maildir(self):
        return self.home / "Maildir"

    def postfix(self, *args, check=True):
        r = subprocess.run(["postfix", "-c", str(self.conf), *args], capture_output=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"postfix {' '.join(args)} failed: {r.stderr.decode().strip()}")
        return r

    def start(self, timeout=30):
        """Starts the instance; returns the seconds until its first 220 greeting."""
        t0 = time.monotonic()
        self.postfix("start")
        if not wait_greeting(self.port, timeout):
            raise RuntimeError(f"Postfix did not greet on port {self.port}; see {self.log}")
        return time.monotonic() - t0

    def root(self):
        try:
            pid = int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if procstat.comm(pid) == "master" else None

    def queue_empty(self):
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _root, _dirs, files in os.walk(self.spool / sub):
                if files:
                    return False
        return True

    def stop(self):
        pid = self.root()
        if pid is None:
            return
        self.postfix("stop", check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and procstat.comm(pid) == "master":
            time.sleep(0.05)
        for p in procstat.tree_pids(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def ensure_system_user(user, home):
    """Creates (or re-homes) the system user Postfix's local(8) delivers to."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        pw = None
    if pw is not None and pw.pw_gecos != USER_COMMENT:
        raise RuntimeError(f"user {user} exists and was not made by this harness; pick another with --user")
    if pw is None:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
             "--shell", "/usr/sbin/nologin", "--comment", USER_COMMENT, user],
            check=True,
        )
    elif pw.pw_dir != str(home):
        subprocess.run(["usermod", "--home", str(home), user], check=True)


def remove_system_user(user):
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return
    if pw.pw_gecos == USER_COMMENT:
        subprocess.run(["userdel", user], check=False, capture_output=True)


class Sink:
    """smtp-sink on a loopback port; `count` follows its `-c` counter (mesg=N)."""

    def __init__(self, base, label):
        self.port = free_port()
        self.label = label
        self.count = 0
        self.proc = subprocess.Popen(
            ["smtp-sink", "-c", "-u", "nobody", "-h", SINK_HOST, "-m", "2048",
             f"127.0.0.1:{self.port}", "1024"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=open(base / f"sink-{label}.err", "ab"),
        )
        record_pid(base, self.proc.pid)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        pending = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            pending += chunk
            found = re.findall(rb"mesg=(\d+)", pending)
            if found:
                self.count = int(found[-1])
            pending = pending[-64:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def journal_less_ext4(path):
    """True if `path` is on an ext4 file system mounted without a journal."""
    r = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)],
                       capture_output=True, text=True)
    parts = r.stdout.split()
    if len(parts) < 2 or parts[1] != "ext4":
        return False
    dev = os.path.basename(os.path.realpath(parts[0]))
    try:
        return Path(f"/sys/fs/ext4/{dev}/journal_task").read_text().strip() == "<none>"
    except OSError:
        return False

