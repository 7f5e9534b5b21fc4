//! Postfix's `smtp-sink` as a real peer (issue 5 §7): a relayed message
//! reaches it intact. Skipped, with the reason printed, when
//! /usr/sbin/smtp-sink is not installed (CI installs postfix).

use portcullis_testkit as common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::outbound::{routed_config, send, wait_queue_empty, LO};
use common::{find, free_port, show, Setup};

const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// smtp-sink, killed on drop.
struct PostfixSink {
    child: Child,
    dump: tempfile::TempDir,
}

impl Drop for PostfixSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PostfixSink {
    /// `smtp-sink -d DIR/%M%S. addr 10`: each transaction dumped to a file.
    fn start(addr: SocketAddr) -> PostfixSink {
        let dump = tempfile::tempdir().expect("dump dir");
        let mut cmd = Command::new(SMTP_SINK);
        // As root, smtp-sink insists on dropping to another user, which
        // must be able to write the dump directory.
        if is_root() {
            cmd.args(["-u", "nobody"]);
            let _ = Command::new("chmod").arg("0777").arg(dump.path()).status();
        }
        let template = format!("{}/%H%M%S.", dump.path().display());
        let child = cmd
            .args(["-d", &template, &addr.to_string(), "10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start smtp-sink");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PostfixSink { child, dump }
    }

    /// The dumped transactions, waiting (bounded) for `n`.
    fn wait(&self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let files: Vec<Vec<u8>> = std::fs::read_dir(self.dump.path())
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| std::fs::read(e.path()).ok())
                        .collect()
                })
                .unwrap_or_default();
            if files.len() >= n || Instant::now() > deadline {
                return files;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn postfix_smtp_sink_receives_relayed_mail_intact() {
    if !Path::new(SMTP_SINK).exists() {
        eprintln!("SKIPPED: {SMTP_SINK} is not installed (apt-get install postfix)");
        return;
    }
    let addr = SocketAddr::new(LO, free_port(LO));
    let peer = PostfixSink::start(addr);
    let server = Setup::new(&routed_config(addr, 1, "")).start();
    let wire = b"Subject: to postfix\r\n\r\n..starts with a dot\r\nplain\r\n";
    let id = send(&server, "alice@local.test", &["bob@remote.test"], wire);
    let dumps = peer.wait(1);
    assert_eq!(dumps.len(), 1, "smtp-sink got nothing\n{}", server.log());
    // smtp-sink writes its dump with LF line ends.
    let d = &String::from_utf8_lossy(&dumps[0])
        .replace("\r\n", "\n")
        .into_bytes();
    assert!(
        find(d, b"X-Mail-Args: <alice@local.test>").is_some(),
        "{}",
        show(d)
    );
    assert!(
        find(d, b"X-Rcpt-Args: <bob@remote.test>").is_some(),
        "{}",
        show(d)
    );
    assert!(find(d, b"X-Helo-Args: mx.test").is_some(), "{}", show(d));
    assert!(
        find(d, format!("id {id}").as_bytes()).is_some(),
        "no Received header: {}",
        show(d)
    );
    assert!(
        find(d, b"\n\n.starts with a dot\nplain\n").is_some(),
        "body changed: {}",
        show(d)
    );
    assert!(wait_queue_empty(&server));
}
