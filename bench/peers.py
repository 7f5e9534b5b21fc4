"""The other MTAs an administrator could pick beside Postfix: OpenSMTPD,
Exim and chasquid, each a private instance under the benchmark's work dir.

Their Debian packages conflict with Postfix (all provide mail-transport-
agent), so bench/run.sh extracts them with `apt-get download` + `dpkg-deb
-x` into a cache dir (BENCH_PEERS_ROOT, passed here as `root`) and never
installs them: no system instance is configured or started.

Each runs inside `unshare --mount --pid --fork`:
- the mount namespace lets a server that only knows compiled-in paths
  (OpenSMTPD's /var/spool/smtpd, /usr/libexec/opensmtpd; chasquid's
  /etc/hosts and /etc/resolv.conf for its relay) see the scratch dirs
  there; the mounts are private to the namespace, the host sees nothing;
- the PID namespace makes the server its init, so the delivery processes
  Exim detaches are reaped by the server and their CPU is counted in its
  tree; killing the namespace's init stops every process it started.
"""

import os
import pwd
import shlex
import signal
import subprocess
import time
from pathlib import Path

import procstat
from servers import RELAY_DOMAIN, USER_COMMENT, ensure_system_user, free_port, record_pid, wait_greeting

# The DNS stub the peers ask (resolv.conf has no port: 53, on an address of its own).
DNS_STUB = "127.0.9.53"


def in_namespace(binds, argv, user=None):
    """The command running argv in fresh mount + PID namespaces, after
    bind-mounting each (source, target) of binds; as `user` if given."""
    script = "set -e\n" + "".join(
        f"mount --bind {shlex.quote(str(s))} {shlex.quote(str(t))}\n" for s, t in binds)
    if user:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    script += "exec " + " ".join(shlex.quote(str(a)) for a in argv) + "\n"
    return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            "sh", "-c", script]


def private_accounts(dir, names):
    """Binds (for in_namespace) of copies of /etc/passwd and /etc/group with
    the system accounts a server's binary insists on (`Debian-exim`,
    `opensmtpd`) added: they exist inside its namespace only, never on the host."""
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    used = {int(l.split(":")[2]) for l in passwd.splitlines() + group.splitlines() if l.count(":") >= 3}
    uid = 64900
    for n in names:
        while uid in used:
            uid += 1
        used.add(uid)
        passwd += f"{n}:x:{uid}:{uid}:{USER_COMMENT}:/nonexistent:/usr/sbin/nologin\n"
        group += f"{n}:x:{uid}:\n"
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "passwd").write_text(passwd)
    (dir / "group").write_text(group)
    os.chmod(dir / "passwd", 0o644)
    os.chmod(dir / "group", 0o644)
    return [(dir / "passwd", "/etc/passwd"), (dir / "group", "/etc/group")]


def _own(user, *paths):
    pw = pwd.getpwnam(user)
    for p in paths:
        p.mkdir(parents=True, exist_ok=True)
        os.chown(p, pw.pw_uid, pw.pw_gid)


def _files_under(path):
    for _root, _dirs, files in os.walk(path):
        if files:
            return True
    return False


