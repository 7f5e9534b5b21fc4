#!/usr/bin/env bash
# AUTH and TLS interop: real clients against the real portcullis binary.
# swaks (CRAM-MD5 in clear, PLAIN and LOGIN after STARTTLS, implicit TLS
# with --tlsc, a wrong password, PLAIN refused before TLS, the brute-force
# throttle), Python's smtplib (starttls() + login(), SMTP_SSL, 538, 535) and
# msmtp, whose GNU SASL speaks SCRAM-SHA-256 (STARTTLS and implicit TLS).
# Starts one server in a temp dir on free loopback ports with user alice, a
# relay list of 127.0.0.1 only (so mail to outside addresses from the other
# 127.x sources below needs AUTH) and a loopback DNS stub that answers
# NXDOMAIN; prints one summary line and exits non-zero if a check failed.
#
# Needs: swaks with Net::SSLeay (Debian: libnet-ssleay-perl), msmtp,
# python3, timeout.
# Usage: tests/interop/auth.sh            (builds the debug binary)
#        PORTCULLIS_BIN=path tests/interop/auth.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
prog=interop-auth
. "$here/lib.sh"

need_tools swaks msmtp python3 timeout
perl -MNet::SSLeay -e 1 2>/dev/null ||
  { echo "interop-auth: swaks needs Net::SSLeay for TLS (Debian: libnet-ssleay-perl)" >&2; exit 1; }

find_bin
make_work "${TMPDIR:-/tmp}/portcullis-interop-auth.XXXXXX"
config_args
start_dns_stub

smtp_port="$(free_port)"
sub_port="$(free_port)"
subs_port="$(free_port)"
password='interop-Auth-Secret-7'
{ base_config "$smtp_port" "$sub_port" "$subs_port" "127.0.0.1:$dns_port"; cat <<EOF; } >"$work/portcullis.toml"

[auth]
# Small numbers so the throttle check is quick: delayed from the third
# failure, banned at the fourth.
delay_after = 2
delay_seconds = 1
ban_after = 4
ban_seconds = 300
EOF
mkdir -p "$work/data"

printf '%s\n' "$password" |
  timeout 30 "$bin" "${cfg_pre[@]}" user add alice --password-stdin "${cfg_post[@]}"

start_server "$sub_port" env NO_COLOR=1

# swaks from 127.0.55.5 (not in relay.allow) to an outside address.
swaks_out() {
  timeout 30 swaks --server "127.0.0.1:$1" --local-interface 127.0.55.5 --helo client.test \
    --from alice@local.test --to someone@example.org --header "Subject: swaks auth" "${@:2}"
}

swaks_cram_md5_clear() {
  local out
  out="$(swaks_out "$sub_port" --auth CRAM-MD5 --auth-user alice --auth-password "$password" 2>&1)" ||
    { printf '%s\n' "$out"; return 1; }
  grep -q '^ *-> AUTH CRAM-MD5' <<<"$out" || { printf '%s\n' "$out"; return 1; }
  grep -q '<- *235 2\.7\.0' <<<"$out" || { printf '%s\n' "$out"; return 1; }
}

swaks_tls_plain() {
  local out
  out="$(swaks_out "$sub_port" --tls --auth PLAIN --auth-user alice --auth-password "$password" 2>&1)" ||
    { printf '%s\n' "$out"; return 1; }
  grep -q '~> AUTH PLAIN' <<<"$out" || { printf '%s\n' "$out"; return 1; }
}

swaks_tls_login() {
  local out
  out="$(swaks_out "$sub_port" --tls --auth LOGIN --auth-user alice --auth-password "$password" 2>&1)" ||
    { printf '%s\n' "$out"; return 1; }
  grep -q '~> AUTH LOGIN' <<<"$out" || { printf '%s\n' "$out"; return 1; }
}

swaks_tlsc_login() {
  local out
  out="$(swaks_out "$subs_port" --tlsc --auth LOGIN --auth-user alice --auth-password "$password" 2>&1)" ||
    { printf '%s\n' "$out"; return 1; }
  # The greeting itself came under TLS.
  grep -q '<~ *220 ' <<<"$out" || { printf '%s\n' "$out"; return 1; }
}

swaks_plain_refused_in_clear() {
  local out rc=0
  out="$(swaks_out "$sub_port" --auth PLAIN --auth-user alice --auth-password "$password" 2>&1)" || rc=$?
  printf '%s\n' "$out"
  [ "$rc" -ne 0 ] || { echo "swaks exited 0: PLAIN was accepted without TLS"; return 1; }
  # PLAIN is not even offered before TLS, so swaks never sends the password.
  if grep -q 'AUTH PLAIN' <<<"$out"; then
    echo "AUTH PLAIN was sent in clear"
    return 1
  fi
  grep -q '250 AUTH SCRAM-SHA-256 CRAM-MD5$' <<<"$out"
}

