//! What the control socket speaks: one JSON [`Request`] line from the
//! client, one JSON [`Response`] line back. Every operation that needs the
//! running server is a variant here; the types are the admin API's own, so
//! the socket adds no vocabulary of its own.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::queue::{QueueOp, QueueOutput};
use super::status::Status;
use super::Error;

/// The longest request line the server reads: far above any real request,
/// so a client sending garbage without a newline cannot grow the buffer.
pub const MAX_REQUEST: usize = 64 * 1024;

/// A request to the running server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Is anybody there? Answered with [`Reply::Pong`].
    Ping,
    /// What the server is doing: [`Reply::Status`].
    Status,
    /// Reload the configuration: [`Reply::Reloaded`].
    Reload,
    /// Lift the AUTH ban on an address: [`Reply::Unbanned`].
    Unban {
        /// The banned client (an IPv6 address lifts its /64).
        address: IpAddr,
    },
    /// An operation on the outbound queue: [`Reply::Queue`].
    Queue(QueueOp),
    /// The directory (the users file) changed: rebuild the snapshot the
    /// server serves before answering [`Reply::DirectoryRefreshed`].
    DirectoryChanged,
}

/// What an applied reload did, one line each for the admin: the relay-list
/// report, the changed keys, the listeners, the warnings, the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The report lines.
    pub lines: Vec<String>,
}

/// The successful answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// To [`Request::Ping`].
    Pong,
    /// To [`Request::Status`].
    Status(Status),
    /// To [`Request::Reload`].
    Reloaded(ReloadReport),
    /// To [`Request::Unban`]: the sentence saying what was lifted.
    Unbanned(String),
    /// To [`Request::Queue`].
    Queue(QueueOutput),
    /// To [`Request::DirectoryChanged`].
    DirectoryRefreshed,
}

/// One answer line: the reply or the typed error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// The operation succeeded.
    Ok(Reply),
    /// It failed, and why.
    Err(Error),
}

impl From<Result<Reply, Error>> for Response {
    fn from(r: Result<Reply, Error>) -> Response {
        match r {
            Ok(reply) => Response::Ok(reply),
            Err(e) => Response::Err(e),
        }
    }
}

impl From<Error> for Response {
    fn from(e: Error) -> Response {
        Response::Err(e)
    }
}

impl From<Response> for Result<Reply, Error> {
    fn from(r: Response) -> Result<Reply, Error> {
        match r {
            Response::Ok(reply) => Ok(reply),
            Response::Err(e) => Err(e),
        }
    }
}

/// One line of JSON, ending in a newline.
pub fn encode<T: Serialize>(message: &T) -> String {
    // Invariant: these types hold only strings, numbers, lists and enums,
    // which always serialize.
    let mut line = serde_json::to_string(message).expect("admin types serialize");
    line.push('\n');
    line
}

/// The request on `line`; anything else is a bad-input error quoting it.
pub fn decode_request(line: &str) -> Result<Request, Error> {
    let line = line.trim_end_matches(['\r', '\n']);
    serde_json::from_str(line).map_err(|e| {
        Error::bad_input(format!(
            "unknown or malformed control request \"{}\": {e}",
            shorten(line)
        ))
    })
}

/// The response on `line`, as the client reads it.
pub fn decode_response(line: &str) -> Result<Response, Error> {
    serde_json::from_str(line.trim_end()).map_err(|e| {
        Error::internal(format!(
            "the server's answer \"{}\" is not understood: {e}",
            shorten(line.trim_end())
        ))
    })
}

/// At most 80 characters of `text`, control characters shown as `?`, for
/// quoting a peer's bytes in a sentence.
fn shorten(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 80 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::queue::QueueId;
    use crate::admin::ErrorKind;

    #[test]
    fn every_request_survives_the_line() {
        let id = QueueId::parse("A1B2").unwrap();
        for request in [
            Request::Ping,
            Request::Status,
            Request::Reload,
            Request::Unban {
                address: "2001:db8::1".parse().unwrap(),
            },
            Request::Queue(QueueOp::List),
            Request::Queue(QueueOp::Show { id: id.clone() }),
            Request::Queue(QueueOp::Flush),
            Request::Queue(QueueOp::Delete { id: id.clone() }),
            Request::Queue(QueueOp::DeleteAll),
            Request::Queue(QueueOp::Hold { id: id.clone() }),
            Request::Queue(QueueOp::Release { id }),
        ] {
            let line = encode(&request);
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(decode_request(&line), Ok(request));
        }
    }

    #[test]
    fn the_old_text_verbs_and_garbage_are_bad_input_naming_them() {
        for line in ["STATUS", "RELOAD\n", "", "{\"op\":1}", "\u{1b}[2J"] {
            let e = decode_request(line).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadInput, "{line:?}");
            assert!(e
                .message
                .starts_with("unknown or malformed control request"));
        }
        let e = decode_request("STATUS").unwrap_err();
        assert!(e.message.contains("\"STATUS\""), "{}", e.message);
        let e = decode_request("\u{1b}[2J").unwrap_err();
        assert!(e.message.contains("\"?[2J\""), "{}", e.message);
    }

    #[test]
    fn an_unknown_request_is_named() {
        let e = decode_request("\"shutdown\"").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput);
        assert!(e.message.contains("shutdown"), "{}", e.message);
    }

    #[test]
    fn a_bad_argument_is_refused_at_the_line() {
        let e = decode_request(r#"{"unban":{"address":"not-an-ip"}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput);
        let e = decode_request(r#"{"queue":{"show":{"id":"../../etc/passwd"}}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput);
        assert!(e.message.contains("is not a queue id"), "{}", e.message);
        let e = decode_request(r#"{"unban":{"address":"::1","extra":1}}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput);
    }

    #[test]
    fn a_long_line_is_quoted_short() {
        let e = decode_request(&"x".repeat(10_000)).unwrap_err();
        assert!(e.message.len() < 400, "{}", e.message);
    }

    #[test]
    fn responses_carry_the_reply_or_the_typed_error() {
        for response in [
            Response::Ok(Reply::Pong),
            Response::Ok(Reply::Unbanned("ban on 192.0.2.1 lifted".into())),
            Response::Ok(Reply::Reloaded(ReloadReport {
                lines: vec!["changed: nothing".into()],
            })),
            Response::Err(Error::not_found("no message A1 in the queue")),
        ] {
            assert_eq!(decode_response(&encode(&response)), Ok(response));
        }
        let e = decode_response("OK\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
    }
}
