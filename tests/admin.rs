//! Administration (docs/reference.md §1, §5): config edits through the CLI, live reload
//! through the control socket and SIGHUP, listener rebinding, the relay-list
//! report, and log reopening.

use portcullis_testkit as common;

use std::fs;
use std::net::Ipv4Addr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{describe, free_port, Server, Setup};

const REMOTE: &str = "bob@remote.example";
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 44, 5);

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn pid_of(server: &Server) -> String {
    fs::read_to_string(server.data_dir.join("portcullis.pid"))
        .expect("pid file")
        .trim()
        .to_string()
}

fn sighup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &pid_of(server)])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Waits (bounded) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn config_add_and_reload_opens_relay_for_new_sessions_only() {
    let server = Server::start("[relay]\nallow = [\"127.0.0.1\"]\n");
    // A session opened before the change, mid-transaction.
    let mut before = server.ehlo_from(CLIENT);
    before.expect("MAIL FROM:<a@client.example>", 250);

    let out = server.cli(&["config", "add", "relay.allow", "127.0.44.*"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    let report = stdout(&out);
    assert!(report.contains("reload applied"), "{report}");
    assert!(
        report.contains("relay list: 2 entries added, 0 skipped"),
        "{report}"
    );
    // At info level the report names only entries that need attention;
    // `config check --verbose` shows what each entry compiled to.
    assert!(!report.contains(": added "), "{report}");
    let out = server.cli(&["config", "check", "--verbose"]);
    assert!(out.status.success(), "{}", describe(&out));
    let every = stdout(&out);
    assert!(
        every.contains("\"127.0.44.*\": added 127.0.44.0-127.0.44.255"),
        "{every}"
    );

    // The old session keeps the policy it started with.
    let (code, text) = before.cmd(&format!("RCPT TO:<{REMOTE}>"));
    assert_eq!(code, 554, "{text}");
    // A new session gets the new list.
    let mut after = server.ehlo_from(CLIENT);
    after.expect("MAIL FROM:<a@client.example>", 250);
    after.expect(&format!("RCPT TO:<{REMOTE}>"), 250);
    assert!(
        server.log().contains("relay=allow:\"127.0.44.*\""),
        "{}",
        server.log()
    );
}

#[test]
fn config_edits_refuse_malformed_entries_and_leave_the_file_untouched() {
    let setup = Setup::new("[relay]\n# the LAN\nallow = [\"127.0.0.1\"]\n");
    let before = fs::read(&setup.config_path).unwrap();
    for (entry, needle) in [
        ("10.0.0.300", "300"),
        ("192.168.300.*", "300"),
        ("10.0.0.0/33", "33"),
        ("192.168.43-40.*", "43-40"),
        ("", "empty"),
    ] {
        let out = setup.cli(&["config", "add", "relay.allow", entry]);
        assert_eq!(out.status.code(), Some(2), "{entry}: {}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains(needle), "{entry}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
        assert_eq!(fs::read(&setup.config_path).unwrap(), before, "{entry}");
    }
    let out = setup.cli(&["config", "set", "relay.alow", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean \"relay.allow\""),
        "{}",
        describe(&out)
    );
    assert_eq!(fs::read(&setup.config_path).unwrap(), before);
}

#[test]
fn config_edits_keep_comments_and_round_trip() {
    let setup = Setup::new("[relay]\n# the LAN\nallow = [\"127.0.0.1\"]  # loopback\n");
    let add = setup.cli(&[
        "config",
        "add",
        "relay.allow",
        "192.168.40-43.*",
        "!192.168.41.7",
    ]);
    assert!(add.status.success(), "{}", describe(&add));
    let text = fs::read_to_string(&setup.config_path).unwrap();
    assert!(text.contains("# the LAN"), "{text}");
    assert!(
        text.contains("# Written by the Portcullis test harness."),
        "{text}"
    );
    let read = setup.cli(&["config", "read", "relay.allow"]);
    assert_eq!(
        stdout(&read).trim(),
        "relay.allow: 127.0.0.1 192.168.40-43.* !192.168.41.7"
    );
    let remove = setup.cli(&["config", "remove", "relay.allow", "!192.168.41.7"]);
    assert!(remove.status.success(), "{}", describe(&remove));
    let set = setup.cli(&["config", "set", "relay.local_only", "true"]);
    assert!(set.status.success(), "{}", describe(&set));
    let read = setup.cli(&["config", "read", "relay.local_only"]);
    assert_eq!(stdout(&read).trim(), "relay.local_only: true");
    let unset = setup.cli(&["config", "unset", "relay.local_only"]);
    assert!(unset.status.success(), "{}", describe(&unset));
    let read = setup.cli(&["config", "read", "relay.local_only"]);
    assert_eq!(stdout(&read).trim(), "relay.local_only: false");
    let text = fs::read_to_string(&setup.config_path).unwrap();
    assert!(text.contains("# the LAN"), "{text}");
    // No temporary file is left next to the config.
    let leftovers: Vec<_> = fs::read_dir(setup.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn reload_with_a_broken_file_keeps_the_old_configuration() {
    let server = Server::start("[relay]\nallow = [\"127.0.0.1\", \"127.0.44.*\"]\n");
    let good = fs::read_to_string(&server.config_path).unwrap();
    fs::write(
        &server.config_path,
        format!("{good}\nthis is = = not toml\n"),
    )
    .unwrap();
    let out = server.cli(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("reload rejected"),
        "{}",
        describe(&out)
    );
    // Still relaying under the old list.
    let mut c = server.ehlo_from(CLIENT);
    c.expect("MAIL FROM:<a@client.example>", 250);
    c.expect(&format!("RCPT TO:<{REMOTE}>"), 250);
    // A SIGHUP with the broken file is logged, and changes nothing either.
    sighup(&server);
    wait_for("the rejected reload in the log", || {
        server.log().matches("reload rejected").count() >= 2
    });
    let mut c = server.ehlo_from(CLIENT);
    c.expect("MAIL FROM:<a@client.example>", 250);
    c.expect(&format!("RCPT TO:<{REMOTE}>"), 250);
}

#[test]
fn reload_rebinds_changed_listeners_without_touching_the_others() {
    let server = Server::start("");
    let extra = free_port("127.0.0.1".parse().unwrap());
    let first = format!("127.0.0.1:{}", server.smtp_port);
    let second = format!("127.0.0.1:{extra}");
    // A session on the first listener stays open across both reloads.
    let mut kept = server.client();
    let out = server.cli(&["config", "set", "listen.smtp", &first, &second]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut c = common::client::Client::connect_from(Ipv4Addr::LOCALHOST, extra);
    assert_eq!(c.read_reply().0, 220);
    let out = server.cli(&["config", "set", "listen.smtp", &second]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        std::net::TcpStream::connect(&first).is_err(),
        "the removed listener still accepts"
    );
    kept.expect("EHLO still.here", 250);
    kept.expect("NOOP", 250);
}

#[test]
fn reload_under_load_drops_no_session_and_loses_no_message() {
    let server = Server::with_users("[relay]\nallow = [\"127.0.0.1\"]\n", &[("alice", "pw")]);
    const SESSIONS: usize = 50;
    let mut clients: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let src = Ipv4Addr::new(127, 0, 44, 10 + i as u8);
            let mut c = server.ehlo_from(src);
            c.expect("MAIL FROM:<sender@client.example>", 250);
            c.expect("RCPT TO:<alice@local.test>", 250);
            // Remote recipients are refused under the list in force at connect.
            let (code, _) = c.cmd(&format!("RCPT TO:<{REMOTE}>"));
            assert_eq!(code, 554);
            c.expect("DATA", 354);
            c.send(format!("Subject: {i}\r\n\r\nfirst half\r\n").as_bytes());
            c
        })
        .collect();
    let out = server.cli(&["config", "add", "relay.allow", "127.0.44.*"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    for c in clients.iter_mut() {
        c.send(b"second half\r\n.\r\n");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let (code, text) = c.read_reply();
        assert_eq!(code, 250, "session {i}: {text}");
        c.expect("QUIT", 221);
    }
    let delivered = server.wait_maildir("alice", SESSIONS);
    assert_eq!(delivered.len(), SESSIONS);
    let mut fresh = server.ehlo_from(CLIENT);
    fresh.expect("MAIL FROM:<a@client.example>", 250);
    fresh.expect(&format!("RCPT TO:<{REMOTE}>"), 250);
}

/// Every notation of docs/reference.md §4, two malformed entries and a name.
const EVERY_NOTATION: &str =
    "[relay]\nallow = [\"127.0.0.1\", \"192.168.123.55\", \"192.168.40.*\", \"192.168.40-43.0-255\", \
     \"192.168.40-43.*\", \"10.0.0.0/8\", \"2001:db8::/32\", \"::1\", \"!192.168.99.*\", \
     \"192.168.300.*\", \"10.0.0.1/8\", \"nxdomain.test\"]\n";

#[test]
fn every_notation_gets_a_report_line_at_load_at_debug_level() {
    // The per-entry report is logged at debug level (target `relay_list`).
    let server = Server::start(&format!(
        "{EVERY_NOTATION}\n[log]\nlevel = \"info,relay_list=debug\"\n"
    ));
    let log = server.log();
    for needle in [
        "\"192.168.123.55\": added 192.168.123.55",
        "\"192.168.40.*\": added 192.168.40.0-192.168.40.255",
        "\"192.168.40-43.0-255\": added 192.168.40.0-192.168.43.255",
        "\"10.0.0.0/8\": added 10.0.0.0-10.255.255.255",
        "\"2001:db8::/32\"",
        "\"!192.168.99.*\"",
        "skipped: relay entry \"192.168.300.*\": octet 300 is over 255",
        "skipped: relay entry \"10.0.0.1/8\"",
        "\"nxdomain.test\"",
        "entries added, 2 skipped",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
}

#[test]
fn at_info_level_the_load_logs_the_skipped_and_warned_entries_and_the_summary() {
    let server = Server::start(EVERY_NOTATION);
    let log = server.log();
    for needle in [
        "skipped: relay entry \"192.168.300.*\": octet 300 is over 255",
        "skipped: relay entry \"10.0.0.1/8\"",
        // Everything 192.168.40-43.* matches is matched first by the entry before it.
        "relay list warning: relay.allow[4] \"192.168.40-43.*\" can never decide anything",
        "relay list: 10 entries added, 2 skipped",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    // A million-entry list is not a million lines at info level.
    assert!(!log.contains(": added "), "{log}");
}

#[test]
fn sighup_reopens_the_log_file() {
    let setup = Setup::new("[log]\nfile = \"portcullis.log\"\n");
    let log_path = setup.dir().join("portcullis.log");
    let server = setup.start();
    wait_for("the log file", || log_path.exists());
    let rotated = server.dir().join("portcullis.log.1");
    fs::rename(&log_path, &rotated).unwrap();
    sighup(&server);
    wait_for("a new log file", || log_path.exists());
    let mut c = server.client();
    c.expect("QUIT", 221);
    wait_for("the session in the new log", || {
        fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("connect")
    });
    assert!(fs::read_to_string(&rotated)
        .unwrap()
        .contains("portcullis ready"));
}

#[test]
fn admin_commands_without_a_server_say_so() {
    let setup = Setup::new("");
    for cmd in ["reload", "status"] {
        let out = setup.cli(&[cmd]);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", describe(&out));
        assert!(
            stderr(&out).contains("no running server"),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn status_reports_listeners_sessions_and_counters() {
    let server = Server::start("");
    let _idle = server.client();
    let out = server.cli(&["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for needle in [
        "uptime:",
        "listen.smtp:",
        "sessions: 1",
        "relay denials: 0",
        "queue: 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}