swaks_wrong_password() {
  local out rc=0
  out="$(timeout 30 swaks --server "127.0.0.1:$sub_port" --helo client.test --from alice@local.test \
    --to someone@example.org --auth CRAM-MD5 --auth-user alice --auth-password wrong 2>&1)" || rc=$?
  printf '%s\n' "$out"
  [ "$rc" -ne 0 ] || return 1
  grep -q '535 5\.7\.8' <<<"$out"
}

# Four wrong logins from 127.0.66.6, one connection each, as a name no
# earlier check used (failures count per name too): the third reply is
# delayed, the fourth is followed by 421, and the next connection hears 421
# instead of a greeting. A neighbour is still served.
swaks_throttle() {
  local out i start elapsed
  for i in 1 2 3 4; do
    start="$(date +%s%N)"
    out="$(timeout 60 swaks --server "127.0.0.1:$sub_port" --local-interface 127.0.66.6 \
      --helo client.test --from a@local.test --to alice@local.test \
      --auth CRAM-MD5 --auth-user mallory --auth-password "wrong-$i" 2>&1)" && return 1
    elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'attempt %s took %s ms\n' "$i" "$elapsed"
    grep -q '535 5\.7\.8' <<<"$out" || { printf '%s\n' "$out"; return 1; }
    if [ "$i" -eq 3 ] && [ "$elapsed" -lt 1000 ]; then echo "the third failure was not delayed"; return 1; fi
  done
  grep -q '421 4\.7\.0 Too many authentication failures' <<<"$out" ||
    { printf '%s\n' "$out"; return 1; }
  out="$(timeout 30 swaks --server "127.0.0.1:$sub_port" --local-interface 127.0.66.6 \
    --helo client.test --from a@local.test --to alice@local.test 2>&1)" && return 1
  grep -q '<\*\* *421 4\.7\.0 Too many authentication failures' <<<"$out" ||
    { printf '%s\n' "$out"; return 1; }
  timeout 30 swaks --server "127.0.0.1:$sub_port" --local-interface 127.0.66.7 --helo client.test \
    --from alice@local.test --to someone@example.org \
    --auth CRAM-MD5 --auth-user alice --auth-password "$password" >/dev/null || return 1
  local status
  status="$(timeout 30 "$bin" "${cfg_pre[@]}" status "${cfg_post[@]}")" || return 1
  grep -q '^auth ban: 127\.0\.66\.6 until ' <<<"$status" || { printf '%s\n' "$status"; return 1; }
  grep -q 'AUTH ban' "$work/serve.log" || { echo "no ban in the log"; return 1; }
}

smtplib_auth() {
  timeout 60 python3 "$here/smtplib_auth.py" "$1" --submission "$sub_port" \
    --submissions "$subs_port" --data-dir "$work/data" --password "$password"
}

# msmtp -v prints the dialog: the exchange must really be SCRAM-SHA-256.
msmtp_scram() {
  local out
  out="$(printf 'Subject: msmtp scram\r\n\r\nbody\r\n' |
    timeout 30 msmtp -v --host=127.0.0.1 --port="$1" --tls=on --tls-starttls="$2" \
      --tls-certcheck=off --auth=scram-sha-256 --user=alice --passwordeval="printf %s '$password'" \
      --domain=client.test --from=alice@local.test someone@example.org 2>&1)" ||
    { printf '%s\n' "$out"; return 1; }
  grep -q -- '--> AUTH SCRAM-SHA-256' <<<"$out" || { printf '%s\n' "$out"; return 1; }
  grep -q -- '<-- 235 2\.7\.0' <<<"$out" || { printf '%s\n' "$out"; return 1; }
}

check "swaks --auth CRAM-MD5 without TLS relays for alice" swaks_cram_md5_clear
check "swaks --tls --auth PLAIN relays for alice" swaks_tls_plain
check "swaks --tls --auth LOGIN relays for alice" swaks_tls_login
check "swaks --tlsc --auth LOGIN on submissions relays for alice" swaks_tlsc_login
check "swaks --auth PLAIN without TLS never sends the password" swaks_plain_refused_in_clear
check "swaks with a wrong password gets 535 5.7.8" swaks_wrong_password
check "smtplib starttls() + login(), PLAIN, LOGIN; relay and ESMTPSA" smtplib_auth starttls-login
check "smtplib SMTP_SSL login() on submissions" smtplib_auth implicit-tls
check "smtplib AUTH PLAIN before TLS gets 538 5.7.11" smtplib_auth plain-needs-tls
check "smtplib wrong password gets 535 5.7.8" smtplib_auth wrong-password
check "msmtp SCRAM-SHA-256 after STARTTLS" msmtp_scram "$sub_port" on
check "msmtp SCRAM-SHA-256 on implicit TLS" msmtp_scram "$subs_port" off
check "swaks: repeated failures are delayed, then 421 and a ban" swaks_throttle

finish
