//! The admin API's one error type: a kind (what went wrong, for exit codes
//! now and HTTP statuses later) and one sentence naming the offending value.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure an admin operation met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong: a malformed value, an unknown key, a
    /// configuration the server would refuse.
    BadInput,
    /// The request names something that does not exist (a queued message).
    NotFound,
    /// The request is well formed but the state refuses it (a reload of a
    /// file the server rejects).
    Conflict,
    /// The server the operation needs is not running or does not answer.
    Unavailable,
    /// Anything else: an I/O error, a broken file.
    Internal,
}

impl ErrorKind {
    /// The command line's exit code: 2 for bad input, 1 for every other failure.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::BadInput => 2,
            ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::Unavailable
            | ErrorKind::Internal => 1,
        }
    }

    /// The HTTP status of the JSON API.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadInput => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// A failed admin operation: its kind and one sentence for the admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// One sentence naming the offending value.
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// [`ErrorKind::BadInput`].
    pub fn bad_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadInput, message)
    }

    /// [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    /// [`ErrorKind::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    /// [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code_and_http_status() {
        let table = [
            (ErrorKind::BadInput, 2, 400),
            (ErrorKind::NotFound, 1, 404),
            (ErrorKind::Conflict, 1, 409),
            (ErrorKind::Unavailable, 1, 503),
            (ErrorKind::Internal, 1, 500),
        ];
        for (kind, code, status) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
            assert_eq!(kind.http_status(), status, "{kind:?}");
        }
    }

    #[test]
    fn the_message_is_the_display() {
        let e = Error::not_found("no message A1 in the queue");
        assert_eq!(e.to_string(), "no message A1 in the queue");
    }

    #[test]
    fn an_error_serializes_as_kind_and_message() {
        let json = serde_json::to_string(&Error::conflict("reload rejected")).unwrap();
        assert_eq!(json, r#"{"kind":"conflict","message":"reload rejected"}"#);
    }
}
