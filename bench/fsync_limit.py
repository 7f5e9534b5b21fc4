"""The file system's limit for the durable step every accepted message
takes: create a file, write the message, fdatasync it, rename it into
place, fsync the directory. N writers do it at once, as N sessions do, for
a few seconds each, in two ways: each writer fsyncs the directory itself,
or one directory fsync covers every rename made before it began (group
commit, as Portcullis does). The best rate is the ceiling no server can
pass on this disk with this durability; the accept rows are read against it."""

import os
import shutil
import threading
import time


def measure(work, writers=(1, 10, 50), seconds=3.0, size=2048):
    """{(writers, shared): operations per second} in scratch directories
    under work; shared: one directory fsync covers concurrent renames.
    The files are removed only at the end: on an ext4 without a journal,
    every inode freed in the last minutes slows each creation down, so a
    removal between measurements would slow the next one (the servers'
    accept runs do not remove their Maildir files either)."""
    bases = []
    try:
        return {(n, shared): _rate(work, n, shared, seconds, size, bases)
                for n in writers for shared in (False, True)}
    finally:
        for base in bases:
            shutil.rmtree(base, ignore_errors=True)


def best(rates):
    """The highest rate measured: the file system's limit."""
    return max(rates.values())


class GroupSync:
    """Directory fsyncs shared by writers: a writer whose rename is done
    waits for a sync that began after it; the first to find none running
    starts one, and it covers everyone who renamed before it began."""

    def __init__(self, path):
        self.path = path
        self.cond = threading.Condition()
        self.started = 0    # syncs begun
        self.finished = 0   # syncs completed
        self.running = False

    def sync_after_rename(self):
        with self.cond:
            need = self.started + 1   # a sync that begins from now on
            while self.finished < need:
                if not self.running:
                    self.running = True
                    self.started += 1
                    mine = self.started
                    self.cond.release()
                    try:
                        _fsync_dir(self.path)
                    finally:
                        self.cond.acquire()
                    self.running = False
                    self.finished = mine
                    self.cond.notify_all()
                else:
                    self.cond.wait()


def _fsync_dir(path):
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _rate(work, n, shared, seconds, size, bases):
    base = work / f"fsync-limit-{n}-{int(shared)}"
    shutil.rmtree(base, ignore_errors=True)
    bases.append(base)
    (base / "tmp").mkdir(parents=True)
    (base / "new").mkdir()
    new_dir = str(base / "new")
    group = GroupSync(new_dir)
    payload = os.urandom(size)
    counts = [0] * n
    stop = time.monotonic() + seconds

    def writer(i):
        k = 0
        while time.monotonic() < stop:
            tmp = str(base / "tmp" / f"{i}.{k}")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            try:
                os.write(fd, payload)
                os.fdatasync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(new_dir, f"{i}.{k}"))
            if shared:
                group.sync_after_rename()
            else:
                _fsync_dir(new_dir)
            k += 1
        counts[i] = k

    started = time.monotonic()
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(counts) / elapsed


if __name__ == "__main__":
    import pathlib
    import sys

    work = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp")
    for (n, shared), rate in measure(work).items():
        way = "one directory fsync per batch" if shared else "a directory fsync each"
        print(f"{n:3d} writers, {way}: {rate:8.0f} ops/s")
