//! The control socket speaks the admin API's typed protocol, one JSON line
//! each way: anything else (the old text verbs, bytes that are not text, a
//! line without end) gets one typed error naming it, and the server keeps
//! serving the admin commands.

use portcullis_testkit as common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{describe, Server};

/// Sends `bytes` on a fresh connection and returns the one answer line.
fn ask(server: &Server, bytes: &[u8]) -> serde_json::Value {
    let mut s = UnixStream::connect(server.data_dir.join("control.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer (and close) before reading all of a long line.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    assert!(line.ends_with('\n'), "{line:?}");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn error_of(answer: &serde_json::Value) -> (String, String) {
    let err = &answer["err"];
    (
        err["kind"].as_str().unwrap_or_default().to_string(),
        err["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn the_control_socket_refuses_garbage_with_a_typed_error_naming_it() {
    let server = Server::start("");
    let (kind, message) = error_of(&ask(&server, b"STATUS\n"));
    assert_eq!(kind, "bad_input");
    assert!(
        message.starts_with("unknown or malformed control request \"STATUS\""),
        "{message}"
    );
    let (kind, message) = error_of(&ask(&server, b"\"shutdown\"\n"));
    assert_eq!(kind, "bad_input");
    assert!(message.contains("shutdown"), "{message}");
    let (kind, message) = error_of(&ask(&server, b"{\"queue\":{\"show\":{\"id\":\"../x\"}}}\n"));
    assert_eq!(kind, "bad_input");
    assert!(message.contains("\"../x\" is not a queue id"), "{message}");
    let (kind, _) = error_of(&ask(&server, b"\xff\xfe\x00garbage\n"));
    assert_eq!(kind, "bad_input");
    // A line without end is read only so far, and answered all the same.
    let (kind, _) = error_of(&ask(&server, &vec![b'x'; 200 * 1024]));
    assert_eq!(kind, "bad_input");
    // A well-formed request is answered, and the commands still work.
    assert_eq!(ask(&server, b"\"ping\"\n")["ok"], "pong");
    let out = server.cli(&["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sessions: "),
        "{}",
        describe(&out)
    );
}
