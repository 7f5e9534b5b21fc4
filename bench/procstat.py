"""Process figures read from /proc: CPU time of a whole process tree, and
resident memory (RSS, PSS, private) of one process or a tree.

Only the kernel's own accounting is used, so both servers are measured the
same way whatever their architecture (one multi-threaded process for
Portcullis; a master and many short-lived children for Postfix).
"""

import os
import threading

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, starttime, own+reaped-children CPU ticks, comm) or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces or ')'.
    lpar, rpar = data.index("("), data.rindex(")")
    comm = data[lpar + 1 : rpar]
    fields = data[rpar + 2 :].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    starttime = int(fields[19])
    return ppid, starttime, utime + stime + cutime + cstime, comm


def _all_stats():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def tree_pids(root):
    """root and all its descendants that are alive now."""
    stats = _all_stats()
    if root not in stats:
        return []
    kids = {}
    for pid, (ppid, _, _, _) in stats.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_snapshot(root):
    """{(pid, starttime): ticks} over the tree, ticks = utime+stime+cutime+cstime.

    CPU spent between two snapshots is sum(after) - sum(before): a process
    alive in both contributes its growth; one born and reaped in between is
    found in its parent's cutime/cstime; one alive before and reaped in
    between appears in its parent's cutime with its whole life, and its
    earlier share is subtracted through the first snapshot. (pid, starttime)
    keys keep a reused pid from being mistaken for the old process.
    """
    stats = _all_stats()
    snap = {}
    for pid in tree_pids(root):
        st = stats.get(pid) or _stat(pid)
        if st is not None:
            snap[(pid, st[1])] = st[2]
    return snap


def cpu_seconds(before, after):
    """CPU seconds the tree used between two snapshots."""
    return (sum(after.values()) - sum(before.values())) / CLK_TCK


def status_kib(pid, key):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM), or 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rollup_kib(pid):
    """{Rss, Pss, Private} in KiB from /proc/PID/smaps_rollup ({} if gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        return {}
    out["Private"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def comm(pid):
    st = _stat(pid)
    return st[3] if st else ""


def tree_memory_kib(root):
    """{"rss": sum of RSS, "pss": sum of PSS, "procs": count} over the tree."""
    rss = pss = n = 0
    for pid in tree_pids(root):
        r = rollup_kib(pid)
        if r:
            rss += r.get("Rss", 0)
            pss += r.get("Pss", 0)
            n += 1
    return {"rss": rss, "pss": pss, "procs": n}


def tree_private_kib(root):
    """Private (clean + dirty) memory summed over the tree, in KiB."""
    return sum(rollup_kib(pid).get("Private", 0) for pid in tree_pids(root))


class PeakSampler:
    """Samples a tree's summed PSS every `interval` seconds in a thread; keeps the peak."""

    def __init__(self, root_fn, interval=0.5):
        self._root_fn = root_fn
        self._interval = interval
        self._stop = threading.Event()
        self.peak_pss_kib = 0
        self.peak_rss_kib = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            root = self._root_fn()
            if root:
                m = tree_memory_kib(root)
                self.peak_pss_kib = max(self.peak_pss_kib, m["pss"])
                self.peak_rss_kib = max(self.peak_rss_kib, m["rss"])
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
