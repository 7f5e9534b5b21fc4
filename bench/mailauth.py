"""Mail-authentication cost (`bench/run.sh --mail-auth`): Portcullis alone,
each scenario with and without the work, in the same run, the variants
taking turns run by run.

- accept + local delivery with `[inbound] checks` on vs off. The client
  (smtp-source, always 127.0.0.1) must count as "outside", so in both
  variants `relay.allow` is empty and the per-client connection limits are
  raised to let its sessions in. A loopback DNS stub (bench/dnsstub.py)
  publishes SPF and DMARC for the sender's domain, so SPF and DMARC pass;
  smtp-source's messages carry no DKIM signature (dkim=none).
- relay to smtp-sink with a DKIM key for the `From:` domain (Ed25519, then
  RSA-2048) vs no key. The client is in `relay.allow`, so its mail is signed.
"""

import datetime
import os
import shutil
import subprocess
import sys
import time

import scenarios
from dnsstub import DnsStub
from report import fmt, median
from servers import Portcullis

SIGN_DOMAIN = "portcullis.bench.test"  # a local domain of the generated config
LOCAL_SENDER = f"bench@{SIGN_DOMAIN}"
CLIENT_DOMAIN = scenarios.SENDER.split("@")[1]
RECORDS = {
    CLIENT_DOMAIN: ["v=spf1 ip4:127.0.0.1 -all"],
    f"_dmarc.{CLIENT_DOMAIN}": ["v=DMARC1; p=none"],
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _portcullis(pc, *args):
    r = subprocess.run([pc.binary, *args, "--config", str(pc.config)], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"portcullis {' '.join(args)} failed: {r.stderr.decode().strip()}")


def _restart(pc, allow, extra_limits, extra_toml, key=None, keys_dir=None):
    """Stops pc, rewrites its config and DKIM directory, starts it again."""
    pc.stop()
    pc.extra_limits, pc.extra_toml = extra_limits, extra_toml
    pc.config.write_text(pc.config_text(allow))
    dkim = pc.data / "dkim"
    shutil.rmtree(dkim, ignore_errors=True)
    dkim.mkdir(mode=0o700)
    if key:
        shutil.copy2(keys_dir / key, dkim / key)
    pc.start()


def _check_header(pc, checks):
    """One delivered message: Authentication-Results present (spf and dmarc
    pass) exactly when the checks are on."""
    new = pc.maildir() / "new"
    name = next(iter(os.listdir(new)))
    head = (new / name).read_bytes().split(b"\r\n\r\n", 1)[0].decode("latin-1")
    has = "Authentication-Results:" in head
    if checks and not ("spf=pass" in head and "dmarc=pass" in head):
        raise RuntimeError(f"checks on, but no spf=pass/dmarc=pass in {new / name}")
    if not checks and has:
        raise RuntimeError(f"checks off, but an Authentication-Results header in {new / name}")


def _rotate(items, i):
    k = i % len(items)
    return items[k:] + items[:k]


def run(cfg, work, sink):
    """Runs both comparisons; returns the Markdown report."""
    pc = Portcullis(cfg.binary, work, cfg.user, sink.port)
    pc.setup()
    keys_dir = work / "dkim-keys"
    _portcullis(pc, "dkim", "generate", SIGN_DOMAIN, "--selector", "ed")
    _portcullis(pc, "dkim", "generate", SIGN_DOMAIN, "--selector", "rsa", "--algorithm", "rsa")
    shutil.move(str(pc.data / "dkim"), keys_dir)
    stub = DnsStub(RECORDS)
    dns = f'\n[dns]\nnameservers = ["127.0.0.1:{stub.port}"]\n'
    # Outside clients: none in relay.allow, and smtp-source's sessions all
    # come from one address, so the per-client limits must let them in.
    outside = {"connections_per_client": 1000, "connection_rate": 1000000}
    accept = [
        ("checks off", lambda: _restart(pc, (), outside, f"\n[inbound]\nchecks = false\n{dns}"), False),
        ("checks on", lambda: _restart(pc, (), outside, f"\n[inbound]\nchecks = true\n{dns}"), True),
    ]
    relay = [
        ("no key", lambda: _restart(pc, ("127.0.0.1",), {}, dns)),
        ("Ed25519", lambda: _restart(pc, ("127.0.0.1",), {}, dns, f"ed._domainkey.{SIGN_DOMAIN}.pem", keys_dir)),
        ("RSA-2048", lambda: _restart(pc, ("127.0.0.1",), {}, dns, f"rsa._domainkey.{SIGN_DOMAIN}.pem", keys_dir)),
    ]
    res = {}
    queries = []
    try:
        for i in range(cfg.runs):
            # Each run starts with another variant: on a journal-less ext4 a
            # run pays for the inodes the run before it freed (BENCHMARKS.md).
            for label, prepare, checks in _rotate(accept, i):
                log(f"accept, {label}: run {i + 1}/{cfg.runs}")
                prepare()
                before = sum(stub.queries.values())
                r = scenarios.accept_deliver(pc, cfg, work)
                _check_header(pc, checks)
                if checks:
                    queries.append(sum(stub.queries.values()) - before)
                log(f"  {r}")
                res.setdefault(("accept", label), []).append(r)
            for label, prepare in _rotate(relay, i):
                log(f"relay, {label}: run {i + 1}/{cfg.runs}")
                prepare()
                r = scenarios.relay(pc, sink, cfg, work, sender=LOCAL_SENDER)
                if r.get("unavailable"):
                    raise RuntimeError("nothing reached the sink")
                log(f"  {r}")
                res.setdefault(("relay", label), []).append(r)
    finally:
        pc.stop()
        stub.stop()
    return report(cfg, res, queries)


def report(cfg, res, queries):
    g = lambda scen, label, key: median([r[key] for r in res.get((scen, label), [])])
    rows = []
    n, c, size = cfg.messages, cfg.sessions, cfg.size

    def pair(text, scen, off, on, key, kind):
        a, b = g(scen, off, key), g(scen, on, key)
        ratio = f"{b / a:.2f}×" if a and b is not None else "—"
        rows.append(f"| {text} | {fmt(a, kind)} | {fmt(b, kind)} | {ratio} |")

    pair(f"accept + local delivery, inbound checks on vs off, msgs/s end to end ({n:,} × {size:,} B, "
         f"{c} sessions)", "accept", "checks off", "checks on", "delivered_per_s", "int")
    pair("accept + local delivery, inbound checks on vs off, CPU s per 1,000 msgs",
         "accept", "checks off", "checks on", "cpu_per_1000", 2)
    for key in ("Ed25519", "RSA-2048"):
        pair(f"relay to smtp-sink, DKIM signing {key} vs no key, msgs/s end to end",
             "relay", "no key", key, "relayed_per_s", "int")
        pair(f"relay to smtp-sink, DKIM signing {key} vs no key, CPU s per 1,000 msgs",
             "relay", "no key", key, "cpu_per_1000", 2)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Portcullis: mail-authentication cost" + (" (--quick: harness check only)" if cfg.quick else ""),
        "",
        f"- date: {now}; Portcullis {cfg.commit} (release build); {os.cpu_count()} CPUs",
        f"- load: smtp-source, {n:,} messages of {size:,} body bytes over {c} concurrent sessions",
        f"- each figure is the median of {cfg.runs} run(s), the variants alternating, each run starting with the next one; load average "
        f"{cfg.load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        f"- DNS queries the stub answered per checks-on run: {', '.join(map(str, queries)) or '—'} "
        "(the server's resolver caches the SPF and DMARC records)",
        "",
        "| scenario | without | with | ratio (with ÷ without) |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]
    return "\n".join(lines)
