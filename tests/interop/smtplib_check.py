#!/usr/bin/env python3
"""Interop checks with Python's smtplib against a running Portcullis.

Usage: smtplib_check.py CHECK --port PORT --data-dir DIR
CHECK is one of:
  deliver   sendmail() to alice@local.test; the Maildir file must be
            Return-Path + Received + exactly the bytes sent (dot-unstuffed)
  refuse    sendmail() from 127.0.0.2 to a remote domain must raise
            SMTPRecipientsRefused with 554 (relay access denied)
  starttls  STARTTLS (self-signed certificate, not verified), then
            sendmail() to alice; Received must say "with ESMTPS" (RFC 3848)
  many      sendmail() to 160 recipients alice+N@local.test: those over
            limits.recipients (100) are refused with 452 4.5.3, the rest
            delivered; a second sendmail() to the refused ones succeeds
            (RFC 5321 section 4.5.3.1.10)
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


def fail(why):
    print("smtplib_check: " + why, file=sys.stderr)
    sys.exit(1)


def new_messages(data_dir, user):
    return sorted(glob.glob(os.path.join(data_dir, "mail", user, "new", "*")))


def wait_new_message(data_dir, user, before):
    """Waits (at most 5 s) for a file in new/ that was not in `before`."""
    deadline = time.time() + 5
    while time.time() < deadline:
        fresh = [p for p in new_messages(data_dir, user) if p not in before]
        if fresh:
            with open(fresh[0], "rb") as f:
                return f.read()
        time.sleep(0.05)
    fail("no new message for %s within 5 s" % user)


def split_delivered(stored):
    """Returns (return_path_line, received_unfolded, rest)."""
    first_end = stored.find(b"\r\n")
    if first_end < 0:
        fail("delivered message has no CRLF: %r" % stored[:200])
    return_path = stored[:first_end]
    pos = first_end + 2
    if not stored[pos:].startswith(b"Received: "):
        fail("second header is not Received: %r" % stored[:300])
    start = pos
    while True:
        end = stored.find(b"\r\n", pos)
        if end < 0:
            fail("unterminated Received header: %r" % stored[:300])
        pos = end + 2
        # RFC 5322 section 2.2.3: folded lines start with white space.
        if stored[pos:pos + 1] not in (b" ", b"\t"):
            break
    received = stored[start:pos].replace(b"\r\n", b"")
    return return_path, received, stored[pos:]


BODY = (
    b"From: Carol <carol@example.org>\r\n"
    b"To: alice@local.test\r\n"
    b"Subject: smtplib interop\r\n"
    b"\r\n"
    b"Hello Alice,\r\n"
    b".a line that smtplib must dot-stuff\r\n"
    b"..and one with two dots\r\n"
    b".\r\n"
    b"trailing spaces   \r\n"
    b"\tindented\r\n"
    b"end\r\n"
)


def deliver_and_check(args, smtp, protocol):
    before = new_messages(args.data_dir, "alice")
    refused = smtp.sendmail("carol@example.org", ["alice@local.test"], BODY)
    if refused:
        fail("recipients refused: %r" % refused)
    smtp.quit()
    stored = wait_new_message(args.data_dir, "alice", before)
    return_path, received, rest = split_delivered(stored)
    if return_path != b"Return-Path: <carol@example.org>":
        fail("Return-Path line is %r" % return_path)
    marker = b"with " + protocol.encode()
    idx = received.find(marker)
    if idx < 0 or received[idx + len(marker):idx + len(marker) + 1] not in (b" ", b";", b""):
        fail("Received does not say %r: %r" % (marker, received))
    if rest != BODY:
        fail("stored body differs:\nstored: %r\nsent:   %r" % (rest, BODY))


def check_deliver(args):
    with smtplib.SMTP(HOST, args.port, local_hostname="client.test", timeout=10) as smtp:
        smtp.ehlo()
        if not smtp.has_extn("pipelining"):
            fail("EHLO does not advertise PIPELINING")
        deliver_and_check(args, smtp, "ESMTP")


def check_refuse(args):
    with smtplib.SMTP(HOST, args.port, local_hostname="client.test", timeout=10,
                      source_address=("127.0.0.2", 0)) as smtp:
        try:
            smtp.sendmail("carol@example.org", ["someone@example.org"], BODY)
        except smtplib.SMTPRecipientsRefused as e:
            code, msg = e.recipients.get("someone@example.org", (0, b""))
            if code != 554 or not msg.startswith(b"5.7.1"):
                fail("refused, but with %r %r (want 554 5.7.1)" % (code, msg))
            return
        fail("relay to someone@example.org from 127.0.0.2 was accepted")


def check_starttls(args):
    ctx = ssl.create_default_context()
    # The server's certificate is self-signed in its data dir (SPEC section 1).
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(HOST, args.port, local_hostname="client.test", timeout=10) as smtp:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            fail("EHLO does not advertise STARTTLS")
        code, msg = smtp.starttls(context=ctx)
        if code != 220:
            fail("STARTTLS answered %r %r" % (code, msg))
        smtp.ehlo()
        deliver_and_check(args, smtp, "ESMTPS")


def check_many(args):
    rcpts = ["alice+%d@local.test" % n for n in range(160)]
    before = new_messages(args.data_dir, "alice")
    with smtplib.SMTP(HOST, args.port, local_hostname="client.test", timeout=10) as smtp:
        refused = smtp.sendmail("carol@example.org", rcpts, BODY)
        if sorted(refused) != sorted(rcpts[100:]):
            fail("refused %d recipients, want the last 60: %r" % (len(refused), refused))
        for code, msg in refused.values():
            if code != 452 or not msg.startswith(b"4.5.3"):
                fail("refused with %r %r (want 452 4.5.3)" % (code, msg))
        again = smtp.sendmail("carol@example.org", sorted(refused), BODY)
        if again:
            fail("the second transaction refused %r" % again)
    wait_new_message(args.data_dir, "alice", before)
    deadline = time.time() + 5
    while time.time() < deadline:
        fresh = [p for p in new_messages(args.data_dir, "alice") if p not in before]
        if len(fresh) == 2:
            return
        time.sleep(0.05)
    fail("alice got %d messages, want 2" % len(fresh))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=["deliver", "refuse", "starttls", "many"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    try:
        {"deliver": check_deliver, "refuse": check_refuse, "starttls": check_starttls,
         "many": check_many}[args.check](args)
    except (smtplib.SMTPException, OSError) as e:
        fail("%s: %s: %s" % (args.check, type(e).__name__, e))


if __name__ == "__main__":
    main()
