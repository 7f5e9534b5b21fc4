//! Edits that say what they did (issue 12): every `config` and `user` edit
//! prints one line naming the change and what it takes for a running server
//! to apply it; `--reload` applies it at once; an edit the server would
//! refuse at load is refused now, with the same sentence.

use portcullis_testkit as common;

use std::fs;
use std::net::Ipv4Addr;
use std::process::Output;

use common::{describe, Setup};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(setup: &Setup, args: &[&str]) -> String {
    let out = setup.cli(args);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    stdout(&out)
}

#[test]
fn every_edit_says_what_changed_and_what_applies_it() {
    let setup = Setup::new("");
    assert_eq!(
        ok(&setup, &["config", "set", "relay.local_only", "true"]).trim(),
        "relay.local_only: false -> true; the server is not running: it applies at the next start"
    );
    let server = setup.start();
    assert_eq!(
        ok(&server, &["config", "add", "relay.allow", "127.0.44.*"]).trim(),
        "relay.allow: 127.0.0.1 -> 127.0.0.1 127.0.44.*; run `portcullis reload` to apply it to the running server"
    );
    assert_eq!(
        ok(&server, &["config", "set", "log.level", "debug"]).trim(),
        "log.level: info -> debug; the running server needs a restart to apply it"
    );
    assert_eq!(
        ok(&server, &["config", "unset", "hostname"])
            .trim()
            .lines()
            .count(),
        1
    );
    assert_eq!(
        ok(&server, &["config", "set", "relay.authenticated", "true"]).trim(),
        "relay.authenticated: unchanged (true)"
    );
    // --reload applies everything pending and prints the reload report.
    let text = ok(
        &server,
        &["config", "set", "relay.local_only", "false", "--reload"],
    );
    for needle in [
        "relay.local_only: true -> false",
        "changed: hostname relay.local_only relay.allow",
        "needs a restart: log.level",
        "reload applied",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let mut c = server.ehlo_from(Ipv4Addr::new(127, 0, 44, 5));
    c.expect("MAIL FROM:<a@client.example>", 250);
    c.expect("RCPT TO:<bob@remote.example>", 250);
}

#[test]
fn user_edits_say_what_they_stored_and_refuse_short_passwords() {
    let setup = Setup::new("");
    let out = setup.cli_stdin(
        &["user", "add", "Bob", "--password-stdin"],
        Some("long-enough-1\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        stdout(&out).trim(),
        "added user bob (stored as \"bob\": user names are lower-case); a running server uses it at once, no reload needed"
    );
    let out = setup.cli_stdin(
        &["user", "add", "carol", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(
        stderr(&out).trim(),
        "portcullis: the password has 5 characters; use at least 8 (or --weak to accept a shorter one)"
    );
    assert_eq!(ok(&setup, &["user", "list"]), "bob\n");
    let out = setup.cli_stdin(
        &["user", "add", "carol", "--password-stdin", "--weak"],
        Some("short\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = setup.cli_stdin(
        &["user", "password", "carol", "--password-stdin"],
        Some("tiny\n"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = setup.cli_stdin(
        &["user", "password", "Carol", "--password-stdin"],
        Some("a-longer-one\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).starts_with("changed the password of carol; "),
        "{}",
        describe(&out)
    );
    let out = setup.cli(&["user", "remove", "carol"]);
    assert!(
        stdout(&out).starts_with("removed user carol (the Maildir is kept); "),
        "{}",
        describe(&out)
    );
}

#[test]
fn edits_the_server_would_refuse_are_refused_with_its_sentence() {
    let setup = Setup::new("");
    let before = fs::read(&setup.config_path).unwrap();
    let text = String::from_utf8(before.clone()).unwrap();
    let allow = "allow = [\"127.0.0.1\"]";
    // Each edit, and the same change made by hand, which `config check`
    // (the server's own validation) refuses: the two sentences are one.
    for (args, by_hand, words) in [
        (
            &["config", "add", "relay.allow", "0.0.0.0/0"][..],
            text.replace(allow, "allow = [\"127.0.0.1\", \"0.0.0.0/0\"]"),
            "relay.allow makes an open relay",
        ),
        (
            &["config", "set", "relay.restricted", "false"],
            text.replace(allow, &format!("{allow}\nrestricted = false")),
            "relay.restricted = false makes an open relay; refusing without --allow-open-relay",
        ),
        (
            &["config", "set", "tls.cert", "missing.pem"],
            format!("{text}\n[tls]\ncert = \"missing.pem\"\n"),
            "cannot read tls.cert",
        ),
    ] {
        fs::write(&setup.config_path, &by_hand).unwrap();
        let check = setup.cli(&["config", "check"]);
        assert_eq!(
            check.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&check)
        );
        let sentence = stderr(&check).trim().to_string();
        assert!(sentence.contains(words), "{args:?}: {sentence}");
        fs::write(&setup.config_path, &before).unwrap();

        let out = setup.cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert_eq!(stderr(&out).trim(), sentence, "{args:?}");
        assert_eq!(fs::read(&setup.config_path).unwrap(), before, "{args:?}");
    }
    // Said on purpose, it is written, with the warning.
    let out = setup.cli(&[
        "config",
        "add",
        "relay.allow",
        "0.0.0.0/0",
        "--allow-open-relay",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("warning: OPEN RELAY"),
        "{}",
        describe(&out)
    );
}

#[test]
fn durations_take_units_and_read_changed_lists_only_what_differs() {
    let setup = Setup::new("[limits]\nrecipients = 100\n");
    assert_eq!(
        ok(&setup, &["config", "set", "queue.lifetime", "2d"]).trim(),
        "queue.lifetime: 432000 -> 172800; the server is not running: it applies at the next start"
    );
    ok(&setup, &["config", "set", "limits.command_timeout", "90s"]);
    ok(&setup, &["config", "set", "auth.ban_seconds", "1h"]);
    let text = fs::read_to_string(&setup.config_path).unwrap();
    assert!(text.contains("lifetime = \"2d\""), "{text}");
    let out = setup.cli(&["config", "set", "queue.retry_min", "5 minutes"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("invalid queue.retry_min \"5 minutes\""),
        "{}",
        describe(&out)
    );

    let changed = ok(&setup, &["config", "read", "--changed"]);
    let keys: Vec<&str> = changed
        .lines()
        .filter_map(|l| l.split(':').next())
        .collect();
    let dns = format!("dns.nameservers: {}", setup.dns.addr);
    for needle in [
        "hostname: mx.test",
        "local_domains: local.test localhost",
        "relay.allow: 127.0.0.1",
        "queue.lifetime: 172800",
        "limits.command_timeout: 90",
        "auth.ban_seconds: 3600",
        dns.as_str(),
    ] {
        assert!(
            changed.contains(needle),
            "missing {needle:?} in:\n{changed}"
        );
    }
    // Set in the file, but to the default: not a change.
    assert!(!keys.contains(&"limits.recipients"), "{changed}");
    assert!(!keys.contains(&"relay.restricted"), "{changed}");
}
