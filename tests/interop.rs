//! Interop with real clients (swaks, msmtp, Python's smtplib): runs
//! `tests/interop/run.sh` against the binary under test, so `cargo test`
//! covers it. Without the tools it is skipped with a note, except under CI
//! (`CI` set), where `.ci/run` installs them and a missing tool is a failure.

use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs one interop script; skipped (or, under CI, failed) without its tools.
fn run_script(name: &str, tools: &[&str]) {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "interop tools missing under CI: {missing:?}"
        );
        eprintln!("SKIPPED: interop tools missing: {missing:?}");
        return;
    }
    let script = format!("{}/tests/interop/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("timeout")
        .args(["300", "bash", &script])
        .env("PORTCULLIS_BIN", env!("CARGO_BIN_EXE_portcullis"))
        .output()
        .expect("run the interop script");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{name} failed:\n{text}");
    assert!(text.contains(" 0 failed"), "{text}");
}

#[test]
fn real_clients_against_the_real_server() {
    run_script("run.sh", &["swaks", "msmtp", "python3"]);
}

#[test]
fn real_clients_authenticate_over_tls() {
    run_script("auth.sh", &["swaks", "msmtp", "python3"]);
}
