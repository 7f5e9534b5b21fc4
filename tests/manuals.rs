//! Shell completions and man pages, generated from the command line's own
//! definition: `portcullis completions SHELL` prints a script the shell
//! accepts, `portcullis man DIR` writes one page per command. Neither needs
//! (or creates) a configuration file.

use portcullis_testkit as common;

use std::fs;
use std::process::Command;

use common::{describe, BIN};

fn portcullis(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .expect("run portcullis")
}

#[test]
fn completions_are_printed_for_each_shell_and_bash_accepts_them() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_portcullis()"),
        ("zsh", "#compdef portcullis"),
        ("fish", "complete -c portcullis"),
    ] {
        let out = portcullis(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", describe(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["check-relay", "queue", "sendmail", "completions"] {
            assert!(script.contains(word), "{shell} lacks {word}");
        }
        if shell == "bash" {
            let path = dir.path().join("portcullis.bash");
            fs::write(&path, &out.stdout).unwrap();
            let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
            assert!(syntax.status.success(), "{}", describe(&syntax));
        }
    }
    let out = portcullis(dir.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!dir.path().join("portcullis.toml").exists());
}

#[test]
fn man_pages_are_written_one_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    let out = portcullis(dir.path(), &["man", &man.to_string_lossy()]);
    assert!(out.status.success(), "{}", describe(&out));
    for page in [
        "portcullis.1",
        "portcullis-serve.1",
        "portcullis-config-set.1",
        "portcullis-queue-list.1",
        "portcullis-user-add.1",
        "portcullis-check-relay.1",
    ] {
        let text = fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = page.trim_end_matches(".1");
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
        assert!(text.contains(&format!(".TH {name} 1")), "{page}: {text}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(page));
    }
    let top = fs::read_to_string(man.join("portcullis.1")).unwrap();
    assert!(top.contains("config") && top.contains("sendmail"), "{top}");
    assert!(!dir.path().join("portcullis.toml").exists());
}
