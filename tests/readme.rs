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

use portcullis_testkit as common;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use common::transcript::{console_steps, line_matches, lines_match, run_step, serve};
use common::{free_port, DnsStub, Zone};

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
        run_step("README.md", step, &command, dir.path());
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
