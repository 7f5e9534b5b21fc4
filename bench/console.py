"""The admin console and JSON API under a large site (`bench/run.sh --only
console`): Portcullis alone, with a relay list of 10,000 entries and 10,000
users.

- Page times: a logged-in session (the console's own login form and
  cookie) fetches the Relay screen, the Users screen and the dashboard N
  times each over one kept-alive HTTPS connection, as a browser would; the
  JSON API's GET config/relay, GET users and, as a baseline of what HTTP
  Basic costs by itself (an Argon2id check per request), GET status. Each
  time runs from sending the request to the last byte of the answer.
- Accept load with the console open: the accept + local delivery load of
  the comparison, once with nobody on the console and once while a client
  polls the dashboard every second, the variants taking turns run by run.

The 10,000 users share one set of stored credentials: `portcullis user add`
derives Argon2id for each (tens of ms apiece), so the harness adds one user
with it and copies that user's line of the users file under 9,999 more
names. The server reads them as any users file; only the page sizes matter
here.
"""

import datetime
import http.client
import os
import random
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import procstat
import scenarios
from report import fmt, median, same_within_noise
from servers import Portcullis, free_port

ADMIN, ADMIN_PASSWORD = "benchadmin", "bench-admin-password-42"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def portcullis_cli(pc, *args, stdin=None):
    r = subprocess.run([pc.binary, *args, "--config", str(pc.config)], input=stdin, capture_output=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"portcullis {' '.join(args)} failed: {r.stderr.decode().strip()[-400:]}")
    return r.stdout.decode()


def relay_list(n, seed=15):
    """127.0.0.1 (smtp-source's address) and n-1 entries inside 10.0.0.0/8 in
    every IPv4 notation of the seed's list: addresses, `*` octets, octet
    ranges, CIDR blocks, and exceptions."""
    rng = random.Random(seed)
    out = ["127.0.0.1"]
    while len(out) < n:
        a, b, c = rng.randrange(256), rng.randrange(256), rng.randrange(256)
        kind = rng.random()
        if kind < 0.4:
            out.append(f"10.{a}.{b}.{c}")
        elif kind < 0.55:
            out.append(f"10.{a}.{b}.*")
        elif kind < 0.7:
            lo = rng.randrange(250)
            out.append(f"10.{a}.{b}.{lo}-{lo + rng.randrange(1, 6)}")
        elif kind < 0.95:
            plen = rng.randint(24, 30)
            out.append(f"10.{a}.{b}.{c & ~((1 << (32 - plen)) - 1) & 255}/{plen}")
        else:
            out.append(f"!10.{a}.{b}.{c}")
    return out


def add_users(pc, n):
    """n users named u00001… with the credentials of one added by the CLI."""
    portcullis_cli(pc, "user", "add", "u00000", "--password-stdin", stdin=b"bench-user-password-1\n")
    users = next(p for p in (pc.data / "users", pc.dir / "users") if p.exists())
    lines = users.read_text().splitlines()
    template = next(l for l in lines if l.startswith("u00000:"))
    rest = template[len("u00000"):]
    # Besides the bench's Maildir user and the admin.
    extra = [f"u{i:05d}{rest}" for i in range(1, n - 2)]
    tmp = users.with_suffix(".tmp")
    tmp.write_text("\n".join(lines + extra) + "\n")
    os.chmod(tmp, os.stat(users).st_mode & 0o777)
    os.replace(tmp, users)
    return users


