//! Helpers shared by the outbound tests: configurations that route mail to
//! a sink, polling `portcullis queue list`, and a kill -9.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{describe, Server, Setup};

/// Loopback.
pub const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// How long a test waits for an outbound delivery to show.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// `[relay]` for the tests (127.0.0.1 may relay), `[routes]` sending
/// `remote.test` to `sink`, and a `[queue]` with fast retries, then `extra`.
pub fn routed_config(sink: SocketAddr, retry_min: u64, extra: &str) -> String {
    format!(
        "[relay]\nallow = [\"127.0.0.1\"]\n\n\
         [routes]\n\"remote.test\" = \"{sink}\"\n\n\
         [queue]\nretry_min = {retry_min}\nretry_max = {}\n\n{extra}",
        retry_min.max(2)
    )
}

/// Sends one message from `from` to `rcpts` through the server's smtp
/// listener (asserting 250) and returns its queue id.
pub fn send(server: &Server, from: &str, rcpts: &[&str], body: &[u8]) -> String {
    let mut c = server.ehlo_from(Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail(from, rcpts, body);
    assert_eq!(code, 250, "message not accepted: {text}\n{}", server.log());
    c.quit_collect();
    super::queue_id(&text).unwrap_or_else(|| panic!("no queue id in {text:?}"))
}

/// `portcullis queue <args>`, asserting exit 0; its stdout.
pub fn queue_cli(setup: &Setup, args: &[&str]) -> String {
    let mut all = vec!["queue"];
    all.extend_from_slice(args);
    let out = setup.cli(&all);
    assert!(
        out.status.success(),
        "portcullis {all:?}: {}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `queue list` until its output satisfies `pred` (bounded); returns the last output.
pub fn wait_queue_list(setup: &Setup, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let out = queue_cli(setup, &["list"]);
        if pred(&out) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (bounded) until the queue directory holds no message.
pub fn wait_queue_empty(setup: &Setup) -> bool {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while Instant::now() < deadline {
        if setup.queue_messages().is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    setup.queue_messages().is_empty()
}

/// Waits (bounded) until `user`'s Maildir has `n` messages; returns them.
pub fn wait_maildir(setup: &Setup, user: &str, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let msgs = setup.maildir_messages(user);
        if msgs.len() >= n || Instant::now() > deadline {
            return msgs;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILL to the running server (by its pid file): no draining, no cleanup.
pub fn kill_9(setup: &Setup) {
    let pid_file = setup.data_dir.join("portcullis.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", pid_file.display()));
    let status = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {} failed", pid.trim());
    // The pid file stays behind, as after a real crash. The process is dead
    // once its /proc entry is gone or a zombie (its parent, the test, has
    // not reaped it yet).
    let stat = std::path::PathBuf::from(format!("/proc/{}/stat", pid.trim()));
    let alive = || {
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive() {
        assert!(
            Instant::now() < deadline,
            "pid {} outlived kill -9",
            pid.trim()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
