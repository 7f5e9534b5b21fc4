#!/usr/bin/env bash
# Interop with Dovecot (docs/dovecot.md, tested): a private Dovecot (its own
# base_dir and config, on a free loopback port; never the system instance)
# serves IMAP from Portcullis' Maildirs and checks the users' Portcullis
# passwords through the passwd-file `portcullis user` keeps in step
# (dovecot.passwd_file). A message handed to Portcullis with
# `portcullis sendmail` is fetched over IMAP (python3 imaplib) and must be
# byte for byte the file Portcullis wrote.
#
# Run as root (as CI does), Portcullis and Dovecot run as `nobody`: Dovecot
# refuses mail access as root, and that is the production shape anyway (one
# unprivileged user owns the Maildirs). Exit 77 when dovecot is missing.
#
# The user is a bare `alice` (Dovecot strips the domain of the login name,
# %Ln), or with DOVECOT_USER=alice@local.test a user of one domain (Dovecot
# keeps the whole login name, %Lu, as docs/dovecot.md says for such users).
#
# Usage: tests/interop/dovecot.sh            (builds the debug binary)
#        PORTCULLIS_BIN=path tests/interop/dovecot.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
prog=dovecot
. "$here/lib.sh"

if ! command -v dovecot >/dev/null; then
  echo "dovecot: SKIPPED: dovecot is not installed (apt-get install dovecot-imapd)"
  exit 77
fi
need_tools python3 timeout
case "$(dovecot --version)" in
  2.3.*) ;;
  *) echo "dovecot: the recipe is written for Dovecot 2.3, found $(dovecot --version)" >&2; exit 1 ;;
esac

find_bin

# A short path: Dovecot's Unix sockets live under it (108-byte limit).
make_work /tmp/pcdv.XXXXXX

# Who runs the servers: ourselves, or nobody when we are root. `run_as` is
# a command prefix, not a function, so a server started in the background
# is a direct child whose pid cleanup can stop (a backgrounded function
# would run in a subshell, and stopping that would leave the server behind).
if [ "$(id -u)" = 0 ]; then
  run_user=nobody
  run_group="$(id -gn nobody)"
  run_as=(setpriv --reuid="$run_user" --regid="$run_group" --clear-groups --)
  # The build tree may not be readable by nobody: use a copy.
  install -m 0755 "$bin" "$work/portcullis"
  bin="$work/portcullis"
  chmod 0755 "$work"
  chown "$run_user:$run_group" "$work"
else
  run_user="$(id -un)"
  run_group="$(id -gn)"
  run_as=()
fi
as_user() { "${run_as[@]}" "$@"; }

config_args

smtp_port="$(free_port)"
imap_port="$(free_port)"
password='Dove-cot pass:1'
user="${DOVECOT_USER:-alice}"
case "$user" in
  *@*) username_format='%Lu'; home_name='%Lu' ;;
  *) username_format='%Ln'; home_name='%n' ;;
esac
as_user mkdir -p "$work/data" "$work/dovecot/run" "$work/dovecot/lib"

{ base_config "$smtp_port" "$(free_port)" "$(free_port)" "127.0.0.1:9"; cat <<EOF; } >"$work/portcullis.toml"
timeout_ms = 500

[dovecot]
passwd_file = "$work/dovecot/passwd"
EOF
chmod 0644 "$work/portcullis.toml"

pcl() { as_user timeout 60 "$bin" --config "$work/portcullis.toml" "$@"; }

# The user, as the admin adds them: the passwd-file is written alongside.
printf '%s\n' "$password" | pcl user add "$user" --password-stdin
grep -q "^$user:{ARGON2ID}\\\$argon2id\\\$" "$work/dovecot/passwd" || {
  echo "dovecot: no ARGON2ID line for $user in the passwd-file" >&2
  cat "$work/dovecot/passwd" >&2
  exit 1
}

start_server "$smtp_port" "${run_as[@]}"

