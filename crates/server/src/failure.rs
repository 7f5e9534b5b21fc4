//! Why a command failed, with its exit code: `serve` and the command line share it.

/// A failure with its exit code: 1 runtime, 2 bad input.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    /// Stdout was closed by its reader (`| head`): end quietly, exit 0.
    pub fn closed_pipe() -> Failure {
        Failure {
            code: 0,
            message: String::new(),
        }
    }
}
