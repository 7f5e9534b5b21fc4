#!/usr/bin/env python3
"""AUTH interop checks with Python's smtplib against a running Portcullis.

Usage: smtplib_auth.py CHECK --submission PORT --submissions PORT --data-dir DIR --password PW
CHECK is one of:
  starttls-login  submission: starttls(), login() (smtplib picks CRAM-MD5),
                  then PLAIN and LOGIN explicitly in fresh sessions; from
                  127.0.55.5 (not in relay.allow) a message to an outside
                  address is accepted, one to alice is stored "with ESMTPSA"
  implicit-tls    SMTP_SSL on the submissions port, login(), sendmail()
  plain-needs-tls AUTH PLAIN without TLS and without an initial response
                  gets 538 5.7.11 before any password is sent
  wrong-password  a wrong password gets 535 5.7.8
Exit status 0 when the check passes; otherwise 1 with the reason on stderr.
"""

import argparse
import glob
import os
import smtplib
import ssl
import sys
import time

HOST = "127.0.0.1"
OUTSIDE = ("127.0.55.5", 0)


def fail(why):
    print("smtplib_auth: " + why, file=sys.stderr)
    sys.exit(1)


def context():
    ctx = ssl.create_default_context()
    # The server's certificate is self-signed in its data dir (SPEC section 1).
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def new_messages(data_dir, user):
    return sorted(glob.glob(os.path.join(data_dir, "mail", user, "new", "*")))


def wait_new_message(data_dir, user, before):
    deadline = time.time() + 5
    while time.time() < deadline:
        fresh = [p for p in new_messages(data_dir, user) if p not in before]
        if fresh:
            with open(fresh[0], "rb") as f:
                return f.read()
        time.sleep(0.05)
    fail("no new message for %s within 5 s" % user)


def received(stored):
    start = stored.find(b"Received: ")
    if start < 0:
        fail("no Received header: %r" % stored[:300])
    end = stored.find(b"\r\n", start)
    while stored[end + 2:end + 3] in (b" ", b"\t"):
        end = stored.find(b"\r\n", end + 2)
    return stored[start:end].replace(b"\r\n", b"")


def submission(args):
    smtp = smtplib.SMTP(HOST, args.submission, local_hostname="client.test",
                        timeout=10, source_address=OUTSIDE)
    smtp.ehlo()
    if "plain" in smtp.esmtp_features.get("auth", "").lower().split():
        fail("PLAIN offered before TLS: %r" % smtp.esmtp_features.get("auth"))
    code, msg = smtp.starttls(context=context())
    if code != 220:
        fail("STARTTLS answered %r %r" % (code, msg))
    smtp.ehlo()
    return smtp


def check_starttls_login(args):
    smtp = submission(args)
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    if offered != ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]:
        fail("after STARTTLS AUTH offers %r" % offered)
    code, msg = smtp.login("alice", args.password)
    if code != 235:
        fail("login() answered %r %r" % (code, msg))
    refused = smtp.sendmail("alice@local.test", ["someone@example.org"],
                            b"Subject: smtplib relay\r\n\r\nout\r\n")
    if refused:
        fail("relay after AUTH refused: %r" % refused)
    before = new_messages(args.data_dir, "alice")
    smtp.sendmail("alice@local.test", ["alice@local.test"],
                  b"Subject: smtplib auth\r\n\r\nhi\r\n")
    smtp.quit()
    trace = received(wait_new_message(args.data_dir, "alice", before))
    if b" with ESMTPSA " not in trace:
        fail("Received does not say ESMTPSA: %r" % trace)
    for mechanism in ("PLAIN", "LOGIN"):
        smtp = submission(args)
        smtp.user, smtp.password = "alice", args.password
        method = {"PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login}[mechanism]
        code, msg = smtp.auth(mechanism, method)
        if code != 235:
            fail("AUTH %s answered %r %r" % (mechanism, code, msg))
        smtp.quit()


def check_implicit_tls(args):
    with smtplib.SMTP_SSL(HOST, args.submissions, local_hostname="client.test",
                          timeout=10, context=context(), source_address=OUTSIDE) as smtp:
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            fail("STARTTLS offered under implicit TLS")
        smtp.login("alice", args.password)
        refused = smtp.sendmail("alice@local.test", ["someone@example.org"],
                                b"Subject: smtplib 465\r\n\r\nout\r\n")
        if refused:
            fail("refused: %r" % refused)


def check_plain_needs_tls(args):
    with smtplib.SMTP(HOST, args.submission, local_hostname="client.test", timeout=10) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "alice", args.password
        try:
            # No initial response: the password would follow a 334.
            smtp.auth("PLAIN", smtp.auth_plain, initial_response_ok=False)
        except smtplib.SMTPAuthenticationError as e:
            if e.smtp_code != 538 or not e.smtp_error.startswith(b"5.7.11"):
                fail("refused with %r %r (want 538 5.7.11)" % (e.smtp_code, e.smtp_error))
            return
        fail("AUTH PLAIN accepted without TLS")


def check_wrong_password(args):
    with smtplib.SMTP(HOST, args.submission, local_hostname="client.test", timeout=10) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "alice", "not-" + args.password
        try:
            smtp.auth("CRAM-MD5", smtp.auth_cram_md5)
        except smtplib.SMTPAuthenticationError as e:
            if e.smtp_code != 535 or not e.smtp_error.startswith(b"5.7.8"):
                fail("refused with %r %r (want 535 5.7.8)" % (e.smtp_code, e.smtp_error))
            return
        fail("a wrong password was accepted")


CHECKS = {
    "starttls-login": check_starttls_login,
    "implicit-tls": check_implicit_tls,
    "plain-needs-tls": check_plain_needs_tls,
    "wrong-password": check_wrong_password,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--submission", type=int, required=True)
    parser.add_argument("--submissions", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    try:
        CHECKS[args.check](args)
    except (smtplib.SMTPException, OSError) as e:
        fail("%s: %s: %s" % (args.check, type(e).__name__, e))


if __name__ == "__main__":
    main()
