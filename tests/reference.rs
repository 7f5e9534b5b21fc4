//! `docs/reference.md` cannot drift from the code: every configuration key
//! of the key table, every command of the command line and every reply code
//! the server can send must be in it. And the project is self-contained: no
//! file points outside the repository for its reference.

use portcullis_testkit as common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::BIN;
use portcullis_config::KEYS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reference() -> String {
    fs::read_to_string(root().join("docs/reference.md")).expect("docs/reference.md")
}

#[test]
fn every_configuration_key_is_documented() {
    let doc = reference();
    let missing: Vec<&str> = KEYS
        .iter()
        .map(|k| k.key)
        .filter(|key| !doc.contains(&format!("| `{key}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys of crates/config/src/keys.rs missing from the key table of docs/reference.md §2: {missing:?}"
    );
}

/// The subcommand names listed under `Commands:` by `portcullis ARGS --help`.
fn subcommands(args: &[&str]) -> Vec<String> {
    let out = Command::new(BIN)
        .args(args)
        .arg("--help")
        .output()
        .expect("run portcullis --help");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_is_documented() {
    let doc = reference();
    let mut missing = Vec::new();
    for cmd in subcommands(&[]) {
        let nested = subcommands(&[&cmd]);
        if nested.is_empty() && !doc.contains(&format!("`portcullis {cmd}")) {
            missing.push(cmd.clone());
        }
        for sub in nested {
            if !doc.contains(&format!("`portcullis {cmd} {sub}")) {
                missing.push(format!("{cmd} {sub}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "commands missing from docs/reference.md §1: {missing:?}"
    );
}

/// Every `NNN, (c, s, d)` (a reply code and its enhanced status) in the
/// Rust sources under `dir`, outside test modules.
fn reply_codes(dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" {
                reply_codes(&path, out);
            }
            continue;
        }
        if !name.ends_with(".rs") || name == "tests.rs" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
        for found in scan_codes(code) {
            out.push((found, path.clone()));
        }
    }
}

/// `250, (2, 1, 5)` (whitespace and line breaks allowed) → `250 2.1.5`.
fn scan_codes(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut found = Vec::new();
    for (i, _) in text.match_indices('(') {
        // Three digits, a comma, whitespace, then this parenthesis.
        let mut j = i;
        while j > 0 && b[j - 1].is_ascii_whitespace() {
            j -= 1;
        }
        if j < 4 || b[j - 1] != b',' {
            continue;
        }
        let code = &b[j - 4..j - 1];
        let before = if j >= 5 { b[j - 5] } else { b' ' };
        if !code.iter().all(u8::is_ascii_digit)
            || !(b'2'..=b'5').contains(&code[0])
            || before.is_ascii_alphanumeric()
        {
            continue;
        }
        let Some(end) = text[i..].find(')') else {
            continue;
        };
        let parts: Vec<&str> = text[i + 1..i + end].split(',').map(str::trim).collect();
        let numeric = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
        if numeric && parts[0].as_bytes()[0] == code[0] {
            let code = std::str::from_utf8(code).unwrap();
            found.push(format!("{code} {}.{}.{}", parts[0], parts[1], parts[2]));
        }
    }
    found
}

#[test]
fn the_scanner_reads_reply_codes_as_rustfmt_writes_them() {
    let text = "Reply::new(550, (5, 1, 1), \"x\")\nReply::new(\n    451,\n    (4, 3, 0),\n    \"y\")\nf(1550, (5, 1, 1)); g(250, (4, 0, 0))";
    assert_eq!(scan_codes(text), ["550 5.1.1", "451 4.3.0"]);
}

#[test]
fn every_reply_code_is_documented() {
    let doc = reference();
    let mut found = Vec::new();
    for dir in ["crates", "src"] {
        reply_codes(&root().join(dir), &mut found);
    }
    assert!(found.len() > 30, "the scan found too little: {found:?}");
    let missing: Vec<String> = found
        .into_iter()
        .filter(|(code, _)| !doc.contains(&format!("`{code}`")))
        .map(|(code, path)| format!("{code} ({})", path.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "reply codes missing from docs/reference.md §8: {missing:?}"
    );
}

#[test]
fn nothing_points_outside_the_repository() {
    let mut offenders = Vec::new();
    for dir in [
        "src", "crates", "tests", "docs", "fuzz", "bench", "scripts", "contrib",
    ] {
        walk(&root().join(dir), &mut offenders);
    }
    for file in ["README.md", "BENCHMARKS.md", "Cargo.toml"] {
        check_file(&root().join(file), &mut offenders);
    }
    assert!(
        offenders.is_empty(),
        "cite docs/reference.md sections or RFCs instead: {offenders:#?}"
    );
}

fn walk(dir: &Path, offenders: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") {
                walk(&path, offenders);
            }
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "md" || e == "toml" || e == "sh")
        {
            check_file(&path, offenders);
        }
    }
}

fn check_file(path: &Path, offenders: &mut Vec<String>) {
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    // Spelled in two halves so that this file does not match itself.
    let needles = [
        format!("SPEC{}", " §"),
        format!("../{}", "shared"),
        format!("SPEC{}", ".md"),
    ];
    for (n, line) in text.lines().enumerate() {
        if needles.iter().any(|needle| line.contains(needle.as_str())) {
            offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
        }
    }
}
