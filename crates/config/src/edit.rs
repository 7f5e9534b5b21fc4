//! `portcullis config set|add|remove|unset`: one change applied to the text
//! of `portcullis.toml` with toml_edit, so the admin's comments, key order and
//! layout survive; then the whole result is validated as the server would
//! load it, and every `relay.allow` entry must parse. On any error nothing is
//! returned to write: the file stays as it was.
//!
//! `add` and `remove` on a list key the file does not set start from the
//! key's default, because that is the list `config read` shows: `config add
//! relay.allow 10.0.0.0/8` on a file without `relay.allow` writes
//! `allow = ["127.0.0.1", "::1", "10.0.0.0/8"]`. Adding a value the list
//! already holds, or removing one it does not hold, is an error naming it.
//! `unset` of a key the file does not set changes nothing and succeeds.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use super::arrays::{array_like, push_styled, remove_styled};
use super::defaults::{append_table, default_list, system_hostname};
use super::error::{quote, ConfigError, DidYouMean};
use super::keys::{self, KeyInfo, KeyKind};
use super::load::parse_table;
use super::read::FILE_NAME;
use super::values::parse_domain;
use super::Config;

/// One change to the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditOp {
    /// `config set KEY VALUE...`: replace the value (one value for a scalar
    /// key, any number for a list key).
    Set(String, Vec<String>),
    /// `config add KEY VALUE...`: append to a list key.
    Add(String, Vec<String>),
    /// `config remove KEY VALUE...`: remove from a list key.
    Remove(String, Vec<String>),
    /// `config unset KEY`: remove the key from the file (back to its default).
    Unset(String),
}

/// Why an edit was refused; displays as one sentence naming the key or value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The key is not in the registry.
    #[error("unknown key \"{key}\"{}", DidYouMean(suggestion.as_deref()))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The closest known key, if it looks like a typo of one.
        suggestion: Option<String>,
    },
    /// A section name was given where a key is needed.
    #[error("\"{key}\" is a table, not a key: name one of its keys, e.g. \"{example}\"")]
    Table {
        /// The section name.
        key: String,
        /// A key of that section.
        example: String,
    },
    /// A scalar key given zero or several values.
    #[error("{key} takes exactly one value, not {count}")]
    Arity {
        /// The key.
        key: String,
        /// How many values were given.
        count: usize,
    },
    /// `add` or `remove` without values.
    #[error("{key} needs at least one value to {verb}")]
    NoValues {
        /// The key.
        key: String,
        /// `add` or `remove`.
        verb: &'static str,
    },
    /// A value that does not have the key's type.
    #[error("invalid {key} {value}: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value, quoted.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// `add` or `remove` on a key that is not a list.
    #[error("{key} is not a list: use `config set {key} VALUE`")]
    NotAList {
        /// The key.
        key: String,
    },
    /// `add` of a value the list already holds.
    #[error("{key} already contains {value}")]
    AlreadyPresent {
        /// The key.
        key: String,
        /// The value, quoted.
        value: String,
    },
    /// `remove` of a value the list does not hold.
    #[error("{key} does not contain {value}")]
    NotPresent {
        /// The key.
        key: String,
        /// The value, quoted.
        value: String,
    },
    /// A `relay.allow` entry that the relay module cannot parse.
    #[error("invalid relay.allow entry {entry}: {reason}")]
    RelayEntry {
        /// The entry, quoted.
        entry: String,
        /// Why it is malformed.
        reason: String,
    },
    /// The current file cannot be edited, or the result would not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Applies `op` to `text` and validates the result; messages name
/// `portcullis.toml`. See [`edit_at`].
pub fn edit(text: &str, op: EditOp) -> Result<String, EditError> {
    edit_at(text, op, Path::new(FILE_NAME))
}

