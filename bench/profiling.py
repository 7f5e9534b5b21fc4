"""`--profile`: one extra run of a scenario on each server under `perf
record`, to say where its time goes.

Every process of the server's tree is recorded (`perf record -p` on each
pid alive at the start; children forked later inherit the recording), so a
server made of many processes (Postfix, OpenSMTPD, Exim, chasquid with
maildrop) is seen whole, and the load generator, the sink and anything else
on the machine are not. Portcullis is built with debug info, so its profile
has DWARF call graphs; the peers are Debian's stripped binaries, so theirs is
flat: time by process name and library, then by symbol (kernel symbols and
the libraries' exported ones; a stripped binary's own code shows as one
entry per binary).

Files: bench/profile/<results>-<server>-<scenario>-{by-process,flat,cumulative}.txt
"""

import shutil
import signal
import subprocess
import time
from pathlib import Path

import procstat


def log(msg):
    print(msg, flush=True)


def profile(cfg, server, work, label, run):
    """Runs `run` once more with `server`'s whole process tree under perf."""
    perf = shutil.which("perf")
    if not perf:
        log("profile: perf not installed (apt-get install linux-perf); skipped")
        return
    out_dir = Path(cfg.out).parent / "profile"
    try:
        out_dir.mkdir(exist_ok=True)
    except OSError as e:
        log(f"profile: cannot create {out_dir}: {e}; skipped")
        return
    root = server.root()
    if root is None:
        log(f"profile: {server.name} is not running; skipped")
        return
    pids = procstat.tree_pids(root)
    name = server.name.lower()
    data = work / f"perf-{name}-{label}.data"
    # DWARF unwinding for Portcullis only: its release build has debug info
    # (profile.release debug = 1) but no frame pointers; the peers have neither.
    graph = ["-g", "--call-graph", "dwarf,16384"] if name == "portcullis" else []
    log(f"profile: perf record on {server.name} ({len(pids)} processes) during one more {label} run")
    rec = subprocess.Popen([perf, "record", "-F", "999", *graph, "-o", str(data),
                            "-p", ",".join(map(str, pids))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        log(f"  under perf: {run()}")
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait()
    reports = [("by-process", ["--no-children", "--sort", "comm,dso"]),
               ("flat", ["--no-children", "--sort", "comm,dso,symbol"])]
    if graph:
        reports.append(("cumulative", ["--children", "--sort", "symbol"]))
    stem = f"{Path(cfg.out).stem}-{name}-{label}"
    for kind, args in reports:
        with open(out_dir / f"{stem}-{kind}.txt", "w") as f:
            subprocess.run([perf, "report", "-i", str(data), "--stdio", "--percent-limit", "0.5",
                            "-g", "none", *args], stdout=f, stderr=subprocess.DEVNULL)
    log(f"profile written to {out_dir}/{stem}-*.txt")
