//! How a command ends: its exit code and one sentence for stderr. An
//! admin API error becomes one with the exit code of its kind.

use portcullis_server::admin;

/// A failure with its exit code: 1 runtime, 2 bad input (0: a closed pipe).
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub(crate) fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    pub(crate) fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// Stdout was closed by its reader (`| head`): end quietly, exit 0.
    pub(crate) fn closed_pipe() -> Failure {
        Failure {
            code: 0,
            message: String::new(),
        }
    }
}

impl From<admin::Error> for Failure {
    fn from(e: admin::Error) -> Failure {
        Failure {
            code: e.kind.exit_code(),
            message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_error_becomes_the_failure_with_the_code_of_its_kind() {
        let f: Failure = admin::Error::bad_input("\"x\" is not a key").into();
        assert_eq!((f.code, f.message.as_str()), (2, "\"x\" is not a key"));
        let f: Failure = admin::Error::not_found("no message A1 in the queue").into();
        assert_eq!(f.code, 1);
        let f: Failure = admin::Error::conflict("reload rejected").into();
        assert_eq!(f.code, 1);
    }
}