/// Applies `op` to `text`, the content of the file at `path` (which names
/// the file in messages and anchors relative paths during validation), and
/// returns the new text once it passes [`validate_edited`].
pub fn edit_at(text: &str, op: EditOp, path: &Path) -> Result<String, EditError> {
    let file = path.display().to_string();
    // The toml crate's parser gives the same one-sentence syntax error as a load.
    parse_table(text, &file)?;
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Syntax {
                file: file.clone(),
                location: "an unknown position".to_string(),
                reason: e.message().to_string(),
            })?;

    let (key, values) = match &op {
        EditOp::Set(k, v) | EditOp::Add(k, v) | EditOp::Remove(k, v) => (k.as_str(), v.as_slice()),
        EditOp::Unset(k) => (k.as_str(), &[][..]),
    };
    let mut target = Target::resolve(key)?;
    let existed = target
        .existing_holder(&mut doc, &file)?
        .is_some_and(|holder| holder.contains_key(&target.name));

    match &op {
        EditOp::Set(..) => {
            let holder = target.holder(&mut doc, &file)?;
            let new = if target.info.kind.is_list() {
                let like = holder.get(&target.name).and_then(Item::as_array);
                Value::Array(array_like(values, like))
            } else {
                scalar(&target, values)?
            };
            replace_value(holder, &target.name, new);
        }
        EditOp::Add(..) => {
            target.require_list(values, "add")?;
            let hostname = effective_hostname(&doc);
            let holder = target.holder(&mut doc, &file)?;
            let current = target.current_list(holder, &hostname, &file)?;
            for (i, v) in values.iter().enumerate() {
                if current.contains(v) || values[..i].contains(v) {
                    return Err(EditError::AlreadyPresent {
                        key: target.key.clone(),
                        value: quote(v),
                    });
                }
            }
            match holder.get_mut(&target.name).and_then(Item::as_array_mut) {
                Some(array) => values.iter().for_each(|v| push_styled(array, v)),
                None => {
                    let all: Vec<String> =
                        current.into_iter().chain(values.iter().cloned()).collect();
                    replace_value(holder, &target.name, Value::Array(array_like(&all, None)));
                }
            }
        }
        EditOp::Remove(..) => {
            target.require_list(values, "remove")?;
            let hostname = effective_hostname(&doc);
            let holder = target.holder(&mut doc, &file)?;
            let current = target.current_list(holder, &hostname, &file)?;
            if let Some(missing) = values.iter().find(|v| !current.contains(v)) {
                return Err(EditError::NotPresent {
                    key: target.key.clone(),
                    value: quote(missing),
                });
            }
            match holder.get_mut(&target.name).and_then(Item::as_array_mut) {
                Some(array) => loop {
                    let found = array
                        .iter()
                        .position(|e| e.as_str().is_some_and(|s| values.iter().any(|v| v == s)));
                    let Some(i) = found else { break };
                    remove_styled(array, i);
                },
                None => {
                    let rest: Vec<String> = current
                        .into_iter()
                        .filter(|c| !values.contains(c))
                        .collect();
                    replace_value(holder, &target.name, Value::Array(array_like(&rest, None)));
                }
            }
        }
        EditOp::Unset(..) => unset(&mut doc, &mut target, &file)?,
    }
    if !existed && !matches!(op, EditOp::Unset(..)) {
        adopt_section_comments(&mut doc, &target);
    }

    let out = doc.to_string();
    validate_edited(&out, path)?;
    Ok(out)
}

/// Validates an edited file as the server would load it, and also refuses
/// any `relay.allow` entry the relay module cannot parse (which a load only
/// skips and logs, docs/reference.md §4): an admin typing a new entry must hear about a
/// typo now, not find it in a log after the reload.
pub fn validate_edited(text: &str, path: &Path) -> Result<Config, EditError> {
    let cfg = Config::from_str(text, path)?;
    for entry in cfg.relay.allow.iter() {
        if let Err(e) = portcullis_relay::parse_entry(entry) {
            return Err(EditError::RelayEntry {
                entry: quote(&e.raw),
                reason: e.kind.to_string(),
            });
        }
    }
    Ok(cfg)
}

/// A registry key located in the document: its section and its name there.
struct Target {
    /// The key as the admin wrote it (alias names and route domains lower-cased).
    key: String,
    info: &'static KeyInfo,
    section: Option<&'static str>,
    /// The key's name inside its section.
    name: String,
}

impl Target {
    fn resolve(key: &str) -> Result<Target, EditError> {
        if let Some(section) = keys::SECTIONS.iter().find(|s| **s == key) {
            let example = keys::KEYS
                .iter()
                .find(|k| k.section() == Some(section))
                .map(|k| k.key)
                .unwrap_or(section);
            return Err(EditError::Table {
                key: key.to_string(),
                example: example.to_string(),
            });
        }
        let Some(info) = keys::lookup(key) else {
            return Err(EditError::UnknownKey {
                key: key.to_string(),
                suggestion: keys::suggest(key).map(str::to_string),
            });
        };
        let section = info.section();
        let (key, name) = match key.split_once('.') {
            // Alias names and route domains are case-insensitive.
            Some((s, rest)) if info.is_table_entry() => {
                let rest = rest.to_lowercase();
                (format!("{s}.{rest}"), rest)
            }
            Some((_, rest)) => (key.to_string(), rest.to_string()),
            None => (key.to_string(), key.to_string()),
        };
        Ok(Target {
            key,
            info,
            section,
            name,
        })
    }

