//! Transcript tests: each `tests/dialogs/*.smtp` file is one SMTP session
//! against a fresh server, written so a reader learns the protocol from it.
//!
//! Format, one directive per line (`#` starts a comment line):
//!
//! ```text
//! @config <toml line>     appended to the test's configuration
//! @user <name> <password> a local user, added before the server starts
//! @from <127.x.y.z>       the client's source address (default 127.0.0.1)
//! c -> <line>             send <line> + CRLF
//! c => <text>             send <text> raw; \r \n \t \\ are escapes
//! c <- <prefix>           read one reply; its last line must start with <prefix>
//! c <* <word>             the last reply contains <word> (case-insensitive)
//! c closed                the server closes the connection
//! @maildir <user> <n>     after the session, <user> has exactly <n> messages
//! @queue <n>              after the session, the queue holds exactly <n> messages
//! ```

use portcullis_testkit as common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use common::{Client, Setup};

/// One parsed transcript.
struct Dialog {
    config: String,
    users: Vec<(String, String)>,
    from: Ipv4Addr,
    steps: Vec<(usize, Step)>,
    maildirs: Vec<(String, usize)>,
    queue: Option<usize>,
}

enum Step {
    Send(Vec<u8>),
    Expect(String),
    Contains(String),
    Closed,
}

fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            other => panic!("bad escape \\{other:?} in {s:?}"),
        }
    }
    out
}

fn parse(path: &Path) -> Dialog {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut d = Dialog {
        config: String::new(),
        users: Vec::new(),
        from: Ipv4Addr::LOCALHOST,
        steps: Vec::new(),
        maildirs: Vec::new(),
        queue: None,
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        let bad = || -> String { format!("{}:{n}: cannot parse {line:?}", path.display()) };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("@config ") {
            d.config.push_str(rest);
            d.config.push('\n');
        } else if let Some(rest) = line.strip_prefix("@user ") {
            let mut parts = rest.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(u), Some(p)) => d.users.push((u.into(), p.into())),
                _ => panic!("{}", bad()),
            }
        } else if let Some(rest) = line.strip_prefix("@from ") {
            d.from = rest.trim().parse().unwrap_or_else(|_| panic!("{}", bad()));
        } else if let Some(rest) = line.strip_prefix("@maildir ") {
            let mut parts = rest.split_whitespace();
            match (parts.next(), parts.next().and_then(|n| n.parse().ok())) {
                (Some(u), Some(count)) => d.maildirs.push((u.into(), count)),
                _ => panic!("{}", bad()),
            }
        } else if let Some(rest) = line.strip_prefix("@queue ") {
            d.queue = Some(rest.trim().parse().unwrap_or_else(|_| panic!("{}", bad())));
        } else if line == "c ->" {
            d.steps.push((n, Step::Send(b"\r\n".to_vec())));
        } else if let Some(rest) = line.strip_prefix("c -> ") {
            let mut bytes = rest.as_bytes().to_vec();
            bytes.extend_from_slice(b"\r\n");
            d.steps.push((n, Step::Send(bytes)));
        } else if let Some(rest) = line.strip_prefix("c => ") {
            d.steps.push((n, Step::Send(unescape(rest))));
        } else if let Some(rest) = line.strip_prefix("c <- ") {
            d.steps.push((n, Step::Expect(rest.to_string())));
        } else if let Some(rest) = line.strip_prefix("c <* ") {
            d.steps.push((n, Step::Contains(rest.to_lowercase())));
        } else if line == "c closed" {
            d.steps.push((n, Step::Closed));
        } else {
            panic!("{}", bad());
        }
    }
    d
}

/// Runs one transcript; returns a description of the first mismatch.
fn run(path: &Path) -> Result<(), String> {
    let d = parse(path);
    let setup = Setup::new(&d.config);
    for (u, p) in &d.users {
        setup.add_user(u, p);
    }
    let server = setup.start();
    let mut c = Client::connect_addr(std::net::IpAddr::V4(d.from), server.smtp_addr());
    let mut last = String::new();
    let fail = |n: usize, what: String, c: &Client| {
        format!(
            "{}:{n}: {what}\ntranscript:\n{}\n--- server log ---\n{}",
            path.display(),
            c.transcript.join("\n"),
            server.log()
        )
    };
    for (n, step) in &d.steps {
        match step {
            Step::Send(bytes) => c.send(bytes),
            Step::Expect(prefix) => match c.try_read_reply(common::IO_TIMEOUT) {
                Ok((_, text)) => {
                    let final_line = text.lines().last().unwrap_or_default();
                    if !final_line.starts_with(prefix.as_str()) {
                        return Err(fail(*n, format!("expected {prefix:?}, got {text:?}"), &c));
                    }
                    last = text;
                }
                Err(e) => return Err(fail(*n, format!("expected {prefix:?}, got {e:?}"), &c)),
            },
            Step::Contains(word) => {
                if !last.to_lowercase().contains(word.as_str()) {
                    return Err(fail(*n, format!("reply {last:?} lacks {word:?}"), &c));
                }
            }
            Step::Closed => match c.try_read_reply(common::IO_TIMEOUT) {
                Err(common::ReadError::Closed(rest)) if rest.is_empty() => {}
                other => return Err(fail(*n, format!("expected close, got {other:?}"), &c)),
            },
        }
    }
    for (user, want) in &d.maildirs {
        if *want > 0 {
            server.wait_maildir(user, *want);
        }
        // A wrong extra delivery would be stored before its session ends.
        server.wait_sessions_done();
        let got = server.maildir_messages(user).len();
        if got != *want {
            return Err(fail(
                0,
                format!("{user} has {got} messages, expected {want}"),
                &c,
            ));
        }
    }
    if let Some(want) = d.queue {
        let got = server.queue_messages().len();
        if got != want {
            return Err(fail(
                0,
                format!(
                    "queue holds {got} messages, expected {want}: {:?}",
                    server.queue_listing()
                ),
                &c,
            ));
        }
    }
    Ok(())
}

fn dialog_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("dialogs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "smtp"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_dialog_transcript_holds() {
    let files = dialog_files();
    assert!(!files.is_empty(), "no tests/dialogs/*.smtp files");
    // Run them side by side (each has its own server), then report every failure.
    let handles: Vec<_> = files
        .into_iter()
        .map(|f| std::thread::spawn(move || (f.clone(), run(&f))))
        .collect();
    let mut failures = Vec::new();
    let mut passed = 0;
    for h in handles {
        match h.join() {
            Ok((_, Ok(()))) => passed += 1,
            Ok((f, Err(e))) => failures.push(format!("FAILED {}\n{e}", f.display())),
            Err(_) => failures.push("a dialog thread panicked (see its output above)".into()),
        }
    }
    assert!(
        failures.is_empty(),
        "{passed} dialogs passed, {} failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
