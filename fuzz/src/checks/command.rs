//! The command parser (`parse_command`): no panic; a line holding CR, LF or
//! NUL is never a command (smuggling); every error is a single well-formed
//! 4xx/5xx reply line, so nothing the client sent can inject a reply line;
//! the paths inside MAIL and RCPT print back to the same reading.

use portcullis_smtp::address::{parse_forward_path, parse_reverse_path};
use portcullis_smtp::command::{parse_command, Command};

pub fn check(data: &[u8]) {
    for utf8 in [false, true] {
        match parse_command(data, utf8) {
            Ok(command) => {
                assert!(
                    !data.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
                    "a line with CR, LF or NUL parsed as {command:?}"
                );
                match &command {
                    Command::Mail(path, params) => {
                        let printed = format!("<{path}>");
                        let again =
                            parse_reverse_path(&printed, params.smtputf8).unwrap_or_else(|e| {
                                panic!("MAIL path {printed:?} does not parse: {e}")
                            });
                        assert_eq!(&again, path);
                    }
                    Command::Rcpt(mailbox) => {
                        let printed = format!("<{mailbox}>");
                        let again = parse_forward_path(&printed, utf8).unwrap_or_else(|e| {
                            panic!("RCPT path {printed:?} does not parse: {e}")
                        });
                        assert_eq!(&again, mailbox);
                    }
                    _ => {}
                }
            }
            Err(reply) => {
                assert!(
                    (400..600).contains(&reply.code),
                    "error reply with code {}",
                    reply.code
                );
                let bytes = reply.to_bytes();
                assert!(bytes.ends_with(b"\r\n"), "reply not ended by CRLF");
                let body = &bytes[..bytes.len() - 2];
                assert!(
                    !body.iter().any(|&b| b == b'\r' || b == b'\n'),
                    "reply to {data:?} spans lines: {bytes:?}"
                );
                assert!(bytes.len() <= 512, "reply of {} bytes", bytes.len());
            }
        }
    }
}
