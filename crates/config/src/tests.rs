//! Tests of the configuration model: each file reads as a specification of
//! one part (loading and its error sentences, defaults, `config read`,
//! `config set/add/remove/unset`, atomic writes).

use std::path::Path;

use super::{Config, ConfigError};

mod auth_throttle;
mod defaults;
mod durations;
mod edit;
mod limits;
mod load;
mod operations;
mod outbound;
mod read;
mod write;

/// Where the test configurations pretend to live.
const PATH: &str = "/etc/portcullis/portcullis.toml";

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, Path::new(PATH))
}

/// The one-sentence error for `text`.
fn error(text: &str) -> String {
    match load(text) {
        Ok(cfg) => panic!("expected an error for {text:?}, loaded {cfg:?}"),
        Err(e) => e.to_string(),
    }
}
