//! What `serve` does with its files: one server per data directory (a
//! second one exits before it touches the queue), and a log file that only
//! its owner and group may read, also after logrotate.
// Signals and the effective uid come from libc: std has no safe form of them.
#![allow(unsafe_code)]

use portcullis_testkit as common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, Setup, POLL_TIMEOUT};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn pid_of(server: &Server) -> String {
    fs::read_to_string(server.data_dir.join("portcullis.pid"))
        .expect("pid file")
        .trim()
        .to_string()
}

#[test]
fn a_second_serve_on_the_same_data_dir_exits_1_and_touches_nothing() {
    let server = Setup::new("").start();
    // A file of a message the running server may be receiving right now:
    // queue recovery would delete it.
    let planted = server
        .data_dir
        .join("queue")
        .join("tmp")
        .join("in-flight.msg");
    fs::create_dir_all(planted.parent().unwrap()).unwrap();
    fs::write(&planted, b"half a message").unwrap();
    let (status, text) = server.serve_expecting_exit(&[], Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("second serve still running: {text}"));
    assert_eq!(status.code(), Some(1), "{text}");
    let want = format!(
        "another portcullis serve (pid {}) is using {}",
        pid_of(&server),
        server.data_dir.display()
    );
    assert!(text.contains(&want), "want {want:?} in:\n{text}");
    assert!(!text.contains("queue recovered"), "{text}");
    assert_eq!(fs::read(&planted).unwrap(), b"half a message");
    // The first server is untouched and still serves.
    let mut c = server.ehlo_from(std::net::Ipv4Addr::LOCALHOST);
    c.quit_clean();
}

#[test]
fn the_log_file_is_created_0640_and_again_after_logrotate() {
    let setup = Setup::new("");
    let log = setup.dir().join("portcullis.log");
    let text = format!(
        "{}\n[log]\nfile = {}\n",
        setup.config_text(),
        common::toml_str(&log.to_string_lossy())
    );
    fs::write(&setup.config_path, text).unwrap();
    let server = setup.start();
    assert_eq!(mode(&log), 0o640, "log.file mode");
    // logrotate without `create`: the file is moved away, SIGHUP reopens by name.
    fs::rename(&log, server.dir().join("portcullis.log.1")).unwrap();
    let pid: libc::pid_t = pid_of(&server).parse().unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; pid is our child's.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let deadline = Instant::now() + POLL_TIMEOUT;
    while !log.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(log.exists(), "log file not reopened:\n{}", server.log());
    assert_eq!(mode(&log), 0o640, "reopened log.file mode");
}
