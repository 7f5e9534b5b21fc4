#!/usr/bin/env bash
# Crash-safety test (issue 7): runs a load of local and relayed mail against
# a real `portcullis serve` (smtplib clients, and a pipelining client that
# sends MAIL, up to 150 RCPTs, BDAT LAST and the body in one write), kill -9's the server at random moments KILLS
# times (default 50), restarts it each time, kills and restarts the sink
# (the relay's next hop) at random moments in about a third of the rounds,
# so that relayed mail is deferred and its queue state rewritten, then lets
# the queue drain and checks that
#   - every message that got a 250 exists exactly once: in a Maildir (local
#     recipients) or at the sink / still in the queue (relayed ones; the
#     sink may see a relayed message twice if a crash of either fell between
#     the sink's store and the queue update: SMTP is at-least-once, that is
#     reported apart);
#   - no message is in Maildir new/ half-written (its bytes end with exactly
#     what the client sent), acknowledged or not;
#   - no local message is there twice;
#   - no temporary file is left (Maildir tmp/, queue/tmp/).
# Prints `crash-test: N kills, M acknowledged, M found, 0 lost, 0 duplicated`
# and exits non-zero on any loss, duplicate, half-written or leftover file.
#
# usage: scripts/crash-test.sh [KILLS]
#   env: BIN (default: target/debug/portcullis, built if missing),
#        SEED (random seed), KEEP=1 (keep the work directory), CLIENTS (3
#        smtplib clients, plus one pipelining client).
# Bounded: every round lasts at most a few seconds, the whole run is
# stopped after 20 minutes. Traffic stays on 127.0.0.1.
set -euo pipefail

