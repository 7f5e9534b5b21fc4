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

#[test]
fn real_clients_against_the_real_server() {
    let missing: Vec<&str> = ["swaks", "msmtp", "python3"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "interop tools missing under CI: {missing:?}"
        );
        eprintln!("SKIPPED: interop tools missing: {missing:?}");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/run.sh");
    let out = Command::new("timeout")
        .args(["300", "bash", script])
        .env("PORTCULLIS_BIN", env!("CARGO_BIN_EXE_portcullis"))
        .output()
        .expect("run tests/interop/run.sh");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "interop failed:\n{text}");
    assert!(text.contains(" 0 failed"), "{text}");
}
