//! One validation path (issue 12): `config check`, `serve --check`, `serve`
//! and `reload` refuse exactly the same files with the same sentence, and
//! `config check` and `reload` show every warning and a summary line.

use portcullis_testkit as common;

use std::fs;
use std::process::Output;
use std::time::Duration;

use common::{describe, Server, Setup};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The harness's file with one change, and the words the refusal must hold.
fn bad_variants(base: &str) -> Vec<(&'static str, String, &'static str)> {
    let relay = "allow = [\"127.0.0.1\"]";
    assert!(base.contains(relay), "{base}");
    vec![
        (
            "missing tls.cert file",
            format!("{base}\n[tls]\ncert = \"missing.pem\"\n"),
            "cannot read tls.cert",
        ),
        (
            "empty directive in log.level",
            format!("{base}\n[log]\nlevel = \"debug,,=x\"\n"),
            "invalid log.level \"debug,,=x\"",
        ),
        (
            "unknown log level",
            format!("{base}\n[log]\nlevel = \"verbose\"\n"),
            "\"verbose\" is not a log level",
        ),
        (
            "log.file in a missing directory",
            format!("{base}\n[log]\nfile = \"no/such/dir/portcullis.log\"\n"),
            "cannot open log.file",
        ),
        (
            "relay.restricted = false",
            base.replace(relay, &format!("{relay}\nrestricted = false")),
            "relay.restricted = false makes an open relay",
        ),
        (
            "allow list covering everything",
            base.replace(relay, "allow = [\"0.0.0.0/0\"]"),
            "relay.allow makes an open relay",
        ),
    ]
}

/// The one sentence after `portcullis: ` on stderr.
fn sentence(out: &Output) -> String {
    let err = stderr(out);
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "one sentence: {}", describe(out));
    line.strip_prefix("portcullis: ")
        .unwrap_or_else(|| panic!("no sentence: {}", describe(out)))
        .to_string()
}