kills="${1:-50}"
cd "$(dirname "$0")/.."
bin="${BIN:-target/debug/portcullis}"
if [ ! -x "$bin" ]; then
    cargo build --quiet --bin portcullis
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
work="$(mktemp -d /tmp/portcullis-crash-XXXXXX)"
cleanup() {
    if [ -f "$work/server.pid" ]; then
        kill -9 "$(cat "$work/server.pid")" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

timeout 1200 python3 - "$kills" "$bin" "$work" "${SEED:-$RANDOM}" "${CLIENTS:-3}" <<'PY'
import base64, glob, hashlib, os, random, re, signal, smtplib, socket, subprocess, sys, threading, time

kills, binary, work, seed, clients = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
data = os.path.join(work, "data")
os.makedirs(data, mode=0o700)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

smtp, sub, subs, sink_port, dns_port = (free_port() for _ in range(5))
config = os.path.join(work, "portcullis.toml")
with open(config, "w") as f:
    f.write(f'''hostname = "mx.test"
data_dir = "{data}"
local_domains = ["local.test"]

[listen]
smtp = ["127.0.0.1:{smtp}"]
submission = ["127.0.0.1:{sub}"]
submissions = ["127.0.0.1:{subs}"]

[relay]
allow = ["127.0.0.1"]

[dns]
nameservers = ["127.0.0.1:{dns_port}"]
timeout_ms = 200

[queue]
retry_min = 1
retry_max = 2

[log]
file = "{work}/serve.log"

[routes]
"remote.test" = "127.0.0.1:{sink_port}"
''')

# --- The sink: the next hop for remote.test. It records a message's ids
# (fsynced) before it answers 250, as a real MTA would store it first.
sink_log = open(os.path.join(work, "sink.log"), "a")
sink_lock = threading.Lock()

def sink_session(conn):
    conn.settimeout(30)
    f = conn.makefile("rb")
    def send(line):
        conn.sendall(line.encode() + b"\r\n")
    try:
        send("220 sink ESMTP")
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                send("250 sink")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                send("250 ok")
            elif verb == b"DATA":
                send("354 go")
                body = []
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                    body.append(l)
                if not l:
                    return
                text = b"".join(body)
                ids = re.findall(rb"X-Crash-Id: (\S+)", text)
                with sink_lock:
                    for i in ids:
                        sink_log.write(i.decode() + "\n")
                    sink_log.flush()
                    os.fsync(sink_log.fileno())
                send("250 stored")
            elif verb == b"QUIT":
                send("221 bye")
                return
            else:
                send("502 no")
    except OSError:
        pass
    finally:
        conn.close()

class SinkProcess:
    """The sink's listener and sessions, killed and restarted between and
    during rounds like a next hop that crashes: its listener and every
    session close at once (a message it stored may get no 250, and is
    then sent again)."""
    def __init__(self):
        self.lock = threading.Lock()
        self.srv = None
        self.conns = set()
        self.kills = 0

    def start(self):
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", sink_port))
        srv.listen(64)
        with self.lock:
            self.srv = srv
        threading.Thread(target=self.accept_loop, args=(srv,), daemon=True).start()

    def accept_loop(self, srv):
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with self.lock:
                if self.srv is not srv:
                    conn.close()
                    return
                self.conns.add(conn)
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            sink_session(conn)
        finally:
            with self.lock:
                self.conns.discard(conn)

    def kill(self):
        with self.lock:
            srv, self.srv = self.srv, None
            conns, self.conns = self.conns, set()
        if srv is None:
            return
        self.kills += 1
        for sock in [srv, *conns]:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept/read
            except OSError:
                pass
            sock.close()

    def toggle(self):
        if self.srv is None:
            self.start()
        else:
            self.kill()

sink = SinkProcess()
sink.start()

# --- The server.
server = None
def start_server():
    global server
    log = open(os.path.join(work, "serve.stderr"), "a")
    server = subprocess.Popen([binary, "--config", config, "serve"], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, cwd=work)
    with open(os.path.join(work, "server.pid"), "w") as p:
        p.write(str(server.pid))
    deadline = time.time() + 15
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"crash-test: the server exited with {server.returncode} at start; see {work}/serve.stderr")
        try:
            socket.create_connection(("127.0.0.1", smtp), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("crash-test: the server does not accept connections after 15 s")

# --- The load: every message has a unique id; the client records it as
# attempted before sending and as acknowledged only once it read the 250.
attempted = {}   # id -> (kind, sha256 of the exact bytes sent)
acked = {}       # id -> kind
state_lock = threading.Lock()
counter = [0]

def message(mid):
    lines = [f"X-Crash-Id: {mid}", f"Subject: crash test {mid}", f"Message-ID: <{mid}@client.test>", ""]
    size = rng.choice([200, 2000, 20000, 150000])
    blob = base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()
    lines += [blob[i:i + 76] for i in range(0, size, 76)]
    return ("\r\n".join(lines) + "\r\n").encode()

def client(stop, round_no, n):
    while not stop.is_set():
        with state_lock:
            counter[0] += 1
            mid = f"r{round_no}c{n}m{counter[0]}"
        kind = "local" if rng.random() < 0.6 else "remote"
        rcpt = "postmaster@local.test" if kind == "local" else f"user{counter[0] % 7}@remote.test"
        msg = message(mid)
        with state_lock:
            attempted[mid] = (kind, hashlib.sha256(msg).hexdigest(), len(msg))
        try:
            s = smtplib.SMTP("127.0.0.1", smtp, timeout=5)
            s.sendmail("sender@client.test", [rcpt], msg)
            with state_lock:
                acked[mid] = kind
            try:
                s.quit()
            except Exception:
                pass
        except Exception:
            time.sleep(0.02)

def read_replies(sock, n):
    """The codes of the next n replies (multi-line replies count once)."""
    f = sock.makefile("rb")
    codes = []
    while len(codes) < n:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        if line[3:4] != b"-":
            codes.append(int(line[:3]))
    return codes

def pipelined_client(stop, round_no, n):
    """MAIL, 3 remote and up to 147 local RCPTs (those past
    limits.recipients get 452), BDAT LAST and the body in one write: one
    message for postmaster (the local addresses share a Maildir) and one
    relayed to the sink."""
    while not stop.is_set():
        with state_lock:
            counter[0] += 1
            mid = f"r{round_no}p{n}m{counter[0]}"
        rcpts = [f"user{i}@remote.test" for i in range(3)]
        rcpts += [f"postmaster+{i}@local.test" for i in range(rng.randint(1, 147))]
        msg = message(mid)
        with state_lock:
            attempted[mid] = ("mixed", hashlib.sha256(msg).hexdigest(), len(msg))
        try:
            s = socket.create_connection(("127.0.0.1", smtp), timeout=5)
            read_replies(s, 1)
            s.sendall(b"EHLO pipeliner.test\r\n")
            read_replies(s, 1)
            wire = b"MAIL FROM:<sender@client.test>\r\n"
            wire += b"".join(f"RCPT TO:<{r}>\r\n".encode() for r in rcpts)
            wire += f"BDAT {len(msg)} LAST\r\n".encode() + msg
            s.sendall(wire)
            codes = read_replies(s, len(rcpts) + 2)
            if codes[-1] == 250:
                with state_lock:
                    acked[mid] = "mixed"
            s.sendall(b"QUIT\r\n")
            s.close()
        except Exception:
            time.sleep(0.02)

for k in range(kills):
    start_server()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(stop, k, n)) for n in range(clients)]
    threads.append(threading.Thread(target=pipelined_client, args=(stop, k, 0)))
    for t in threads:
        t.start()
    # In about one round in three the sink is killed, or restarted, at a
    # random moment: relayed mail is deferred, its state rewritten, retried.
    toggle = threading.Timer(rng.uniform(0.0, 1.5), sink.toggle) if rng.random() < 0.35 else None
    if toggle:
        toggle.start()
    time.sleep(rng.uniform(0.05, 1.5))
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    if toggle:
        toggle.join()

