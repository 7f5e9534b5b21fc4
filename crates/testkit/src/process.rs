//! Running the binary's commands with their output captured and a time
//! limit, so a hung command fails the test instead of hanging it.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::describe;

/// Runs `cmd` (stdout and stderr captured), killing it after `limit`;
/// the status is `None` when it had to be killed.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> (Option<ExitStatus>, Output) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    wait_output_or_kill(child, limit)
}

/// Waits for a CLI command, killing it after `limit`.
pub(crate) fn wait_output(child: Child, limit: Duration, args: &[&str]) -> Output {
    let (status, out) = wait_output_or_kill(child, limit);
    assert!(
        status.is_some(),
        "`portcullis {args:?}` still running after {limit:?}: {}",
        describe(&out)
    );
    out
}

pub(crate) fn wait_output_or_kill(
    mut child: Child,
    limit: Duration,
) -> (Option<ExitStatus>, Output) {
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let deadline = Instant::now() + limit;
    let mut status = None;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let final_status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            child.wait().expect("wait for killed child")
        }
    };
    let out = Output {
        status: final_status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    };
    (status, out)
}