class Peer:
    """What the three adapters share: start in the namespaces, the tree
    rooted at `unshare`, stop by killing the namespace."""

    name = "peer"
    # Recipient for the relay scenario (chasquid overrides it: see there).
    relay_rcpt = f"bench@{RELAY_DOMAIN}"

    def __init__(self, base, user, sink_port, root):
        self.dir = base / self.name.lower()
        self.root_dir = Path(root)
        self.user = user
        self.sink_port = sink_port
        self.port = free_port()
        self.log = self.dir / "server.log"
        self.proc = None

    def maildir(self):
        return self.dir / "Maildir"

    def local_rcpt(self):
        return f"{self.user}@localhost"

    def make_maildir(self):
        m = self.maildir()
        _own(self.user, m, m / "new", m / "cur", m / "tmp")

    def command(self):
        raise NotImplementedError

    def dns_binds(self):
        """A private /etc/hosts (remote.test → 127.0.0.1) and /etc/resolv.conf
        naming the harness's DNS stub (NXDOMAIN for every name): no lookup
        leaves the machine or waits on a real resolver's timeout (OpenSMTPD
        looks up each client's name; chasquid the relay domain's MX)."""
        (self.dir / "hosts").write_text(f"127.0.0.1 localhost {RELAY_DOMAIN}\n")
        # `lookup file bind`: OpenSMTPD's resolver (asr) reads /etc/hosts first.
        (self.dir / "resolv.conf").write_text(
            f"nameserver {DNS_STUB}\noptions timeout:1 attempts:1\nlookup file bind\n")
        for f in ("hosts", "resolv.conf"):
            os.chmod(self.dir / f, 0o644)
        return [(self.dir / "hosts", "/etc/hosts"), (self.dir / "resolv.conf", "/etc/resolv.conf")]

    def start(self, timeout=30):
        """Starts the instance; returns the seconds until its first 220 greeting."""
        logf = open(self.log, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        record_pid(self.dir.parent, self.proc.pid)
        if not wait_greeting(self.port, timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not greet on port {self.port}; see {self.log}")
        return time.monotonic() - t0

    def root(self):
        """The server itself: the namespace's init (unshare's one child), so
        unshare's own memory is not counted; the server reaps every orphan of
        its namespace, so their CPU lands in its tree."""
        if not self.proc or self.proc.poll() is not None:
            return None
        pids = procstat.tree_pids(self.proc.pid)
        return pids[1] if len(pids) > 1 else None

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            # SIGKILL to the namespace's init kills every process of the
            # namespace (unshare's own --kill-child does not survive the
            # server changing its uid, which clears the parent-death signal).
            pid = self.root()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class OpenSMTPD(Peer):
    """OpenSMTPD 6.8 (`smtpd -d`): its spool, chroot dir, control socket
    and helpers have compiled-in paths, so they are bind-mounted there."""

    name = "OpenSMTPD"

    def setup(self):
        home = self.dir.parent / "home" / self.user
        ensure_system_user(self.user, home)
        _own(self.user, home)  # where smtpd looks for ~/.forward
        self.accounts = private_accounts(self.dir / "accounts", ["opensmtpd", "opensmtpq"])
        self.spool_parent = self.dir / "var-spool"
        self.varlib = self.dir / "var-lib"
        self.run = self.dir / "run"
        for d in (self.spool_parent / "smtpd", self.varlib / "opensmtpd" / "empty", self.run):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.spool_parent / "smtpd", 0o711)
        self.make_maildir()
        self.conf = self.dir / "smtpd.conf"
        self.conf.write_text(f"""# Written by bench/peers.py: a private OpenSMTPD for the benchmark.
listen on 127.0.0.1 port {self.port} hostname opensmtpd.bench.test
# Its one default the load cannot pass: 100 messages per session (smtp-source
# spreads the messages over its sessions unevenly, some send more).
smtp limit max-mails 100000
action "local" maildir "{self.maildir()}"
action "relay" relay host smtp://127.0.0.1:{self.sink_port}
match from local for domain "{RELAY_DOMAIN}" action "relay"
match from local for local action "local"
""")
        os.chmod(self.conf, 0o644)

    def command(self):
        binds = [(self.spool_parent, "/var/spool"), (self.varlib, "/var/lib"), (self.run, "/run"),
                 (self.root_dir / "usr/libexec", "/usr/libexec"), *self.accounts, *self.dns_binds()]
        return in_namespace(binds, [self.root_dir / "usr/sbin/smtpd", "-d", "-f", self.conf])

    def queue_empty(self):
        spool = self.spool_parent / "smtpd"
        return not any(_files_under(spool / d) for d in ("incoming", "queue", "temporary"))


class Exim(Peer):
    """Exim 4.96 (exim4-daemon-light) with `-C` (root may name any config):
    its own spool, log and pid file; `-bdf` keeps the daemon in front."""

    name = "Exim"

    def setup(self):
        ensure_system_user(self.user, self.dir.parent / "home" / self.user)
        self.spool = self.dir / "spool"
        _own(self.user, self.spool, self.dir / "log")
        self.make_maildir()
        self.conf = self.dir / "exim.conf"
        self.conf.write_text(self.config_text())
        self.accounts = private_accounts(self.dir / "accounts", ["Debian-exim"])

    def config_text(self):
        u = self.user
        return f"""# Written by bench/peers.py: a private Exim for the benchmark.
primary_hostname = exim.bench.test
exim_user = {u}
exim_group = {u}
spool_directory = {self.spool}
log_file_path = {self.dir}/log/%slog
pid_file_path = {self.dir}/exim.pid
daemon_smtp_ports = {self.port}
local_interfaces = 127.0.0.1
domainlist local_domains = localhost : exim.bench.test
acl_smtp_rcpt = check_rcpt
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
keep_environment =
notifier_socket =
# The one change from Exim's defaults the load needs: 20 sessions at most by
# default (the load has 50), and after 10 messages on one connection Exim
# stops delivering at once and leaves the rest for a queue runner (the load
# sends 400 per connection). 100 sessions, as Postfix's process limit.
smtp_accept_max = 100
smtp_accept_queue_per_connection = 0

begin acl
check_rcpt:
  accept hosts = 127.0.0.1
  deny

begin routers
to_sink:
  driver = manualroute
  domains = {RELAY_DOMAIN}
  route_list = * 127.0.0.1
  self = send
  transport = remote_smtp
local_user:
  driver = accept
  domains = +local_domains
  local_parts = {u}
  transport = maildir

begin transports
remote_smtp:
  driver = smtp
  port = {self.sink_port}
  allow_localhost
maildir:
  driver = appendfile
  directory = {self.maildir()}
  maildir_format
  user = {u}
  group = {u}
  mode = 0600
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry
* * F,2h,15m; G,16h,1h,1.5; F,4d,6h
"""

    def command(self):
        return in_namespace(
            # Exim re-executes itself by its compiled-in path for each delivery.
            [*self.accounts, (self.root_dir / "usr/sbin", "/usr/sbin"), *self.dns_binds()], ["/usr/sbin/exim4", "-C", self.conf, "-bdf", "-q30m"])

    def queue_empty(self):
        try:
            return not any(n.endswith("-H") for n in os.listdir(self.spool / "input"))
        except FileNotFoundError:
            return True


class Chasquid(Peer):
    """chasquid 1.11, running as the benchmark user, delivering through
    maildrop (its default agent). It has no routes: its relay finds the
    sink through a private /etc/hosts (remote.test → 127.0.0.1) and a
    private /etc/resolv.conf naming a DNS stub that answers NXDOMAIN (no
    MX, so the domain itself), and `-testing__outgoing_smtp_port`."""

    name = "chasquid"
    # chasquid relays only for authenticated users (smtp-source cannot
    # AUTH), so the relay load goes to a local alias that forwards to the
    # remote address: the same queue-and-send work, plus an alias lookup.
    relay_rcpt = "relay@localhost"
    # Its queue holds at most 200 messages (fixed in the code); past that it
    # answers 451, at which smtp-source gives up: a run stays at 200.
    max_messages = 200

    def setup(self):
        home = self.dir.parent / "home" / self.user
        ensure_system_user(self.user, home)
        self.etc = self.dir / "etc"
        self.data = self.dir / "data"
        dom = self.etc / "domains" / "localhost"
        dom.mkdir(parents=True, exist_ok=True)
        # chasquid will not start without a certificate (smtp-source never uses STARTTLS).
        cert = self.etc / "certs" / "chasquid.bench.test"
        cert.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=chasquid.bench.test", "-days", "30",
                        "-keyout", str(cert / "privkey.pem"), "-out", str(cert / "fullchain.pem")],
                       check=True, capture_output=True)
        (dom / "aliases").write_text(f"relay: bench@{RELAY_DOMAIN}\n")
        self.make_maildir()
        (self.etc / "chasquid.conf").write_text(f"""# Written by bench/peers.py: a private chasquid for the benchmark.
hostname: "chasquid.bench.test"
smtp_address: "127.0.0.1:{self.port}"
submission_address: "127.0.0.1:{free_port()}"
submission_over_tls_address: "127.0.0.1:{free_port()}"
data_dir: "{self.data}"
mail_delivery_agent_bin: "{self.root_dir}/usr/bin/maildrop"
mail_log_path: "{self.dir}/mail.log"
""")
        r = subprocess.run([self.root_dir / "usr/bin/chasquid-util", f"--configdir={self.etc}", "user-add",
                            f"{self.user}@localhost", "--password=bench-password-not-used"],
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"chasquid-util user-add failed: {r.stderr.decode().strip()}")
        # maildrop -d <user> reads the user's ~/.mailfilter: deliver to this Maildir.
        _own(self.user, home, self.data, self.dir)
        filt = home / ".mailfilter"
        filt.write_text(f'to "{self.maildir()}/"\n')
        pw = pwd.getpwnam(self.user)
        os.chown(filt, pw.pw_uid, pw.pw_gid)
        os.chmod(filt, 0o600)
        for p in self.etc.rglob("*"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chown(self.etc, pw.pw_uid, pw.pw_gid)

    def command(self):
        return in_namespace(self.dns_binds(), [
            "env", f"HOME={self.dir.parent / 'home' / self.user}", f"USER={self.user}",
            self.root_dir / "usr/bin/chasquid", "-config_dir", self.etc, "-logfile", self.dir / "chasquid.log",
            f"-testing__outgoing_smtp_port={self.sink_port}"], user=self.user)

    def queue_empty(self):
        try:
            return not any(os.scandir(self.data / "queue"))
        except FileNotFoundError:
            return True


PEERS = {"opensmtpd": OpenSMTPD, "exim": Exim, "chasquid": Chasquid}