class Client:
    """One kept-alive HTTPS connection to the admin listener (the server's
    self-signed certificate is accepted, as `curl -k` does)."""

    def __init__(self, port):
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
        self.cookie = None

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes, seconds from sending to the last byte);
        self.first_byte: the seconds to the answer's head, which the server
        sends once it has rendered the whole page."""
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        t0 = time.perf_counter()
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        self.first_byte = time.perf_counter() - t0
        data = resp.read()
        return resp.status, resp.headers, data, time.perf_counter() - t0

    def log_in(self, user, password):
        body = urllib.parse.urlencode({"user": user, "password": password})
        status, headers, data, _ = self.request(
            "POST", "/console/login", body,
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin})
        cookie = headers.get("Set-Cookie", "").split(";")[0]
        if status not in (302, 303) or not cookie:
            raise RuntimeError(f"console login answered {status}: {data[:200]!r}")
        self.cookie = cookie

    def close(self):
        self.conn.close()


def wait_listening(port, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = Client(port)
            c.request("GET", "/console/login")
            c.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the admin listener did not answer on {port}")
            time.sleep(0.05)


def time_pages(port, n, list_entries, users, server_pid):
    """{label: {median_ms, p95_ms, max_ms, head_*, cpu_ms, kib}} for each
    page, n requests each after 2 warm-ups; cpu_ms is the server's CPU time
    per request (what the page costs whatever else the machine runs)."""
    basic = "Basic " + __import__("base64").b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()
    pages = [
        ("console: Relay screen, first page of 200 entries (GET /console/relay)", "/console/relay", None,
         "Entries 1–200 of"),
        ("console: Users screen, first page of 100 (GET /console/users)", "/console/users", None,
         "10000 users"),
        (f"console: Users screen, Find (GET /console/users?q={users[-1]})", f"/console/users?q={users[-1]}",
         None, users[-1]),
        ("console: dashboard (GET /console/)", "/console/", None, "Dashboard"),
        ("API: GET /api/v1/config/relay (HTTP Basic)", "/api/v1/config/relay", basic, list_entries[-1]),
        ("API: GET /api/v1/users (HTTP Basic)", "/api/v1/users", basic, users[-1]),
        ("API: GET /api/v1/status (HTTP Basic; the cost of the password check alone)", "/api/v1/status",
         basic, "uptime"),
    ]
    out = {}
    for label, path, auth, must in pages:
        c = Client(port)
        try:
            if auth is None:
                c.log_in(ADMIN, ADMIN_PASSWORD)
            headers = {"Authorization": auth} if auth else {}
            times, heads = [], []
            cpu0 = None
            for i in range(n + 2):
                if i == 2:
                    cpu0 = procstat.cpu_snapshot(server_pid)
                status, _, data, t = c.request("GET", path, headers=headers)
                if status != 200 or must.encode() not in data:
                    raise RuntimeError(f"GET {path} answered {status} without {must!r}: {data[:200]!r}")
                if i >= 2:
                    times.append(t * 1000)
                    heads.append(c.first_byte * 1000)
            cpu = procstat.cpu_seconds(cpu0, procstat.cpu_snapshot(server_pid))
        finally:
            c.close()
        times.sort()
        heads.sort()
        out[label] = {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))],
                      "max_ms": times[-1], "head_median_ms": statistics.median(heads),
                      "head_p95_ms": heads[int(0.95 * (len(heads) - 1))], "cpu_ms": cpu / n * 1000,
                      "kib": len(data) / 1024}
        log(f"  {label}: {out[label]}")
    return out


class DashboardPoller:
    """A logged-in console client fetching the dashboard once a second."""

    def __init__(self, port):
        self.client = Client(port)
        self.client.log_in(ADMIN, ADMIN_PASSWORD)
        self.times, self.errors = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while True:
            t0 = time.monotonic()
            try:
                status, _, _, t = self.client.request("GET", "/console/")
                (self.times if status == 200 else self.errors).append(t * 1000 if status == 200 else status)
            except OSError as e:
                self.errors.append(str(e))
            if self._stop.wait(max(0.0, 1.0 - (time.monotonic() - t0))):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.client.close()
        return False


def setup(cfg, work, entries, n_users):
    pc = Portcullis(cfg.binary, work, cfg.user, free_port(), subdir="portcullis-console")
    admin_port = free_port()
    pc.extra_toml = f'\n[admin]\nlisten = ["127.0.0.1:{admin_port}"]\n'
    pc.setup()
    portcullis_cli(pc, "user", "add", ADMIN, "--admin", "--password-stdin",
                   stdin=(ADMIN_PASSWORD + "\n").encode())
    users_file = add_users(pc, n_users)
    pc.config.write_text(pc.config_text(entries))
    return pc, admin_port, users_file


def run(cfg, work):
    """Builds the site, times the pages, runs the accept load without and
    with the dashboard polled; returns the Markdown section."""
    entries = relay_list(cfg.console_entries)
    pc, port, users_file = setup(cfg, work, entries, cfg.console_users)
    n_users = sum(1 for l in users_file.read_text().splitlines() if l and not l.startswith("#"))
    log(f"console: {len(entries):,} relay entries, {n_users:,} users; admin on 127.0.0.1:{port}")
    res = {"accept": {}, "polls": []}
    try:
        pc.start(timeout=120)
        wait_listening(port)
        res["pages"] = time_pages(port, cfg.page_requests, entries, [f"u{n_users - 3:05d}"], pc.root())
        variants = [("nobody on the console", False), ("dashboard polled every second", True)]
        for i in range(cfg.runs):
            for label, poll in variants[i % 2:] + variants[:i % 2]:
                log(f"accept + local delivery, {label}: run {i + 1}/{cfg.runs}")
                if poll:
                    with DashboardPoller(port) as poller:
                        r = scenarios.accept_deliver(pc, cfg, work)
                    if poller.errors or not poller.times:
                        raise RuntimeError(f"dashboard polls failed: {poller.errors[:3]}")
                    res["polls"].extend(poller.times)
                    r["polls"] = len(poller.times)
                else:
                    r = scenarios.accept_deliver(pc, cfg, work)
                res["accept"].setdefault(label, []).append(r)
                log(f"  {r}")
    finally:
        pc.stop()
    return report(cfg, res, len(entries), n_users)


def report(cfg, res, n_entries, n_users):
    rows = []
    for label, f in res["pages"].items():
        target = ("< 50 ms: " + ("met" if f["median_ms"] < 50 and f["p95_ms"] < 50 else "**not met**")
                  if label.startswith("console") else "")
        rows.append(f"| {label} | {f['cpu_ms']:.1f} | {f['head_median_ms']:.1f} | {f['head_p95_ms']:.1f} | "
                    f"{f['median_ms']:.1f} | {f['p95_ms']:.1f} | {f['max_ms']:.1f} | {f['kib']:,.0f} | {target} |")
    acc = res["accept"]
    off, on = "nobody on the console", "dashboard polled every second"
    g = lambda v, key: median([r.get(key) for r in acc.get(v, [])])
    arows = []
    for text, key, kind in (("msgs/s end to end", "delivered_per_s", "int"),
                            ("msgs/s accepted (last 250 to the client)", "accepted_per_s", "int"),
                            ("Portcullis CPU s per 1,000 msgs", "cpu_per_1000", 3)):
        a, b = g(off, key), g(on, key)
        ratio = f"{b / a:.2f}×" if a and b is not None else "—"
        same = same_within_noise([r[key] for r in acc.get(off, [])], [r[key] for r in acc.get(on, [])])
        arows.append(f"| accept + local delivery, {text} | {fmt(a, kind)} | {fmt(b, kind)} | {ratio} | "
                     f"{same} |")
    per_run = "; ".join(f"{v}: " + " / ".join(f"{r['delivered_per_s']:,.0f}" for r in acc.get(v, []))
                        for v in (off, on))
    polls = sorted(res["polls"])
    poll_line = (f"{len(polls)} dashboard polls during the load: median {statistics.median(polls):.1f} ms, "
                 f"max {polls[-1]:.1f} ms" if polls else "no polls")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n, c, size = cfg.messages, cfg.sessions, cfg.size
    return "\n".join([
        f"## Admin console and API with {n_entries:,} relay entries and {n_users:,} users (`--only console`)"
        + (" (--quick)" if cfg.quick else ""),
        "",
        f"- date: {now}; Portcullis {cfg.commit} (release build); {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"- site: {n_entries:,} relay.allow entries (addresses, `*` octets, octet ranges, CIDR, "
        f"exceptions), {n_users:,} users; {cfg.page_requests} requests per page after 2 warm-ups, "
        "one kept-alive HTTPS connection, a logged-in console session for the console's pages",
        "",
        "- server CPU = the server's utime + stime over the timed requests ÷ their number (/proc; "
        "rendering, TLS and all, and what a page costs however busy the machine is); "
        "head = to the answer's head, which the server sends once the whole page is rendered (render "
        "time plus a loopback round trip); whole page = to its last byte, TLS decryption in the Python "
        "client included. The API checks the Argon2id password on every request (HTTP Basic, no session).",
        "",
        "| page | server CPU ms per request | head: median ms | head: p95 ms | whole page: median ms | "
        "whole page: p95 ms | whole page: max ms | KiB | target (whole page) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"- accept load: smtp-source, {n:,} messages of {size:,} body bytes over {c} sessions, to one "
        f"local Maildir user, on the same site; median of {cfg.runs} run(s) per variant, alternating; "
        f"per run, msgs/s: {per_run}; {poll_line}",
        "",
        f"| scenario | {off} | {on} | ratio | target: unchanged (the same within noise) |",
        "|---|---:|---:|---:|---|",
        *arows,
        "",
    ])
