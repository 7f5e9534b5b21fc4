//! Reading `portcullis.toml`: TOML text → a checked table (known keys of the
//! right types, or one sentence saying which key is wrong) → the raw serde
//! structs → [`validate`](super::validate::validate) → [`Config`].

use std::path::Path;

use serde::Deserialize;

use super::big_arrays;
use super::error::{literal, ConfigError};
use super::keys::{self, KeyInfo, KeyKind, ALIASES};
use super::raw::RawConfig;
use super::validate::validate;
use super::values::parse_duration;
use super::Config;

impl Config {
    /// Reads and validates the file at `path`. Relative paths inside it are
    /// resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Config::from_str(&text, path)
    }

    /// Validates `text` as if it had been read from `path` (which names the
    /// file in errors and anchors relative paths).
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let raw = parse_raw(text, &file)?;
        validate(raw, path, &file)
    }

    /// The configuration of an empty file at `path`: every key at its default.
    pub fn defaults(path: &Path) -> Config {
        let file = path.display().to_string();
        // Invariant: validation of an empty file only fails when the system
        // host name is invalid, and `system_hostname` never returns one.
        validate(RawConfig::default(), path, &file).unwrap_or_else(|e| {
            unreachable!("the defaults must validate: {e}");
        })
    }
}

/// The data directory named by a file that no longer loads, found by a
/// lenient scan for a top-level `data_dir = "..."` line (the default when
/// there is none): so the admin commands can still reach the running server
/// and let it say why it rejects the file. None if the file is unreadable.
pub fn data_dir_of_broken_file(path: &Path) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let base = path.parent().unwrap_or(Path::new("."));
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            break;
        }
        if let Some(rest) = line.strip_prefix("data_dir") {
            if let Some(value) = rest.trim_start().strip_prefix('=') {
                let value = value.trim();
                let quoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.split('"').next())
                    .or_else(|| value.strip_prefix('\'').and_then(|v| v.split('\'').next()))?;
                return Some(base.join(quoted));
            }
        }
    }
    Some(base.join("portcullis-data"))
}

/// Parses `text` into the raw structs after checking every key and type.
/// A long array of plain strings (a `relay.allow` of a million entries) is
/// read beside the parser and put straight into its struct, without a TOML
/// value per string; anything unusual, or any error, takes the parser's
/// path, so every error is the parser's own sentence.
pub(crate) fn parse_raw(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    if let Some((table, arrays)) = big_arrays::cut_out(text) {
        if let Ok(mut raw) = checked_raw(table, file) {
            let mut arrays: Vec<Option<Vec<String>>> = arrays.into_iter().map(Some).collect();
            let taken_once = raw
                .string_lists_mut()
                .into_iter()
                .all(|list| big_arrays::take_marked(list, &mut arrays));
            // Each array must have come back to a list, exactly once.
            if taken_once && arrays.iter().all(Option::is_none) {
                return Ok(raw);
            }
        }
    }
    checked_raw(parse_table(text, file)?, file)
}

/// The raw structs of a parsed table, after checking every key and type.
fn checked_raw(mut table: toml::Table, file: &str) -> Result<RawConfig, ConfigError> {
    check_structure(&table, file)?;
    durations_to_numbers(&mut table, file)?;
    RawConfig::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        location: "top level".to_string(),
        reason: one_line(e.message()),
    })
}

/// Parses `text` as TOML, turning a syntax error into one sentence with its
/// line and column. Long arrays of plain strings take a fast path.
pub(crate) fn parse_table(text: &str, file: &str) -> Result<toml::Table, ConfigError> {
    if let Some(table) = big_arrays::parse(text) {
        return Ok(table);
    }
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            location: e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or_else(|| "an unknown position".to_string()),
            reason: one_line(e.message()),
        })
}

/// Refuses unknown keys (with the closest known key as a suggestion) and
/// values of the wrong type, naming the dotted key.
pub(crate) fn check_structure(root: &toml::Table, file: &str) -> Result<(), ConfigError> {
    for (name, value) in root {
        if let Some(info) = keys::lookup(name).filter(|k| k.section().is_none()) {
            check_type(info, name, value, file)?;
        } else if keys::SECTIONS.contains(&name.as_str()) {
            let toml::Value::Table(section) = value else {
                return Err(invalid(
                    file,
                    name,
                    value,
                    format!("expected a table ([{name}])"),
                ));
            };
            for (key, value) in section {
                let dotted = format!("{name}.{key}");
                match keys::lookup(&dotted) {
                    Some(info) => check_type(info, &dotted, value, file)?,
                    None => return Err(unknown(file, &dotted)),
                }
            }
        } else {
            // An unknown section: name its first key if that is a typo of a
            // known key (`[relai] allow` → relay.allow), else the section.
            let first = match value {
                toml::Value::Table(t) => t.keys().next().map(|k| format!("{name}.{k}")),
                _ => None,
            };
            return Err(match first {
                Some(dotted) if keys::suggest(&dotted).is_some() => unknown(file, &dotted),
                _ => unknown(file, name),
            });
        }
    }
    Ok(())
}

/// Replaces each duration written with a unit (`"5d"`) by the number the
/// raw structs take (seconds, or milliseconds for `_ms` keys).
fn durations_to_numbers(root: &mut toml::Table, file: &str) -> Result<(), ConfigError> {
    for info in keys::KEYS.iter().filter(|k| k.kind == KeyKind::Duration) {
        let (section, name) = info.key.split_once('.').unwrap_or(("", info.key));
        let holder = if section.is_empty() {
            Some(&mut *root)
        } else {
            root.get_mut(section).and_then(toml::Value::as_table_mut)
        };
        let Some(value) = holder.and_then(|h| h.get_mut(name)) else {
            continue;
        };
        if let toml::Value::String(text) = value {
            let n = parse_duration(text, name.ends_with("_ms"))
                .map_err(|reason| invalid(file, info.key, value, reason))?;
            *value = toml::Value::Integer(n);
        }
    }
    Ok(())
}

/// Checks that `value` has the type the registry gives `key`.
fn check_type(
    info: &KeyInfo,
    key: &str,
    value: &toml::Value,
    file: &str,
) -> Result<(), ConfigError> {
    let ok = match (info.kind, value) {
        (KeyKind::String, toml::Value::String(_))
        | (KeyKind::Bool, toml::Value::Boolean(_))
        | (KeyKind::Integer, toml::Value::Integer(_))
        | (KeyKind::Duration, toml::Value::Integer(_) | toml::Value::String(_)) => true,
        // An alias may name its only target without brackets.
        (KeyKind::List, toml::Value::String(_)) => info.section() == Some(ALIASES),
        (KeyKind::List, toml::Value::Array(items)) => {
            if let Some(bad) = items.iter().find(|v| !v.is_str()) {
                return Err(invalid(file, key, bad, "expected a list of strings"));
            }
            true
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(file, key, value, info.kind.expected()))
    }
}

fn invalid(file: &str, key: &str, value: &toml::Value, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_string(),
        key: key.to_string(),
        value: literal(value),
        reason: reason.into(),
    }
}

fn unknown(file: &str, key: &str) -> ConfigError {
    ConfigError::UnknownKey {
        file: file.to_string(),
        key: key.to_string(),
        suggestion: keys::suggest(key).map(str::to_string),
    }
}

/// `line L, column C` (1-based, columns in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

/// A parser message (which may span lines) on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The largest char boundary at or below `index` (`str::floor_char_boundary`
/// is not stable yet).
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut i = index.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}
