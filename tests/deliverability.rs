//! docs/deliverability.md, run as written: every ```console block is a
//! transcript (the notation of tests/readme.rs: `$ command` lines run with
//! `sh -c` and the built binary first on the PATH, `[..]` for any text
//! within a line, a line `...` for any lines, `[exit N]`). The scratch
//! site is the page's: `mail.example.com` serving `example.com`, with a
//! running `portcullis serve`, a loopback DNS stub, and `example.net`
//! routed to a test sink, where the message of the last step must arrive
//! signed with both keys the page generated.

mod common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sink::{Script, Sink};
use common::{free_port, run_with_timeout, show, DnsStub, Zone, BIN};

struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

fn console_steps(doc: &str) -> Vec<Step> {
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

#[test]
fn the_deliverability_walkthrough_runs_as_written_and_ends_in_a_signed_message() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/deliverability.md");
    let doc = fs::read_to_string(&doc_path).expect("read docs/deliverability.md");
    let steps = console_steps(&doc);
    assert!(
        steps.len() >= 5,
        "the page lost its examples: {:?}",
        steps.iter().map(|s| &s.command).collect::<Vec<_>>()
    );

    let sink = Sink::start(IpAddr::V4(Ipv4Addr::LOCALHOST), Script::default());
    let dir = tempfile::tempdir().unwrap();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let dns = DnsStub::start(Zone::new());
    fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "hostname = \"mail.example.com\"\nlocal_domains = [\"example.com\"]\n\n\
             [listen]\nsmtp = [\"127.0.0.1:{}\"]\nsubmission = [\"127.0.0.1:{}\"]\n\
             submissions = [\"127.0.0.1:{}\"]\n\n[dns]\nnameservers = [\"{}\"]\n\n\
             [relay]\nallow = [\"127.0.0.1\"]\n\n[routes]\n\"example.net\" = \"{}\"\n",
            free_port(lo),
            free_port(lo),
            free_port(lo),
            dns.addr,
            sink.addr
        ),
    )
    .unwrap();
    let serve_log = dir.path().join("serve.log");
    let _server = serve(dir.path());
    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in &steps {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &step.command])
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
            "docs/deliverability.md line {}: `{}`\nexpected (exit {}):\n{}\ngot (exit {code:?}):\n{text}",
            step.line,
            step.command,
            step.exit,
            step.expected.join("\n"),
        );
    }

    let got = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(
        got.len(),
        1,
        "the signed message did not arrive\n{}",
        fs::read_to_string(&serve_log).unwrap_or_default()
    );
    let text = show(&got[0].data);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    for want in [
        "a=ed25519-sha256; s=ed2026; d=example.com",
        "a=rsa-sha256; s=rsa2026; d=example.com",
    ] {
        assert!(text.contains(want), "no {want}: {text}");
    }
}
