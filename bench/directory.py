"""The directory backends side by side (`bench/run.sh --only accept-pg`):
Portcullis alone, the accept + local delivery load of the comparison, once
with the site in files (`[directory] backend = "files"`, the default) and
once with the same site in PostgreSQL (`backend = "postgres"`), the
variants taking turns run by run, each run starting with the next one.

The database is a private cluster (bench/pgcluster.py) on a loopback port,
started here and stopped at the end; the site is put in it with the
project's own `portcullis directory init` and `directory import`, as
docs/cluster.md does. Both variants name the same `url_file`, so the one
difference is the backend. Besides the server's CPU, the cluster's own CPU
and its transaction count (pg_stat_database) during each run are read: a
node polls the policy version twice a second and queries nothing per
message, which these show.
"""

import datetime
import os
import subprocess
import sys
import time

import procstat
import scenarios
from pgcluster import PASSWORD, ROLE, PgCluster
from report import fmt, median, same_within_noise
from servers import Portcullis, free_port

VARIANTS = ("files", "postgres")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def portcullis_cli(pc, *args):
    r = subprocess.run([pc.binary, *args, "--config", str(pc.config)], capture_output=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"portcullis {' '.join(args)} failed: {r.stderr.decode().strip()[-400:]}")
    return r.stdout.decode()


def directory_toml(backend, url_file):
    return f'\n[directory]\nbackend = "{backend}"\nurl_file = "{url_file}"\n'


def transactions(pg):
    """Committed + rolled-back transactions of the `portcullis` database so far."""
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    r = subprocess.run([str(pg.bin / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", ROLE, "-d", ROLE,
                        "-X", "-A", "-t", "-c",
                        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                        f"WHERE datname = '{ROLE}'"],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}")
    return int(r.stdout.split()[-1])


def _restart(pc, backend, url_file):
    pc.stop()
    pc.extra_toml = directory_toml(backend, url_file)
    pc.config.write_text(pc.config_text())
    pc.start()
    if backend == "postgres":
        status = portcullis_cli(pc, "directory", "status")
        if "backend: postgres" not in status:
            raise RuntimeError(f"the node does not serve from PostgreSQL: {status.strip()}")


def setup(cfg, work, pg):
    """A file-backed site, copied into the database with `directory import`."""
    pc = Portcullis(cfg.binary, work, cfg.user, free_port(), subdir="portcullis-pg")
    url_file = pc.dir / "directory.url"
    pc.extra_toml = directory_toml("files", url_file)
    pc.setup()
    pg.write_url_file(url_file)
    log("directory init + import: " + " / ".join(
        portcullis_cli(pc, "directory", verb).strip().splitlines()[-1] for verb in ("init", "import")))
    return pc, url_file


def run(cfg, work):
    """Runs the comparison; returns the Markdown section."""
    pg = PgCluster(work)
    res = {}
    try:
        log(f"PostgreSQL: private cluster on 127.0.0.1:{pg.port} ({pg.bin})")
        pg.start()
        pc, url_file = setup(cfg, work, pg)
        try:
            for i in range(cfg.runs):
                order = VARIANTS[i % 2:] + VARIANTS[:i % 2]
                for backend in order:
                    log(f"accept + local delivery, {backend} backend: run {i + 1}/{cfg.runs}")
                    _restart(pc, backend, url_file)
                    res.setdefault(backend, []).append(one_run(cfg, work, pc, pg))
                    log(f"  {res[backend][-1]}")
        finally:
            pc.stop()
    finally:
        pg.stop()
    return report(cfg, res)


def one_run(cfg, work, pc, pg):
    """One accept run, with the cluster's CPU and transactions over it."""
    x0 = transactions(pg)
    snap0 = procstat.cpu_snapshot(pg.root())
    t0 = time.monotonic()
    r = scenarios.accept_deliver(pc, cfg, work)
    seconds = time.monotonic() - t0
    cpu = procstat.cpu_seconds(snap0, procstat.cpu_snapshot(pg.root()))
    # Less the one transaction of our own count query.
    r["pg_transactions"] = transactions(pg) - x0 - 1
    r["pg_seconds"] = seconds
    r["pg_cpu_ms"] = cpu * 1000
    return r


def verdict(res, key):
    return same_within_noise([r[key] for r in res["files"]], [r[key] for r in res["postgres"]])


def report(cfg, res):
    n, c, size = cfg.messages, cfg.sessions, cfg.size
    g = lambda v, key: median([r.get(key) for r in res.get(v, [])])
    rows = []

    def row(text, key, kind, target=None):
        a, b = g("files", key), g("postgres", key)
        ratio = f"{b / a:.2f}×" if a and b is not None else "—"
        rows.append(f"| {text} | {fmt(a, kind)} | {fmt(b, kind)} | {ratio} | "
                    f"{verdict(res, key) if target else ''} |")

    row(f"accept + local delivery, msgs/s end to end ({n:,} × {size:,} B, {c} sessions, durable)",
        "delivered_per_s", "int", True)
    row("accept + local delivery, msgs/s accepted (last 250 to the client)", "accepted_per_s", "int")
    row("Portcullis CPU s per 1,000 msgs", "cpu_per_1000", 3, True)
    row("Portcullis peak memory (MiB PSS)", "peak_pss_mib", 1)
    row("PostgreSQL cluster CPU ms during a run (it runs in both variants)", "pg_cpu_ms", "int")
    row("PostgreSQL transactions during a run (pg_stat_database, flushed within ~1 s)", "pg_transactions", "int")
    row("seconds per run (smtp-source's start to the last delivery)", "pg_seconds", 1)
    per_run = "; ".join(
        f"{v}: " + " / ".join(f"{r['delivered_per_s']:,.0f} msgs/s, {r['cpu_per_1000']:.3f} CPU s"
                              for r in res.get(v, []))
        for v in VARIANTS)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "## Directory backend: files vs PostgreSQL (`--only accept-pg`)"
        + (" (--quick)" if cfg.quick else ""),
        "",
        f"- date: {now}; Portcullis {cfg.commit} (release build); {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"- load: smtp-source, {n:,} messages of {size:,} body bytes over {c} concurrent sessions, "
        "to one local Maildir user",
        f"- each figure is the median of {cfg.runs} run(s), the backends alternating, each run "
        "starting with the other one; per run: " + per_run,
        "- PostgreSQL: a private cluster (initdb + pg_ctl as the `postgres` user, loopback, default "
        "settings), the site put in with `portcullis directory init` and `directory import`",
        "",
        "| scenario | files | postgres | ratio (postgres ÷ files) | target: the same within noise |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
    ])
