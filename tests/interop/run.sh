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
prog=interop
. "$here/lib.sh"

need_tools swaks python3 timeout
find_bin
make_work "${TMPDIR:-/tmp}/portcullis-interop.XXXXXX"
config_args
start_dns_stub

smtp_port="$(free_port)"
base_config "$smtp_port" "$(free_port)" "$(free_port)" "127.0.0.1:$dns_port" >"$work/portcullis.toml"
mkdir -p "$work/data"

printf 'interop-secret-1\n' |
  timeout 30 "$bin" "${cfg_pre[@]}" user add alice --password-stdin "${cfg_post[@]}"

start_server "$smtp_port"

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
  grep -q '<\*\* *554 5\.7\.1' <<<"$out"
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
check "smtplib sendmail() to 160 recipients: 452 past 100, the rest in a second transaction" smtplib many

finish
