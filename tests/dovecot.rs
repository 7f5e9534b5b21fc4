//! Dovecot interop (docs/dovecot.md): runs `tests/interop/dovecot.sh`
//! against the binary under test. Without Dovecot installed it is skipped
//! with a printed reason, except under CI (`CI` set), where `.ci/run`
//! installs `dovecot-imapd` and a missing Dovecot is a failure.

use std::process::Command;

/// The script's exit code for "dovecot is not installed".
const SKIPPED: i32 = 77;

#[test]
fn dovecot_serves_portcullis_mail_with_the_portcullis_password() {
    run("alice");
}

/// A user of one domain: in the passwd-file and the Maildir by its full
/// address, and Dovecot (with `%Lu`) logs it in by that address.
#[test]
fn dovecot_serves_a_user_of_one_domain_by_its_address() {
    run("alice@local.test");
}

/// Runs the script for `user` (a bare name or a full address).
fn run(user: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/dovecot.sh");
    let out = Command::new("timeout")
        .args(["300", "bash", script])
        .env("PORTCULLIS_BIN", env!("CARGO_BIN_EXE_portcullis"))
        .env("DOVECOT_USER", user)
        .output()
        .expect("run tests/interop/dovecot.sh");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    if out.status.code() == Some(SKIPPED) {
        assert!(
            std::env::var_os("CI").is_none(),
            "dovecot is not installed under CI (.ci/run must install dovecot-imapd):\n{text}"
        );
        eprintln!("SKIPPED: dovecot is not installed (apt-get install dovecot-imapd)");
        return;
    }
    assert!(out.status.success(), "dovecot interop failed:\n{text}");
    assert!(text.contains("dovecot: 1 passed, 0 failed"), "{text}");
}
