//! systemd `Type=notify` readiness: with `$NOTIFY_SOCKET` set, `serve`
//! sends `READY=1` once its listeners accept, `RELOADING=1` then `READY=1`
//! around a SIGHUP reload, and `STOPPING=1` when SIGTERM drains it.

use portcullis_testkit as common;

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{with_config, Setup, BIN};

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// The next datagram, within 10 s.
fn next(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_reloading_and_stopping_reach_the_notify_socket() {
    let setup = Setup::new("");
    let path = setup.dir().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let child = Command::new(BIN)
        .args(with_config(&setup.config_path, &["serve"]))
        .current_dir(setup.dir())
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run serve");
    let mut server = Running(child);

    let ready = next(&sock);
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains(&format!("MAINPID={}", server.0.id())),
        "{ready:?}"
    );
    // READY=1 means the listeners are bound: a connection succeeds at once.
    let smtp = std::net::SocketAddr::new(setup.listen_ip, setup.smtp_port);
    TcpStream::connect_timeout(&smtp, Duration::from_secs(2)).expect("listening when READY=1");

    signal(&server.0, "HUP");
    assert!(next(&sock).starts_with("RELOADING=1\n"));
    let after = next(&sock);
    assert!(after.starts_with("READY=1\n"), "{after:?}");

    signal(&server.0, "TERM");
    assert!(next(&sock).starts_with("STOPPING=1\n"));
    let status = server.0.wait().expect("serve exits");
    assert!(status.success(), "{status}");
}
