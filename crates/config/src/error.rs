//! Why a configuration was refused: one sentence naming the file, the key and
//! the offending value.

use std::fmt;

/// A configuration that cannot be loaded. Every variant displays as one
/// sentence naming the offending key and value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {file}: {reason}")]
    Read {
        /// The file, as given.
        file: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is not TOML.
    #[error("{file} is not valid TOML at {location}: {reason}")]
    Syntax {
        /// The file, as given.
        file: String,
        /// `line L, column C`.
        location: String,
        /// What the parser expected, on one line.
        reason: String,
    },
    /// A key that Portcullis does not know.
    #[error("unknown key \"{key}\" in {file}{}", DidYouMean(suggestion.as_deref()))]
    UnknownKey {
        /// The file, as given.
        file: String,
        /// The dotted key, e.g. `relay.alow`.
        key: String,
        /// The closest known key, if it looks like a typo of one.
        suggestion: Option<String>,
    },
    /// A value of the wrong type or out of range.
    #[error("invalid {key} {value} in {file}: {reason}")]
    Invalid {
        /// The file, as given.
        file: String,
        /// The dotted key.
        key: String,
        /// The offending value as written (strings quoted).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key that only makes sense together with another one.
    #[error("{key} {value} in {file} needs {needs} to be set as well")]
    Incomplete {
        /// The file, as given.
        file: String,
        /// The key that is set.
        key: String,
        /// Its value, quoted.
        value: String,
        /// The key that is missing.
        needs: String,
    },
}

/// Renders ` (did you mean "x"?)` or nothing.
pub(crate) struct DidYouMean<'a>(pub(crate) Option<&'a str>);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (did you mean \"{s}\"?)"),
            None => Ok(()),
        }
    }
}

/// A string as it appears in error messages: double-quoted, escaped.
pub(crate) fn quote(s: &str) -> String {
    format!("\"{}\"", s.escape_debug())
}

/// A TOML value as it appears in error messages: strings quoted, the rest as
/// written in TOML.
pub(crate) fn literal(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => quote(s),
        toml::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", inner.join(", "))
        }
        toml::Value::Table(_) => "(a table)".to_string(),
        other => other.to_string(),
    }
}