/// `text` with its `data_dir` line pointing at a fresh directory beside the server's.
fn on_other_data_dir(text: &str, server: &Server) -> String {
    let other = server.dir().join("other-data");
    text.lines()
        .map(|line| {
            if line.starts_with("data_dir") {
                format!("data_dir = {:?}", other.display().to_string())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn check_serve_and_reload_refuse_the_same_files_with_the_same_sentence() {
    let server = Server::start("");
    let base = fs::read_to_string(&server.config_path).unwrap();
    for (what, text, needle) in bad_variants(&base) {
        fs::write(&server.config_path, &text).unwrap();
        let check = server.cli(&["config", "check"]);
        assert_eq!(check.status.code(), Some(2), "{what}: {}", describe(&check));
        let said = sentence(&check);
        assert!(said.contains(needle), "{what}: {said}");

        let serve_check = server.cli(&["serve", "--check"]);
        assert_eq!(
            serve_check.status.code(),
            Some(2),
            "{what}: {}",
            describe(&serve_check)
        );
        assert_eq!(sentence(&serve_check), said, "{what}");

        // `serve` of the same file refuses it before binding anything. It
        // gets a data directory of its own: the running server holds this
        // one's lock, which a second serve would meet first.
        let other = server.dir().join("other.toml");
        fs::write(&other, on_other_data_dir(&text, &server)).unwrap();
        let (status, log) = server.serve_file_expecting_exit(&other, &[], Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{what}: {log}");
        // The same sentence, naming the file it read.
        let said_there = said.replace(
            &server.config_path.display().to_string(),
            &other.display().to_string(),
        );
        assert!(
            log.contains(&format!("portcullis: {said_there}")),
            "{what}: {log}"
        );

        let reload = server.cli(&["reload"]);
        assert_eq!(
            reload.status.code(),
            Some(1),
            "{what}: {}",
            describe(&reload)
        );
        assert_eq!(
            sentence(&reload),
            format!("reload rejected, the previous configuration stays in force: {said}"),
            "{what}"
        );
    }
    // Nothing was written by the checks: no log file, no certificate for a
    // refused file, and the server still runs on the old configuration.
    fs::write(&server.config_path, &base).unwrap();
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!server.dir().join("no").exists());
}

#[test]
fn check_prints_the_skipped_and_warned_entries_and_verbose_every_entry() {
    // 10.1.2.3 lies in 10.0.0.0/8 before it: a shadowed entry, warned about.
    let setup = Setup::new(
        "[relay]\nallow = [\"127.0.0.1\", \"10.0.0.0/8\", \"10.1.2.3\", \"10.0.0.300\"]\n",
    );
    let plain = setup.cli(&["config", "check"]);
    assert!(plain.status.success(), "{}", describe(&plain));
    let plain = stdout(&plain);
    let problems = [
        "relay.allow[3] skipped: relay entry \"10.0.0.300\": octet 300 is over 255",
        "relay list warning: relay.allow[2] \"10.1.2.3\" can never decide anything: everything it matches is matched first by relay.allow[1] \"10.0.0.0/8\"",
        "relay list: 3 entries added, 1 skipped",
        "configuration OK with 1 entry skipped and 1 warning",
    ];
    assert_eq!(plain.lines().collect::<Vec<_>>(), problems, "{plain}");

    // --verbose: a line per entry in list order, then the same warnings and summary.
    let verbose = setup.cli(&["config", "check", "--verbose"]);
    assert!(verbose.status.success(), "{}", describe(&verbose));
    let verbose = stdout(&verbose);
    let every = [
        "relay.allow[0] \"127.0.0.1\": added 127.0.0.1",
        "relay.allow[1] \"10.0.0.0/8\": added 10.0.0.0-10.255.255.255",
        "relay.allow[2] \"10.1.2.3\": added 10.1.2.3",
        problems[0],
        problems[1],
        problems[2],
        problems[3],
    ];
    assert_eq!(verbose.lines().collect::<Vec<_>>(), every, "{verbose}");
}

#[test]
fn check_and_reload_print_every_warning_and_a_summary() {
    let setup = Setup::new("[relay]\nallow = [\"127.0.0.0/8\", \"10.0.0.300\"]\n")
        .with_listen_options("proxy_from = [\"127.0.0.9\"]");
    let out = setup.cli(&["config", "check"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for needle in [
        "relay.allow[1] skipped: relay entry \"10.0.0.300\"",
        "relay list: 1 entry added, 1 skipped",
        "warning: relay.allow entry \"127.0.0.0/8\" covers the load balancer 127.0.0.9",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(
        text.trim().lines().last(),
        Some("configuration OK with 1 entry skipped and 1 warning"),
        "{text}"
    );
    let strict = setup.cli(&["config", "check", "--strict"]);
    assert_eq!(strict.status.code(), Some(2), "{}", describe(&strict));
    assert!(
        stderr(&strict).contains("--strict"),
        "{}",
        describe(&strict)
    );

    let clean = Setup::new("");
    let out = clean.cli(&["config", "check", "--strict"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out).trim().lines().last(), Some("configuration OK"));

    // reload shows the same warnings, what changed, what needs a restart,
    // and the listeners it bound.
    let server = setup.start();
    let extra = common::free_port("127.0.0.1".parse().unwrap());
    let smtp = format!("127.0.0.1:{}", server.smtp_port);
    let added = format!("127.0.0.1:{extra}");
    // By hand: `config set` refuses any edit while 10.0.0.300 is in the list.
    let text = fs::read_to_string(&server.config_path)
        .unwrap()
        .replace(
            &format!("smtp = [\"{smtp}\"]"),
            &format!("smtp = [\"{smtp}\", \"{added}\"]"),
        )
        .replace("[relay]\n", "[relay]\nlocal_only = true\n");
    fs::write(
        &server.config_path,
        format!("{text}\n[log]\nlevel = \"debug\"\n"),
    )
    .unwrap();
    let out = server.cli(&["reload"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    for needle in [
        "relay list: 1 entry added, 1 skipped",
        "changed: listen.smtp relay.local_only",
        "needs a restart: log.level",
        &format!("listening on {added} (smtp)"),
        "warning: relay.allow entry \"127.0.0.0/8\" covers the load balancer",
        "configuration OK with 1 entry skipped and 1 warning",
        "reload applied",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}
