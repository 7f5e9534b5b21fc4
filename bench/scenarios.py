"""The benchmark scenarios. Each function measures ONE run against ONE
server and returns a dict of figures (or raises RuntimeError with a
sentence saying what went wrong); the harness takes medians over runs.
"""

import os
import random
import re
import socket
import statistics
import subprocess
import time

import procstat
from servers import RELAY_DOMAIN, count_files, fresh_maildir, read_reply

SENDER = "bench@client.test"
CLIENT_NAME = "client.test"


def smtp_source(port, messages, sessions, size, rcpt, log, sender=SENDER):
    """Starts smtp-source: `messages` messages of `size` body bytes over
    `sessions` parallel sessions, each session sending message after
    message (-d) so the load is exactly `sessions` concurrent sessions."""
    return subprocess.Popen(
        ["smtp-source", "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size),
         "-f", sender, "-M", CLIENT_NAME, "-t", rcpt, f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _source_failure(log_path):
    try:
        lines = [l for l in open(log_path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "no output"


def _wait_quiet(server, timeout=120):
    """Waits until the server has nothing queued, then flushes the page cache
    so the previous run's write-back does not slow this one."""
    deadline = time.monotonic() + timeout
    while not server.queue_empty():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} still has mail queued after {timeout} s")
        time.sleep(0.1)
    os.sync()
    time.sleep(0.3)


def accept_deliver(server, cfg, work):
    """N messages to one local Maildir user; timed until all N are in new/."""
    maildir = server.maildir()
    _wait_quiet(server)
    fresh_maildir(maildir, discard=cfg.size >= 1 << 20)
    root = server.root()
    log_path = work / f"source-{server.name}.log"
    n = cfg.messages
    snap0 = procstat.cpu_snapshot(root)
    with procstat.PeakSampler(server.root) as peak, open(log_path, "wb") as log:
        t0 = time.monotonic()
        src = smtp_source(server.port, n, cfg.sessions, cfg.size, f"{cfg.user}@localhost", log)
        try:
            rc = src.wait(timeout=cfg.timeout)
        except subprocess.TimeoutExpired:
            src.kill()
            raise RuntimeError(f"smtp-source did not finish within {cfg.timeout} s")
        t_accept = time.monotonic()
        if rc != 0:
            raise RuntimeError(f"smtp-source failed against {server.name}: {_source_failure(log_path)}")
        new = maildir / "new"
        deadline = t_accept + cfg.timeout
        while count_files(new) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{server.name} delivered {count_files(new)} of {n} messages within {cfg.timeout} s")
            time.sleep(0.02)
        t_done = time.monotonic()
    _wait_quiet(server, timeout=30)
    cpu = procstat.cpu_seconds(snap0, procstat.cpu_snapshot(root))
    return {
        "delivered_per_s": n / (t_done - t0),
        "accepted_per_s": n / (t_accept - t0),
        "cpu_per_1000": cpu / n * 1000,
        "peak_pss_mib": peak.peak_pss_kib / 1024,
    }


def relay(server, sink, cfg, work, sender=SENDER):
    """N messages to a remote domain routed to smtp-sink; timed until the sink has them all.

    Returns {"unavailable": True} when nothing reaches the sink (a server
    without outbound delivery), so the table can say so instead of failing.
    """
    _wait_quiet(server)
    root = server.root()
    log_path = work / f"source-relay-{server.name}.log"
    n = cfg.messages
    base = sink.count
    snap0 = procstat.cpu_snapshot(root)
    with procstat.PeakSampler(server.root) as peak, open(log_path, "wb") as log:
        t0 = time.monotonic()
        rcpt = getattr(server, "relay_rcpt", f"bench@{RELAY_DOMAIN}")
        src = smtp_source(server.port, n, cfg.sessions, cfg.size, rcpt, log, sender)
        try:
            rc = src.wait(timeout=cfg.timeout)
        except subprocess.TimeoutExpired:
            src.kill()
            raise RuntimeError(f"smtp-source did not finish within {cfg.timeout} s")
        if rc != 0:
            raise RuntimeError(f"smtp-source failed against {server.name}: {_source_failure(log_path)}")
        t_accept = time.monotonic()
        # Wait for the sink, giving up when it makes no progress for `stall` seconds.
        last, last_change = sink.count, time.monotonic()
        while sink.count - base < n:
            now = time.monotonic()
            if sink.count != last:
                last, last_change = sink.count, now
            elif now - last_change > cfg.stall:
                break
            time.sleep(0.02)
        t_done = time.monotonic()
    got = sink.count - base
    if got == 0:
        return {"unavailable": True}
    if got < n:
        raise RuntimeError(f"{server.name} relayed only {got} of {n} messages to the sink")
    _wait_quiet(server, timeout=30)
    cpu = procstat.cpu_seconds(snap0, procstat.cpu_snapshot(root))
    return {
        "relayed_per_s": n / (t_done - t0),
        "relay_accepted_per_s": n / (t_accept - t0),
        "cpu_per_1000": cpu / n * 1000,
        "peak_pss_mib": peak.peak_pss_kib / 1024,
    }


def open_sessions(port, k, timeout):
    """Opens up to k SMTP sessions, each greeted and past EHLO, then idle.
    Returns the open sockets (fewer than k if the server stops greeting)."""
    socks = []
    for _ in range(k):
        deadline = time.monotonic() + timeout
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError:
            break
        # Abortive close later (RST): no TIME_WAIT pile-up across runs.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        greeting = read_reply(s, deadline)
        if not greeting or not greeting.startswith("220"):
            s.close()
            break
        s.sendall(f"EHLO {CLIENT_NAME}\r\n".encode())
        if not (read_reply(s, deadline) or "").startswith("250"):
            s.close()
            break
        socks.append(s)
    return socks


def close_sessions(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def idle_sessions_portcullis(server, k):
    """RSS of a freshly started Portcullis holding k idle sessions, twice:
    a first wave, and a second one after the first has closed (what the
    process keeps of the first wave shows there)."""
    server.stop()
    server.start()
    pid = server.root()
    time.sleep(0.5)
    rss0 = procstat.status_kib(pid, "VmRSS")
    waves = []
    for _ in range(2):
        socks = open_sessions(server.port, k, timeout=10)
        try:
            time.sleep(1.0)
            waves.append(procstat.status_kib(pid, "VmRSS"))
        finally:
            close_sessions(socks)
        if len(socks) < k:
            raise RuntimeError(f"Portcullis held only {len(socks)} of {k} idle sessions")
        time.sleep(2.0)
    rss_after = procstat.status_kib(pid, "VmRSS")
    return {
        "held": k,
        "rss_total_mib": waves[0] / 1024,
        "per_session_kib": (waves[0] - rss0) / k,
        "rss_second_wave_mib": waves[1] / 1024,
        "rss_after_close_mib": rss_after / 1024,
    }


def idle_sessions_postfix(server, k):
    """Postfix serves one session per smtpd process, at most
    default_process_limit (100) at once; the rest wait unanswered in the
    listen backlog. Opens min(k, 100) sessions and reports the private
    memory (what one more session costs) of each busy smtpd."""
    k = min(k, 100)
    root = server.root()
    socks = open_sessions(server.port, k, timeout=10)
    try:
        time.sleep(1.0)
        smtpds = [p for p in procstat.tree_pids(root) if procstat.comm(p) == "smtpd"]
        private = [procstat.rollup_kib(p).get("Private", 0) for p in smtpds]
        rss = [procstat.rollup_kib(p).get("Rss", 0) for p in smtpds]
        tree = procstat.tree_memory_kib(root)
    finally:
        close_sessions(socks)
    if len(socks) < k:
        raise RuntimeError(f"Postfix held only {len(socks)} of {k} idle sessions")
    return {
        "held": len(socks),
        "per_session_kib": statistics.median(private) if private else 0,
        "smtpd_rss_kib": statistics.median(rss) if rss else 0,
        "tree_pss_mib": tree["pss"] / 1024,
    }


def idle_sessions_peer(server, k):
    """k idle sessions (or as many as the server greets: Exim answers 421
    past `smtp_accept_max`) on a freshly started server; per session = growth
    of the private memory summed over its processes ÷ sessions held (pages a
    forked child still shares with its parent are not counted)."""
    server.stop()
    server.start()
    time.sleep(0.5)
    before = procstat.tree_private_kib(server.root())
    socks = open_sessions(server.port, k, timeout=5)
    try:
        time.sleep(1.0)
        after = procstat.tree_private_kib(server.root())
        tree = procstat.tree_memory_kib(server.root())
    finally:
        close_sessions(socks)
    if not socks:
        raise RuntimeError(f"{server.name} held no idle session")
    return {
        "held": len(socks),
        "per_session_kib": (after - before) / len(socks),
        "tree_pss_mib": tree["pss"] / 1024,
        "tree_rss_mib": tree["rss"] / 1024,
    }


FSYNC_CALLS = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync")


def fsyncs_per_message(server, cfg, work, sink=None):
    """`strace -f -c` on every process of the server while it takes m
    messages (local delivery, or relay to `sink` when given) and finishes
    them; returns {syscall: calls per message} for the fsync family."""
    m = 50 if cfg.quick else 500
    _wait_quiet(server)
    label = "relay" if sink else "local"
    out = work / f"strace-{server.name}-{label}.txt"
    cmd = ["strace", "-f", "-c", "-o", str(out), "-e", "trace=" + ",".join(FSYNC_CALLS)]
    for p in procstat.tree_pids(server.root()):
        # Every thread (a Go or tokio runtime's threads exist before the attach).
        for tid in os.listdir(f"/proc/{p}/task"):
            cmd += ["-p", tid]
    tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # attached before the first message
        if sink:
            base = sink.count
            rcpt = getattr(server, "relay_rcpt", f"bench@{RELAY_DOMAIN}")
        else:
            fresh_maildir(server.maildir())
            rcpt = f"{cfg.user}@localhost"
        with open(work / f"source-strace-{server.name}.log", "wb") as log:
            src = smtp_source(server.port, m, min(cfg.sessions, 10), cfg.size, rcpt, log)
            if src.wait(timeout=cfg.timeout * 4) != 0:
                raise RuntimeError(f"smtp-source failed against {server.name} under strace")
        deadline = time.monotonic() + cfg.timeout * 4
        done = (lambda: sink.count - base >= m) if sink else (
            lambda: count_files(server.maildir() / "new") >= m)
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not finish {m} messages under strace")
            time.sleep(0.05)
        _wait_quiet(server, timeout=60)
        time.sleep(1.0)  # queue files removed: their fsyncs, if any, are in
    finally:
        tracer.send_signal(2)
        tracer.wait(timeout=30)
    calls = {}
    for line in out.read_text().splitlines():
        f = line.split()
        if f and f[-1] in FSYNC_CALLS and len(f) >= 5:
            calls[f[-1]] = int(f[3])
    return {k: v / m for k, v in calls.items()}


def startup_and_idle(server):
    """Starts the server, waits for its first 220 greeting, measures idle
    memory (summed over all its processes), stops it."""
    seconds = server.start()
    try:
        time.sleep(1.0)
        mem = procstat.tree_memory_kib(server.root())
    finally:
        server.stop()
    return {
        "startup_ms": seconds * 1000,
        "idle_rss_mib": mem["rss"] / 1024,
        "idle_pss_mib": mem["pss"] / 1024,
        "procs": mem["procs"],
    }


# --- relay list: load time of a large list, and lookup cost ---------------


def random_list(n, seed=7):
    """n IPv4 entries every notation both servers read the same way: single
    addresses and CIDR blocks /16–/30 with the host bits clear."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        addr = rng.randrange(1 << 24, 224 << 24)
        if rng.random() < 0.5:
            out.append(_dotted(addr))
        else:
            plen = rng.randint(16, 30)
            net = addr & ~((1 << (32 - plen)) - 1) & 0xFFFFFFFF
            out.append(f"{_dotted(net)}/{plen}")
    return out


def _dotted(a):
    return ".".join(str((a >> s) & 255) for s in (24, 16, 8, 0))


def load_portcullis(server, config_path):
    """Seconds for `portcullis config check` (TOML parse + relay-list compile + report).
    The synthetic list of random public blocks covers more than a /8, which the
    open-relay guard refuses: `--allow-open-relay` lets it load, as the row measures loading."""
    t0 = time.monotonic()
    r = subprocess.run([server.binary, "config", "check", "--allow-open-relay",
                        "--config", str(config_path)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"portcullis config check failed: {r.stderr.decode().strip()[-300:]}")
    return t


def _postmap(conf, table, queries):
    t0 = time.monotonic()
    r = subprocess.run(["postmap", "-c", str(conf), "-q", "-", f"cidr:{table}"], input=queries.encode(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.monotonic() - t0
    err = r.stderr.decode()
    if "fatal" in err:
        raise RuntimeError(f"postmap failed: {err.strip()[-300:]}")
    return t


def load_postfix_cidr(conf, table):
    """Seconds for postmap to load the list as a cidr: table and answer one query."""
    return _postmap(conf, table, "192.0.2.1\n")


def lookup_postfix_cidr_ns(conf, table, queries, load_s):
    """Per-lookup cost in a Postfix cidr: table (a linear, first-match scan):
    (time for `queries` lookups - time for one) / queries."""
    rng = random.Random(11)
    keys = "".join(_dotted(rng.randrange(1 << 24, 224 << 24)) + "\n" for _ in range(queries))
    t = _postmap(conf, table, keys)
    return max(0.0, t - load_s) / queries * 1e9


CRITERION_LINE = re.compile(
    r"(relay_(?:lookup|compile)/\d+)\s+time:\s+\[\s*([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]")
UNIT_NS = {"ps": 1e-3, "ns": 1.0, "\u00b5s": 1e3, "\u03bcs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def criterion_lookup(repo, log):
    """Runs the relay_lookup criterion bench; {name: estimate in ns}."""
    r = subprocess.run(["cargo", "bench", "-p", "portcullis-relay", "--bench", "relay_lookup"],
                       cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    log.write_text(out)
    if r.returncode != 0:
        raise RuntimeError(f"cargo bench failed (exit {r.returncode}); see {log}")
    found = {}
    for m in CRITERION_LINE.finditer(out):
        found[m.group(1)] = float(m.group(4)) * UNIT_NS[m.group(5)]
    if not found:
        raise RuntimeError(f"no criterion figures in the bench output; see {log}")
    return found
