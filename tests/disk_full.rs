//! A full disk (issue 7 §3, docs/reference.md §7): with the data directory (Maildirs
//! and queue) on a 2 MiB tmpfs that is then filled up, a message for a
//! local user and one to relay both get `451 4.3.0` (or `452 4.3.1`), never
//! a 250; nothing half-written stays (Maildir tmp/, queue/tmp/, no partial
//! message); and once space is freed the same server delivers again,
//! without a restart.
//!
//! Needs root (mount); without it the test says why and passes.

use portcullis_testkit as common;

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{has_enhanced, Setup};

/// A tmpfs mounted for the test; unmounted on drop (lazily, so a file
/// still open cannot keep it).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    let mut f = fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    // The last partial chunk may have gone in too.
    let _ = f.sync_all();
    written
}

fn body(tag: &str) -> Vec<u8> {
    let mut b = format!("Subject: {tag}\r\n\r\n").into_bytes();
    for _ in 0..1000 {
        b.extend_from_slice(format!("{tag} {}\r\n", "q".repeat(90)).as_bytes());
    }
    b
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_full_disk_gets_451_keeps_nothing_half_written_and_recovers_by_itself() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let closed = SocketAddr::new(lo, common::free_port(lo));
    let setup = Setup::new(&format!("[routes]\n\"remote.test\" = \"{closed}\"\n"));
    let _tmpfs = match Tmpfs::mount(&setup.data_dir, "2m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED disk_full: cannot mount a tmpfs (needs root): {why}");
            return;
        }
    };
    let server = setup.start();
    let data = server.data_dir.clone();
    let maildir = server.maildir("postmaster");

    // Before: delivery works (and creates the Maildir).
    let mut c = server.ehlo_from(common::DENIED);
    let (code, text) = c.send_mail("a@client.test", &["postmaster@local.test"], &body("before"));
    assert_eq!(code, 250, "{text}");

    let filler = data.join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "nothing could be written to fill the tmpfs");

    // Full: local delivery and queueing both fail temporarily.
    for rcpt in ["postmaster@local.test", "bob@remote.test"] {
        let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
        let (code, text) = c.send_mail("a@client.test", &[rcpt], &body("while-full"));
        assert!(
            (code == 451 && has_enhanced(&text, "4.3.0"))
                || (code == 452 && has_enhanced(&text, "4.3.1")),
            "{rcpt} on a full disk: {code} {text}\n{}",
            server.log()
        );
        c.quit_clean();
    }
    // Nothing half-written: no temporary file, no partial message, nothing queued.
    assert_eq!(
        files_in(&maildir.join("tmp")),
        Vec::<PathBuf>::new(),
        "Maildir tmp/"
    );
    assert_eq!(
        files_in(&data.join("queue/tmp")),
        Vec::<PathBuf>::new(),
        "queue/tmp/"
    );
    let stored = server.maildir_messages("postmaster");
    assert_eq!(stored.len(), 1, "only the message from before");
    assert!(
        stored[0].ends_with(&body("before")),
        "the first message is intact"
    );
    assert!(
        server.queue_messages().is_empty(),
        "{:?}",
        server.queue_listing()
    );

    // Space comes back: the same server delivers again, no restart.
    fs::remove_file(&filler).unwrap();
    let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
    let (code, text) = c.send_mail("a@client.test", &["postmaster@local.test"], &body("after"));
    assert_eq!(code, 250, "{text}\n{}", server.log());
    let (code, text) = c.send_mail("a@client.test", &["bob@remote.test"], &body("after-remote"));
    assert_eq!(code, 250, "{text}");
    c.quit_clean();
    let stored = server.wait_maildir("postmaster", 2);
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().any(|m| m.ends_with(&body("after"))));
    let queued = server.queue_messages();
    assert_eq!(queued.len(), 1, "{:?}", server.queue_listing());
    assert!(queued[0].1.ends_with(&body("after-remote")));
}
