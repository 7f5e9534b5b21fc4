# Shared by the interop scripts (run.sh, auth.sh, dovecot.sh); sourced with
# `. "$here/lib.sh"` after the script sets `prog` (the prefix of its
# messages). Finds the binary, owns the temp dir and the processes the script
# starts (and stops only those, by pid), picks free loopback ports, runs the
# NXDOMAIN DNS stub and portcullis serve, and counts checks.

# need_tools TOOL...: exits when one is not on PATH.
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$prog: $tool is missing" >&2; exit 1; }
  done
}

# find_bin: sets `bin` to $PORTCULLIS_BIN, or builds the debug binary.
find_bin() {
  bin="${PORTCULLIS_BIN:-}"
  if [ -z "$bin" ]; then
    timeout 1200 cargo build --quiet --bin portcullis
    local target_dir
    target_dir="$(cargo metadata --format-version 1 --no-deps |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    bin="$target_dir/debug/portcullis"
  fi
  [ -x "$bin" ] || { echo "$prog: no binary at $bin" >&2; exit 1; }
}

server_pid=""
dovecot_pid=""
dns_pid=""

# stop_pid PID: TERM, up to 5 s to exit, then KILL (no-op for an empty PID).
stop_pid() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
  # Stop only the processes this script started, by their pid.
  stop_pid "$dovecot_pid"
  stop_pid "$server_pid"
  if [ -n "$dns_pid" ]; then kill -TERM "$dns_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# make_work TEMPLATE: sets `work` to a new temp dir (mktemp TEMPLATE),
# removed with everything started here when the script exits.
make_work() {
  work="$(mktemp -d "$1")"
  trap cleanup EXIT
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [PID]: waits (at most 10 s) until PORT accepts; fails early
# when PID is given and that process has exited.
wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    if [ -n "${2:-}" ]; then kill -0 "$2" 2>/dev/null || return 1; fi
    sleep 0.1
  done
  return 1
}

# config_args: `--config $work/portcullis.toml` goes before the subcommand
# (cfg_pre) when the top-level help lists it, else after it (cfg_post).
config_args() {
  if grep -q -- '--config' <<<"$("$bin" --help 2>/dev/null)"; then
    cfg_pre=(--config "$work/portcullis.toml")
    cfg_post=()
  else
    cfg_pre=()
    cfg_post=(--config "$work/portcullis.toml")
  fi
}

# base_config SMTP SUBMISSION SUBMISSIONS NAMESERVER: the portcullis.toml
# every script starts from (mx.test serving local.test and localhost, data
# in $work/data, the three listeners on 127.0.0.1 at those ports, relay for
# 127.0.0.1 only); it ends inside [dns], so a script may add dns keys and
# then its own tables.
base_config() {
  cat <<EOF
# Written by tests/interop/$(basename "$0")
hostname = "mx.test"
data_dir = "$work/data"
local_domains = ["local.test", "localhost"]

[listen]
smtp = ["127.0.0.1:$1"]
submission = ["127.0.0.1:$2"]
submissions = ["127.0.0.1:$3"]

[relay]
allow = ["127.0.0.1"]

[dns]
nameservers = ["$4"]
EOF
}

# start_dns_stub: a loopback DNS server answering NXDOMAIN, so nothing
# touches the network; sets dns_pid and dns_port.
start_dns_stub() {
  python3 "$here/dns_nx.py" "$work/dns.port" &
  dns_pid=$!
  for _ in $(seq 50); do [ -s "$work/dns.port" ] && break; sleep 0.1; done
  dns_port="$(cat "$work/dns.port")"
}

# start_server PORT [WRAPPER...]: runs `portcullis serve` (through WRAPPER,
# e.g. `env NO_COLOR=1`) logging to $work/serve.log, sets server_pid and
# waits until PORT accepts; exits with the log when it does not.
start_server() {
  local port="$1"
  shift
  "$@" "$bin" "${cfg_pre[@]}" serve "${cfg_post[@]}" >"$work/serve.log" 2>&1 &
  server_pid=$!
  wait_port "$port" "$server_pid" || {
    echo "$prog: portcullis serve did not start:" >&2
    cat "$work/serve.log" >&2
    exit 1
  }
}

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND, counts, shows its output on failure.
# (`set -e` does not apply inside an `if` condition, so every step of a
# check ends in `|| return 1`.)
check() {
  local name="$1"
  shift
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '%s\n' "$out" | sed 's/^/     | /'
  fi
}

# finish: the server log when a check failed, the summary line, and the
# exit status (non-zero when a check failed).
finish() {
  if [ "$failed" -gt 0 ]; then
    echo "--- server log ---"
    cat "$work/serve.log"
  fi
  echo "$prog: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