if sink.srv is None:
    sink.start()

# --- Final run: recovery, then the queue drains to the sink.
start_server()
deadline = time.time() + 120
queue_dir = os.path.join(data, "queue")
def queue_files():
    # One file per message (`<id>.mail`); `<id>.msg` is the older format.
    return glob.glob(os.path.join(queue_dir, "*.mail")) + glob.glob(os.path.join(queue_dir, "*.msg"))
while time.time() < deadline and queue_files():
    time.sleep(0.2)
time.sleep(0.5)
server.send_signal(signal.SIGTERM)
try:
    server.wait(timeout=40)
except subprocess.TimeoutExpired:
    server.kill()
    server.wait()
os.remove(os.path.join(work, "server.pid"))

# --- Checks.
sink_counts = {}
with open(os.path.join(work, "sink.log")) as f:
    for line in f:
        sink_counts[line.strip()] = sink_counts.get(line.strip(), 0) + 1
queued = {}
for path in queue_files():
    with open(path, "rb") as f:
        for i in re.findall(rb"X-Crash-Id: (\S+)", f.read()):
            queued[i.decode()] = queued.get(i.decode(), 0) + 1

maildir = os.path.join(data, "mail", "postmaster")
local_counts, half_written = {}, []
for path in glob.glob(os.path.join(maildir, "new", "*")) + glob.glob(os.path.join(maildir, "cur", "*")):
    with open(path, "rb") as f:
        content = f.read()
    ids = re.findall(rb"X-Crash-Id: (\S+)", content)
    if len(ids) != 1 or ids[0].decode() not in attempted:
        half_written.append(path)
        continue
    mid = ids[0].decode()
    local_counts[mid] = local_counts.get(mid, 0) + 1
    _, digest, size = attempted[mid]
    # The server adds Return-Path and Received in front; the rest must be
    # exactly the bytes the client sent.
    if hashlib.sha256(content[-size:]).hexdigest() != digest:
        half_written.append(path)

leftovers = [p for d in (os.path.join(maildir, "tmp"), os.path.join(queue_dir, "tmp"))
             for p in glob.glob(os.path.join(d, "*"))]

lost, duplicated, found, redelivered = [], [], 0, 0
for mid, kind in sorted(acked.items()):
    if kind in ("local", "mixed"):
        n = local_counts.get(mid, 0)
        if n == 0:
            lost.append(mid)
        elif n > 1:
            duplicated.append(mid)
        else:
            found += 1
    if kind == "mixed":
        # Its relayed copy: at the sink or still queued.
        if sink_counts.get(mid, 0) + queued.get(mid, 0) == 0:
            lost.append(mid + " (relayed copy)")
    elif kind == "remote":
        n = sink_counts.get(mid, 0) + queued.get(mid, 0)
        if n == 0:
            lost.append(mid)
        else:
            found += 1
            redelivered += n - 1
# A local message must never be there twice, acknowledged or not.
duplicated += [m for m, n in local_counts.items() if n > 1 and m not in acked]
unacked_delivered = sum(1 for m in local_counts if m not in acked) + \
    sum(1 for m in sink_counts if m in attempted and m not in acked)

local_acked = sum(1 for k in acked.values() if k == "local")
mixed_acked = sum(1 for k in acked.values() if k == "mixed")
print(f"crash-test: {kills} kills, {len(acked)} acknowledged, {found} found, "
      f"{len(lost)} lost, {len(duplicated)} duplicated")
print(f"crash-test: {len(attempted)} attempted; acknowledged {local_acked} local, "
      f"{mixed_acked} pipelined local+relayed, "
      f"{len(acked) - local_acked - mixed_acked} relayed ({len(queued)} still queued, {redelivered} relayed twice "
      f"after a crash of the server or the sink between the sink's store and the queue update; "
      f"the sink killed {sink.kills} times); "
      f"{unacked_delivered} delivered without a 250 (crash before it reached the client), "
      f"{len(half_written)} half-written, {len(leftovers)} temporary files left (seed {seed})")
for what, items in (("lost", lost), ("duplicated", duplicated), ("half-written", half_written),
                    ("left over", leftovers)):
    for item in items[:10]:
        print(f"  {what}: {item}")
sys.exit(1 if lost or duplicated or half_written or leftovers else 0)
PY