    /// The table holding the key, created when missing.
    fn holder<'d>(
        &mut self,
        doc: &'d mut DocumentMut,
        file: &str,
    ) -> Result<&'d mut dyn TableLike, EditError> {
        if let Some(section) = self.section {
            if !doc.contains_key(section) {
                append_table(doc, section, Table::new());
            }
        }
        self.existing_holder(doc, file)?.ok_or_else(|| {
            // Invariant: the section was inserted just above.
            unreachable!("section {:?} exists", self.section)
        })
    }

    /// The table holding the key, if the file has it. For aliases and routes
    /// `name` becomes the entry as the file spells it.
    fn existing_holder<'d>(
        &mut self,
        doc: &'d mut DocumentMut,
        file: &str,
    ) -> Result<Option<&'d mut dyn TableLike>, EditError> {
        let Some(section) = self.section else {
            return Ok(Some(doc.as_table_mut()));
        };
        let Some(item) = doc.get_mut(section) else {
            return Ok(None);
        };
        let written = item.to_string().trim().to_string();
        let Some(holder) = item.as_table_like_mut() else {
            return Err(ConfigError::Invalid {
                file: file.to_string(),
                key: section.to_string(),
                value: written,
                reason: format!("expected a table ([{section}])"),
            }
            .into());
        };
        if self.info.is_table_entry() {
            if let Some((spelled, _)) = holder.iter().find(|(k, _)| k.to_lowercase() == self.name) {
                self.name = spelled.to_string();
            }
        }
        Ok(Some(holder))
    }

    fn require_list(&self, values: &[String], verb: &'static str) -> Result<(), EditError> {
        if !self.info.kind.is_list() {
            return Err(EditError::NotAList {
                key: self.key.clone(),
            });
        }
        if values.is_empty() {
            return Err(EditError::NoValues {
                key: self.key.clone(),
                verb,
            });
        }
        Ok(())
    }

    /// The list the key holds now: as written, or its default when absent.
    fn current_list(
        &self,
        holder: &dyn TableLike,
        hostname: &str,
        file: &str,
    ) -> Result<Vec<String>, EditError> {
        let bad = |value: String| -> EditError {
            ConfigError::Invalid {
                file: file.to_string(),
                key: self.key.clone(),
                value,
                reason: KeyKind::List.expected().to_string(),
            }
            .into()
        };
        match holder.get(&self.name) {
            None => Ok(default_list(self.info.key, hostname)),
            Some(item) => match item.as_value() {
                Some(Value::String(s)) => Ok(vec![s.value().clone()]),
                Some(Value::Array(array)) => array
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad(v.to_string().trim().to_string()))
                    })
                    .collect(),
                _ => Err(bad(item.to_string().trim().to_string())),
            },
        }
    }
}

/// The one value of a scalar key, typed.
fn scalar(target: &Target, values: &[String]) -> Result<Value, EditError> {
    let [value] = values else {
        return Err(EditError::Arity {
            key: target.key.clone(),
            count: values.len(),
        });
    };
    let bad = || EditError::BadValue {
        key: target.key.clone(),
        value: quote(value),
        reason: target.info.kind.expected().to_string(),
    };
    Ok(match target.info.kind {
        KeyKind::Bool => match value.as_str() {
            "true" => Value::from(true),
            "false" => Value::from(false),
            _ => return Err(bad()),
        },
        KeyKind::Integer => Value::from(value.trim().parse::<i64>().map_err(|_| bad())?),
        // Written as given ("5d" stays "5d"); a bare number as a number.
        KeyKind::Duration => match value.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => {
                let in_ms = target.key.ends_with("_ms");
                super::values::parse_duration(value, in_ms).map_err(|reason| {
                    EditError::BadValue {
                        key: target.key.clone(),
                        value: quote(value),
                        reason,
                    }
                })?;
                Value::from(value.trim())
            }
        },
        KeyKind::String | KeyKind::List => Value::from(value.as_str()),
    })
}

/// Puts `new` under `name`, keeping the old value's surrounding white space
/// and end-of-line comment.
fn replace_value(holder: &mut dyn TableLike, name: &str, mut new: Value) {
    match holder.get_mut(name) {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *new.decor_mut() = decor;
            *old = new;
        }
        Some(other) => *other = Item::Value(new),
        None => {
            holder.insert(name, Item::Value(new));
        }
    }
}

