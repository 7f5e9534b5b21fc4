//! Documentation run as written: every ```console block of a page is a
//! transcript. Each `$ command` line is run with `sh -c` in a scratch
//! directory with the built binary first on the `PATH` (as after `cargo
//! install --path .`), in page order; the lines after it are its output
//! (stdout, then stderr). In the expected output `[..]` stands for any text
//! within a line, a line `...` for any number of lines, and a line
//! `[exit N]` for the exit code (0 otherwise).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{run_with_timeout, BIN};

/// One `$ command` of a console block and what it must print.
#[derive(Debug)]
pub struct Step {
    /// The page line it comes from, for failure messages.
    pub line: usize,
    /// The command line after `$ `.
    pub command: String,
    /// The output lines shown, with `[..]` and `...` wildcards.
    pub expected: Vec<String>,
    /// The exit code shown as `[exit N]`, 0 when none.
    pub exit: i32,
}

/// The steps of every ```console block of `doc`, in order.
pub fn console_steps(doc: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    for (i, line) in doc.lines().enumerate() {
        if !in_console {
            in_console = line.trim_end() == "```console";
            continue;
        }
        if line.starts_with("```") {
            in_console = false;
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step {
                line: i + 1,
                command: command.to_string(),
                expected: Vec::new(),
                exit: 0,
            });
            continue;
        }
        let step = steps
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: output before any `$ `", i + 1));
        match line
            .strip_prefix("[exit ")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            Some(code) => step.exit = code.parse().expect("[exit N] with a number"),
            None => step.expected.push(line.to_string()),
        }
    }
    steps
}

/// Whether `actual` fits the pattern lines `expected` (`...` = any lines).
pub fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((first, rest)) => {
            !actual.is_empty() && line_matches(first, actual[0]) && lines_match(rest, &actual[1..])
        }
    }
}

/// Whether `line` fits `pattern`, where `[..]` stands for any text.
pub fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == line;
    };
    if parts.len() == 1 {
        return pattern == line;
    }
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// `portcullis serve` in the scratch directory; stopped on drop.
pub struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        // Our own child, not yet reaped: the pid names no other process.
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions. Allowed here
            // (the workspace denies unsafe code) because std cannot send SIGTERM.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` in `dir` (its log in `serve.log`) and waits, bounded,
/// until it is ready.
pub fn serve(dir: &Path) -> Serve {
    let log = fs::File::create(dir.join("serve.log")).unwrap();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_remove("PORTCULLIS_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run portcullis serve");
    let server = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        if log.contains("portcullis ready") {
            return server;
        }
        assert!(Instant::now() < deadline, "serve did not start:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `command` (a step's, possibly rewritten) in `dir` and panics,
/// naming `page` and the step's line, unless it prints what `step` expects.
pub fn run_step(page: &str, step: &Step, command: &str, dir: &Path) {
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", command])
        .current_dir(dir)
        .env("PATH", &path)
        .env_remove("PORTCULLIS_CONFIG")
        .env("NO_COLOR", "1");
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let actual: Vec<&str> = text.lines().map(str::trim_end).collect();
    let code = status.and_then(|s| s.code());
    assert!(
        code == Some(step.exit) && lines_match(&step.expected, &actual),
        "{page} line {}: `{}` (run as `{command}`)\nexpected (exit {}):\n{}\ngot (exit {code:?}):\n{text}",
        step.line,
        step.command,
        step.exit,
        step.expected.join("\n"),
    );
}