# Dovecot 2.3, the recipe of docs/dovecot.md with test paths and ports.
cat >"$work/dovecot/dovecot.conf" <<EOF
base_dir = $work/dovecot/run
state_dir = $work/dovecot/lib
log_path = $work/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
protocols = imap
listen = 127.0.0.1
default_internal_user = $run_user
default_internal_group = $run_group
default_login_user = $run_user
first_valid_uid = 1
auth_failure_delay = 0

# %Ln: bare users log in as "alice" or "alice@local.test";
# %Lu: a user of one domain logs in by the address.
auth_username_format = $username_format
passdb {
  driver = passwd-file
  args = $work/dovecot/passwd
}
userdb {
  driver = static
  args = uid=$run_user gid=$run_group home=$work/data/mail/$home_name
}
mail_location = maildir:~

service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
EOF
chmod 0644 "$work/dovecot/dovecot.conf"
"${run_as[@]}" dovecot -F -c "$work/dovecot/dovecot.conf" >"$work/dovecot/stdout.log" 2>&1 &
dovecot_pid=$!
wait_port "$imap_port" || {
  echo "dovecot: Dovecot did not start" >&2
  cat "$work/dovecot/stdout.log" "$work/dovecot/dovecot.log" >&2 2>/dev/null || true
  exit 1
}

# Deliver through Portcullis, as a cron job would.
printf 'Subject: Dovecot interop\nTo: alice@local.test\n\nFirst line.\n.leading dot\n8bit: caf\xc3\xa9\n' |
  timeout 30 "$bin" --config "$work/portcullis.toml" sendmail -oi alice@local.test

stored=""
for _ in $(seq 50); do
  stored="$(find "$work/data/mail/$user/new" -type f 2>/dev/null | head -n 1)"
  [ -n "$stored" ] && break
  sleep 0.1
done
[ -n "$stored" ] || { echo "dovecot: nothing in $user's Maildir" >&2; cat "$work/serve.log" >&2; exit 1; }
cp "$stored" "$work/expected.eml"

status=0
timeout 60 python3 - "$imap_port" "$password" "$work/expected.eml" <<'PY' || status=$?
import imaplib, sys

port, password, expected_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
expected = open(expected_path, "rb").read()

# The wrong password is refused.
imap = imaplib.IMAP4("127.0.0.1", port)
try:
    imap.login("alice", "not-the-password")
    print("FAIL a wrong password was accepted")
    sys.exit(1)
except imaplib.IMAP4.error:
    print("ok   a wrong password is refused")
imap.logout()

imap = imaplib.IMAP4("127.0.0.1", port)
imap.login("alice@local.test", password)
print("ok   IMAP login with the Portcullis password")
typ, data = imap.select("INBOX", readonly=True)
assert typ == "OK" and data[0] == b"1", (typ, data)
typ, data = imap.fetch("1", "(BODY.PEEK[])")
assert typ == "OK", (typ, data)
fetched = data[0][1]
if fetched != expected:
    print("FAIL the fetched message differs from the stored one")
    print("stored: ", repr(expected))
    print("fetched:", repr(fetched))
    sys.exit(1)
print("ok   the fetched message is byte for byte the Maildir file (%d bytes)" % len(fetched))
for part in [b"Subject: Dovecot interop\r\n", b"\r\n\r\nFirst line.\r\n.leading dot\r\n8bit: caf\xc3\xa9\r\n"]:
    assert part in fetched, part
print("ok   headers and body as sent, dot line intact")
imap.logout()
PY

if [ "$status" -ne 0 ]; then
  echo "--- portcullis log ---"; cat "$work/serve.log"
  echo "--- dovecot log ---"; cat "$work/dovecot/dovecot.log" 2>/dev/null || true
  echo "dovecot: 0 passed, 1 failed"
  exit 1
fi
echo "dovecot: 1 passed, 0 failed"
