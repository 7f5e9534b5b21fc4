//! README.md's examples, run as written (issue 12): every ```console block
//! of the README is a transcript. Each `$ command` line is run with `sh -c`
//! in a scratch directory holding `portcullis.toml` and a running
//! `portcullis serve`, with the built binary first on the `PATH` (as after
//! `cargo install --path .`), in README order; the lines after it are its
//! output (stdout, then stderr). In the expected output `[..]` stands for
//! any text within a line, a line `...` for any number of lines, and a line
//! `[exit N]` for the exit code (0 otherwise). A README example whose output
//! changes fails this test.
//!
//! The scratch configuration differs from the embedded default only where a
//! test must: its listeners use free ports (the commands' `2525`, `2587`
//! and `2465` are rewritten to them) and its resolver is a loopback stub, so
//! nothing leaves the machine. `swaks` lines are skipped when swaks is not
//! installed (`.ci/run` installs it).

mod common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, run_with_timeout, DnsStub, Zone, BIN};

/// One `$ command` of a console block and what it must print.
#[derive(Debug)]
struct Step {
    /// The README line it comes from, for failure messages.
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// The steps of every ```console block, in order.
fn console_steps(readme: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    for (i, line) in readme.lines().enumerate() {
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
            .unwrap_or_else(|| panic!("README.md line {}: output before any `$ `", i + 1));
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
fn lines_match(expected: &[String], actual: &[&str]) -> bool {
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
fn line_matches(pattern: &str, line: &str) -> bool {
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
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        // Our own child, not yet reaped: the pid names no other process.
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions.
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

/// Starts `serve` in `dir` and waits (bounded) until it is ready.
fn serve(dir: &Path) -> Serve {
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

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_readme_console_examples_print_what_the_readme_shows() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let steps = console_steps(&readme);
    assert!(
        steps
            .iter()
            .filter(|s| s.command.starts_with("portcullis "))
            .count()
            >= 15,
        "the README lost its admin examples: {steps:#?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ports = [
        ("2525", free_port(lo)),
        ("2587", free_port(lo)),
        ("2465", free_port(lo)),
    ];
    let dns = DnsStub::start(Zone::new());
    fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "[listen]\nsmtp = [\"127.0.0.1:{}\"]\nsubmission = [\"127.0.0.1:{}\"]\n\
             submissions = [\"127.0.0.1:{}\"]\n\n[dns]\nnameservers = [\"{}\"]\n",
            ports[0].1, ports[1].1, ports[2].1, dns.addr
        ),
    )
    .unwrap();
    let _server = serve(dir.path());
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let swaks = have("swaks");

    for step in &steps {
        if step.command.starts_with("swaks ") && !swaks {
            eprintln!("skipped (no swaks): {}", step.command);
            continue;
        }
        let mut command = step.command.clone();
        for (default, port) in ports {
            command = command.replace(
                &format!("127.0.0.1:{default}"),
                &format!("127.0.0.1:{port}"),
            );
        }
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &command])
            .current_dir(dir.path())
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
            "README.md line {}: `{}` (run as `{command}`)\nexpected (exit {}):\n{}\ngot (exit {code:?}):\n{text}",
            step.line,
            step.command,
            step.exit,
            step.expected.join("\n"),
        );
    }
}

#[test]
fn the_pattern_language_means_what_the_readme_says() {
    let p = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(lines_match(&p(&["a [..] c"]), &["a b c"]));
    assert!(!lines_match(&p(&["a [..] c"]), &["a b d"]));
    assert!(lines_match(&p(&["...", "x", "..."]), &["1", "x", "2"]));
    assert!(lines_match(&p(&["..."]), &[]));
    assert!(!lines_match(&p(&["x"]), &["x", "y"]));
    assert!(line_matches(
        "relay.allow: 127.0.0.1 ::1[..]",
        "relay.allow: 127.0.0.1 ::1"
    ));
    assert!(line_matches("[..]", "anything"));
}