/// Removes the key. Comment lines written above it are not the tool's to
/// delete: they move to the next key, or above the next table.
fn unset(doc: &mut DocumentMut, target: &mut Target, file: &str) -> Result<(), EditError> {
    let position = match target.section {
        None => 0,
        Some(s) => match doc.get(s).and_then(Item::as_table) {
            Some(t) => t.position().unwrap_or(0),
            None => 0,
        },
    };
    let Some(holder) = target.existing_holder(doc, file)? else {
        return Ok(());
    };
    let Some(prefix) = holder.key(&target.name).map(|k| {
        k.leaf_decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string()
    }) else {
        return Ok(());
    };
    let names: Vec<String> = holder.iter().map(|(k, _)| k.to_string()).collect();
    holder.remove(&target.name);
    if !prefix.contains('#') {
        return Ok(());
    }
    let next_key = names
        .iter()
        .skip_while(|n| **n != target.name)
        .skip(1)
        .find(|n| {
            holder
                .get(n)
                .is_some_and(|i| !i.is_table() && !i.is_array_of_tables())
        });
    if let Some(next) = next_key {
        if let Some(mut key) = holder.key_mut(next) {
            let old = key
                .leaf_decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string();
            key.leaf_decor_mut().set_prefix(format!("{prefix}{old}"));
        }
        return Ok(());
    }
    // Last key of its table: the comment goes above the next table header,
    // or to the end of the file.
    let next_table = doc
        .iter_mut()
        .filter_map(|(_, item)| item.as_table_mut())
        .filter(|t| t.position().is_some_and(|p| p > position))
        .min_by_key(|t| t.position());
    match next_table {
        Some(table) => {
            let old = table
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string();
            table.decor_mut().set_prefix(format!("{prefix}{old}"));
        }
        None => {
            let old = doc.trailing().as_str().unwrap_or("").to_string();
            doc.set_trailing(format!("{prefix}{old}"));
        }
    }
    Ok(())
}

/// A key added to a table goes after the table's last line, and the comment
/// lines ending the table (often a commented-out example of the very key) are
/// part of the table: they stay above the new key, not below it. toml_edit
/// keeps those lines in front of the *next* table header (or at the end of
/// the file); a blank line separates them from comments about that header.
fn adopt_section_comments(doc: &mut DocumentMut, target: &Target) {
    let position = match target.section {
        None => None,
        Some(s) => match doc.get(s).and_then(Item::as_table) {
            Some(t) if !t.is_dotted() => t.position(),
            _ => return,
        },
    };
    let next_table = doc
        .iter()
        .filter_map(|(name, item)| item.as_table().map(|t| (name.to_string(), t)))
        .filter(|(_, t)| match (t.position(), position) {
            (Some(p), Some(own)) => p > own,
            (Some(_), None) => true,
            (None, _) => false,
        })
        .min_by_key(|(_, t)| t.position())
        .map(|(name, _)| name);
    let text = match &next_table {
        Some(name) => doc
            .get(name)
            .and_then(Item::as_table)
            .and_then(|t| t.decor().prefix())
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string(),
        None => doc.trailing().as_str().unwrap_or("").to_string(),
    };
    let split = match text.rfind("\n\n") {
        Some(i) => i + 1,
        // Without a blank line, comments above a header are about the header;
        // at the end of the file they are all the last table's.
        None if next_table.is_none() => text.len(),
        None => return,
    };
    let (ours, theirs) = text.split_at(split);
    if !ours.contains('#') {
        return;
    }
    let (ours, theirs) = (ours.to_string(), theirs.to_string());
    match &next_table {
        Some(name) => {
            if let Some(t) = doc.get_mut(name).and_then(Item::as_table_mut) {
                t.decor_mut().set_prefix(theirs);
            }
        }
        None => doc.set_trailing(theirs),
    }
    let holder = match target.section {
        None => Some(doc.as_table_mut()),
        Some(s) => doc.get_mut(s).and_then(Item::as_table_mut),
    };
    if let Some(mut key) = holder.and_then(|h| h.key_mut(&target.name)) {
        key.leaf_decor_mut().set_prefix(ours);
    }
}

/// The host name `local_domains` defaults to for this document.
fn effective_hostname(doc: &DocumentMut) -> String {
    doc.get("hostname")
        .and_then(Item::as_str)
        .and_then(|h| parse_domain(h).ok())
        .unwrap_or_else(system_hostname)
}
