#!/usr/bin/env bash
# Interop: real SMTP clients (swaks, msmtp, Python smtplib) against the real
# portcullis binary. Starts one server in a temp dir on free loopback ports,
# with a local user alice, a relay list of 127.0.0.1 only and a loopback DNS
# stub that answers NXDOMAIN (so nothing touches the network); runs every
# check, prints one summary line and exits non-zero if any check failed.
#
# Usage: tests/interop/run.sh            (builds the debug binary)
#        PORTCULLIS_BIN=path tests/interop/run.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

for tool in swaks python3 timeout; do
  command -v "$tool" >/dev/null || { echo "interop: $tool is missing" >&2; exit 1; }
done

bin="${PORTCULLIS_BIN:-}"
if [ -z "$bin" ]; then
  timeout 1200 cargo build --quiet --bin portcullis
  target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  bin="$target_dir/debug/portcullis"
fi
[ -x "$bin" ] || { echo "interop: no binary at $bin" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-interop.XXXXXX")"
server_pid=""
dns_pid=""
cleanup() {
  # Stop only the processes this script started, by their pid.
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$dns_pid" ]; then kill -TERM "$dns_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `--config FILE` goes before the subcommand when the top-level help lists it.
if "$bin" --help 2>/dev/null | grep -q -- '--config'; then
  cfg_pre=(--config "$work/portcullis.toml")
  cfg_post=()
else
  cfg_pre=()
  cfg_post=(--config "$work/portcullis.toml")
fi

python3 "$here/dns_nx.py" "$work/dns.port" &
dns_pid=$!
for _ in $(seq 50); do [ -s "$work/dns.port" ] && break; sleep 0.1; done
dns_port="$(cat "$work/dns.port")"

smtp_port="$(free_port)"
cat >"$work/portcullis.toml" <<EOF
# Written by tests/interop/run.sh
hostname = "mx.test"
data_dir = "$work/data"
local_domains = ["local.test", "localhost"]

[listen]
smtp = ["127.0.0.1:$smtp_port"]
submission = ["127.0.0.1:$(free_port)"]
submissions = ["127.0.0.1:$(free_port)"]

[dns]
nameservers = ["127.0.0.1:$dns_port"]

[relay]
allow = ["127.0.0.1"]
EOF
mkdir -p "$work/data"

printf 'interop-secret-1\n' |
  timeout 30 "$bin" "${cfg_pre[@]}" user add alice --password-stdin "${cfg_post[@]}"

"$bin" "${cfg_pre[@]}" serve "${cfg_post[@]}" >"$work/serve.log" 2>&1 &
server_pid=$!
ready=0
for _ in $(seq 100); do
  if python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', $smtp_port), 0.2)" 2>/dev/null; then
    ready=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "interop: portcullis serve did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi

passed=0
failed=0
# check NAME COMMAND...: runs COMMAND (bounded), counts, shows output on failure.
# (`set -e` does not apply inside an `if` condition, so every step below
# ends in `|| return 1`.)
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

# Waits (at most 5 s) until USER's Maildir new/ holds at least N files.
maildir_has() {
  local user="$1" n="$2"
  for _ in $(seq 50); do
    local count
    count="$(find "$work/data/mail/$user/new" -type f 2>/dev/null | wc -l)"
    [ "$count" -ge "$n" ] && return 0
    sleep 0.1
  done
  echo "Maildir of $user has fewer than $n messages"
  return 1
}

swaks_postmaster() {
  timeout 30 swaks --server "127.0.0.1:$smtp_port" --helo client.test \
    --from sender@example.org --to postmaster@localhost \
    --header "Subject: swaks to postmaster" || return 1
  maildir_has postmaster 1
}

swaks_relay_denied() {
  local out rc=0
  out="$(timeout 30 swaks --server "127.0.0.1:$smtp_port" --local-interface 127.0.0.2 \
    --helo client.test --from sender@example.org --to someone@example.org 2>&1)" || rc=$?
  printf '%s\n' "$out"
  [ "$rc" -ne 0 ] || { echo "swaks exited 0: the relay was accepted"; return 1; }
  printf '%s\n' "$out" | grep -q '<\*\* *554 5\.7\.1'
}

swaks_pipelining() {
  timeout 30 swaks --server "127.0.0.1:$smtp_port" --helo client.test --pipeline \
    --from sender@example.org --to alice@local.test --header "Subject: swaks pipelined" || return 1
  maildir_has alice 1
}

swaks_starttls() {
  local before
  before="$(find "$work/data/mail/alice/new" -type f 2>/dev/null | wc -l)"
  timeout 30 swaks --server "127.0.0.1:$smtp_port" --helo client.test --tls \
    --from sender@example.org --to alice@local.test --header "Subject: swaks over TLS" || return 1
  maildir_has alice $((before + 1))
}

msmtp_deliver() {
  local before
  before="$(find "$work/data/mail/alice/new" -type f 2>/dev/null | wc -l)"
  printf 'Subject: msmtp interop\r\n\r\n.dot line\r\nbody\r\n' |
    timeout 30 msmtp --host=127.0.0.1 --port="$smtp_port" --auth=off --tls=off \
      --domain=client.test --from=sender@example.org alice@local.test || return 1
  maildir_has alice $((before + 1)) || return 1
  # The message carries the dot line unstuffed.
  grep -rq '^\.dot line' "$work/data/mail/alice/new" || { echo "no unstuffed .dot line stored"; return 1; }
}

smtplib() {
  timeout 30 python3 "$here/smtplib_check.py" "$1" --port "$smtp_port" --data-dir "$work/data"
}

check "swaks delivers to postmaster@localhost" swaks_postmaster
check "swaks from 127.0.0.2 to a remote domain gets 554 5.7.1" swaks_relay_denied
check "swaks --pipeline delivers to alice" swaks_pipelining
check "swaks --tls (STARTTLS) delivers to alice" swaks_starttls
check "msmtp delivers to alice" msmtp_deliver
check "smtplib sendmail() is stored byte for byte" smtplib deliver
check "smtplib relay refusal raises SMTPRecipientsRefused 554" smtplib refuse
check "smtplib STARTTLS delivery says ESMTPS" smtplib starttls

if [ "$failed" -gt 0 ]; then
  echo "--- server log ---"
  cat "$work/serve.log"
fi
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
